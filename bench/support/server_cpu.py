"""CPU seconds of the PostgreSQL processes serving a bench database (a local server): beside the bench
process's own CPU, what a quiet machine needs, whatever the load a run shared the machine with."""

from __future__ import annotations

import os

from core.db import Database


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:  # not a local server (or gone)
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backends(db: Database) -> dict[int, float]:
    """CPU seconds used so far by each server process of the bench database (a local server)."""
    if db.engine.dialect.name != "postgresql":
        return {}
    async with db.engine.connect() as conn:
        pids = (
            await conn.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        return {pid: _cpu_seconds(pid) for pid in pids}


def used_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the server processes used between two `backends` readings."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())
