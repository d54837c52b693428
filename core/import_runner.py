"""Which process runs an import, noted with its job, so that a later start-up can tell an import whose
process died (kill -9, a crash, a container's restart) from one still running beside it.

Shared by the call-list import's job rows (`dialer.list_import`) and the customer import's audit entries
(`app.customer_import`)."""

from __future__ import annotations

import os
import socket
from typing import Any


def this_runner() -> dict[str, Any]:
    """This process, as noted with an import it starts: host, pid and when the pid started."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_started(os.getpid())}


def process_started(pid: int) -> str | None:
    """When process `pid` started (boot id and start time from /proc), or None where there is no /proc:
    tells a process from a later one given the same pid, such as PID 1 of a restarted container."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        with open(f"/proc/{pid}/stat") as f:
            ticks = f.read().rsplit(")", 1)[1].split()[19]  # field 22 of proc(5), after the name
    except (OSError, IndexError):
        return None
    return f"{boot}/{ticks}"


def runner_gone(runner: dict[str, Any]) -> bool:
    """The process that ran this import was on this machine and is no more (a restart): it will never end."""
    pid, started = runner.get("pid"), runner.get("started")
    if runner.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False  # another node's import: its own progress says how it goes
    if pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # a living process of another user
    elif started is None:
        return False  # ours, between its creation and its first batch
    # that pid lives: the same process, unless it started at another time (the pid was given again)
    return started is not None and process_started(pid) not in (None, started)
