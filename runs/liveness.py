"""Is the process that started a run still alive? A run killed with SIGKILL (or a machine that lost
power) never writes its end, and would show as running forever.

A process is named by its owner string: host name, boot id and the process's start time (in clock
ticks since boot, /proc/PID/stat). A pid alone is not enough: pids are reused, and a new process with
the old pid would keep a dead run "running". Another host's runs (a database on a shared disk) cannot
be checked from here and are left alone.
"""

import os
import socket
from pathlib import Path

import pids

_SEP = "|"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """The process's start time since boot, or None when it does not exist; '' where /proc is not
    available (the owner then says only host and boot)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ')' may hold spaces


def owner(pid: int | None = None) -> str:
    """This process's (or ``pid``'s) owner string."""
    pid = os.getpid() if pid is None else pid
    return _SEP.join((socket.gethostname(), _boot_id(), _start_time(pid) or ""))


def alive(pid: int | None, owner_string: str | None) -> bool:
    """Whether the run's process may still be running. A run recorded without an owner was started
    before runs recorded one: its process is long gone."""
    if pid is None or not owner_string:
        return False
    host, boot, started = (owner_string.split(_SEP) + ["", ""])[:3]
    if host != socket.gethostname():
        return True  # another machine's process: not ours to judge
    if boot != _boot_id():
        return False  # the machine restarted since
    now = _start_time(pid)
    if now is None:
        return False
    if now == "" or started == "":  # no /proc: all we can ask is whether the pid exists
        return pids.exists(pid)
    return now == started
