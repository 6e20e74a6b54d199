"""pids.exists, the one "is this process alive" check the store (a killed import's journal) and the
runs (a killed run, where /proc cannot tell a process by its start time) both ask."""

import os
import subprocess
import sys

import pids


def test_a_running_process_exists_and_a_reaped_one_does_not():
    assert pids.exists(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now (until the system reuses it)
    assert not pids.exists(child.pid)


def test_another_users_process_exists():
    """Signal 0 to a process of another user is refused (PermissionError) yet says it exists; pid 1
    is init, which an unprivileged user may not signal and root may."""
    assert pids.exists(1)
