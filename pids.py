"""Does a process with this pid exist on this machine? The one answer to that question, asked by
``store.connection.recover`` (is the import that journalled this pid still publishing?) and by
``runs.liveness`` (where /proc cannot name a process by its start time). A leaf module, importing
nothing of ours, so the store and the runs can both ask it without importing each other.

A pid alone can be reused by a new process; callers that can tell a process by more than its pid
(``runs.liveness``) do so first, and fall back to this.
"""

import os


def exists(pid: int) -> bool:
    """Whether ``pid`` names a live process: signal 0 checks without sending anything. A process of
    another user (PermissionError) exists too."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
