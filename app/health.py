"""What /healthz reports about the database: it answers a read (ping) and takes a write (the probe); and
about the cluster: other nodes on this database while the bus is off (ClusterCheck).

A database can answer SELECT 1 while refusing every write — a full disk, a SQLite file whose write lock
another process holds — and then every login fails while a read-only check says "ok". The probe rewrites
one heartbeat row in a transaction of its own, with a short lock wait instead of the sessions' 5 s, at most
once every `every_s` seconds: in between, and while one runs, /healthz reuses the last answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from core.db import Database
from core.models import HealthHeartbeat, utcnow

log = logging.getLogger(__name__)
PROBE_EVERY_S = 5.0
LOCK_WAIT_MS = 500  # a healthy database's writers hold the lock for milliseconds


class WriteProbe:
    def __init__(self, db: Database, every_s: float = PROBE_EVERY_S) -> None:
        self.db, self.every_s = db, every_s
        self._at = -float("inf")
        self._error: str | None = None
        self._running: asyncio.Task[str | None] | None = None

    async def error(self) -> str | None:
        """None when the database took a write within the last `every_s` seconds, else why not."""
        if time.monotonic() - self._at < self.every_s:
            return self._error
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().create_task(self._probe())
        return await asyncio.shield(self._running)

    async def _probe(self) -> str | None:
        try:
            await self._write()
            self._error = None
        except Exception as exc:  # any driver error is a health fact, not a crash
            self._error = f"writes fail: {type(exc).__name__}: {exc}".splitlines()[0][:300]
        self._at = time.monotonic()
        return self._error

    async def _write(self) -> None:
        is_sqlite = self.db.engine.dialect.name == "sqlite"
        insert = sqlite.insert if is_sqlite else postgresql.insert
        now = utcnow()
        upsert = (
            insert(HealthHeartbeat)
            .values(id=1, at=now)
            .on_conflict_do_update(index_elements=[HealthHeartbeat.id], set_={"at": now})
        )
        async with self.db.engine.connect() as conn:  # its transaction begins with the first statement
            if is_sqlite:  # this connection goes back to the pool: its own lock wait is put back after
                busy_timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
                await conn.exec_driver_sql(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
            else:
                await conn.exec_driver_sql(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}")
                await conn.exec_driver_sql(f"SET LOCAL statement_timeout = {4 * LOCK_WAIT_MS}")
            try:
                await conn.execute(upsert)
                await conn.commit()
            finally:
                if is_sqlite:
                    await conn.rollback()
                    await conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_timeout or 0)}")


BUS_OFF_WARNING = (
    "other nodes run on this database with PLATEAU_CLUSTER_BUS off: each node runs every PBX link as if "
    "alone (an AMI session per node on each PBX); set PLATEAU_CLUSTER_BUS=true on every node"
)


class ClusterCheck:
    """Other live nodes on this PostgreSQL database (their `node:` leases, read by core/leases.py): with the
    bus off, every node links to every PBX as if alone, and nothing else would say so. This only reports
    (an error logged on each change, a warning in /healthz); it does not lease a lone node's links, whose
    AMI link must not drop on a database blip. Not a 503: a load balancer would drop every node at once."""

    def __init__(self, bus: bool) -> None:
        self.bus = bus
        self.other_nodes: list[str] = []

    def nodes_changed(self, others: list[str]) -> None:
        before, self.other_nodes = self.other_nodes, list(others)
        if self.bus:
            return
        if others:
            log.error("cluster: %s (other nodes: %s)", BUS_OFF_WARNING, ", ".join(others))
        elif before:
            log.info("cluster: no other node on this database any more")

    def health(self) -> dict[str, Any]:
        warning = BUS_OFF_WARNING if self.other_nodes and not self.bus else None
        return {"bus": self.bus, "other_nodes": self.other_nodes, "warning": warning}


__all__ = ["BUS_OFF_WARNING", "ClusterCheck", "WriteProbe"]
