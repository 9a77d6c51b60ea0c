"""Is the process that writes a run still alive? Host, pid and the process's start time.

A pid alone is not an identity: pids are reused (quickly, in containers). The start time of
the process (``/proc/<pid>/stat`` field 22, clock ticks since boot) pins it down on Linux;
elsewhere only the pid is compared.
"""

from __future__ import annotations

import os
import socket


def host() -> str:
    return socket.gethostname()


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the name ([0] state, [19] start time)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except OSError:
        return []
    return stat[stat.rfind(")") + 2:].split()  # the name may hold spaces and parentheses


def start_time(pid: int) -> str:
    """The start time of process ``pid`` as a string, "" when unknown."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


def identity() -> dict[str, str]:
    """This process: ``{"host", "pid", "pid_start"}``."""
    pid = os.getpid()
    return {"host": host(), "pid": str(pid), "pid_start": start_time(pid)}


def alive(ident: dict) -> bool | None:
    """True/False for a process on this host; None for another host (cannot be known here)."""
    if ident.get("host") != host():
        return None
    try:
        pid = int(ident.get("pid") or 0)
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _stat(pid)
    if fields and fields[0] in "ZX":  # a zombie: dead, not yet waited for by its parent
        return False
    started = ident.get("pid_start") or ""
    return not started or len(fields) <= 19 or fields[19] == started
