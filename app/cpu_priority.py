"""The service's CPU priority on a host it shares (`PLATEAU_CPU_NICE`).

A screen-pop has 25 ms from Asterisk's event to the agent's browser, and the service needs only a fifth of
a core for it; but on a small host shared with Asterisk and PostgreSQL, its loop can wait 100 ms and more
for a core at equal priority (bench/screenpop on 2 cores: run-queue waits of 40-110 ms, pop p99 45-160 ms
at nice 0, 21 ms at -5). Debian's own unit runs Asterisk at real-time priority (`asterisk -p`) for the same
reason. A lower nice gives the service a larger share when the cores are contended, and no more CPU than
it asks for.

With autogroups on (`kernel.sched_autogroup_enabled`), a process's nice only counts against the other
processes of its session; what weighs against other services is the session's nice
(`/proc/self/autogroup`, see sched(7)). Both are set. Neither may be lowered without CAP_SYS_NICE: the
service then runs on at its current priority and says so.
"""

from __future__ import annotations

import os
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")
AUTOGROUP_SWITCH = Path("/proc/sys/kernel/sched_autogroup_enabled")


def _autogroups_on() -> bool:
    try:
        return AUTOGROUP_SWITCH.read_text().strip() == "1" and AUTOGROUP.exists()
    except OSError:
        return False


def apply_cpu_nice(nice: int) -> list[str]:
    """Set this process's nice (and its session's, where autogroups are on); what failed, in words.

    Called before the service starts its threads, which inherit the process's nice."""
    if nice == 0:
        return []
    problems = []
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as exc:
        now = os.getpriority(os.PRIO_PROCESS, 0)
        problems.append(f"the process's nice stays {now} ({exc.strerror}; lowering it needs CAP_SYS_NICE)")
    if _autogroups_on():
        try:
            AUTOGROUP.write_text(str(nice))
        except OSError as exc:
            problems.append(f"the session's nice ({AUTOGROUP}) is unchanged ({exc.strerror})")
    return problems
