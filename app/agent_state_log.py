"""Agent state periods for the state-time report: each AgentStateChanged closes the agent's open period
and opens the next one. Written in batches off the event path, like the call history."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, update

from app.call_history import RETRY_MAX_S, database_unavailable
from core.db import Database
from core.directory import AgentDirectory
from core.models import AgentStateLog
from cti.events import AgentStateChanged

log = logging.getLogger(__name__)


class AgentStateLogWriter:
    def __init__(self, db: Database, directory: AgentDirectory, flush_s: float = 0.5) -> None:
        self.db = db
        self.directory = directory
        self.flush_s = flush_s
        self.queue: asyncio.Queue[AgentStateChanged] = asyncio.Queue()
        self.written = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def on_event(self, event: Any) -> None:
        if isinstance(event, AgentStateChanged):
            self._idle.clear()
            self.queue.put_nowait(event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-state-log")

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def drain(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            await asyncio.sleep(self.flush_s)
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            attempt = 0
            while True:
                try:
                    await self.write(batch)
                    break
                except Exception as exc:
                    if not database_unavailable(exc):
                        log.exception("agent state log: %d changes not written", len(batch))
                        break
                    if attempt == 0:  # the database is away or full: the changes wait for it, in order
                        log.warning("agent state log: %d changes wait for the database: %s", len(batch), exc)
                    attempt += 1
                    await asyncio.sleep(min(RETRY_MAX_S, 0.2 * 2 ** min(attempt - 1, 8)))
                    while not self.queue.empty():
                        batch.append(self.queue.get_nowait())
            if self.queue.empty():
                self._idle.set()

    async def write(self, changes: list[AgentStateChanged]) -> int:
        """Two statements per batch, whatever its size: close each agent's open period at its first change,
        then insert the batch's periods, each closed by the next change of the same agent, the last open."""
        await self.directory.refresh_if_stale()
        by_user: dict[int, list[AgentStateChanged]] = {}
        for change in changes:
            agent = self.directory.get(change.agent)
            if agent is not None:  # else a phone nobody is signed up with
                by_user.setdefault(agent.user_id, []).append(change)
        if not by_user:
            return 0
        closes, periods = [], []
        for user_id, seq in by_user.items():
            starts = [datetime.fromtimestamp(c.since, UTC) for c in seq]
            closes.append({"uid": user_id, "at": starts[0]})
            ends = [*starts[1:], None]
            periods += [
                {
                    "user_id": user_id,
                    "state": c.state.value,
                    "reason": c.reason,
                    "started_at": at,
                    "ended_at": end,
                }
                for c, at, end in zip(seq, starts, ends, strict=True)
            ]
        async with self.db.session() as s:
            await s.execute(_CLOSE_OPEN, closes)
            await s.execute(_INSERT, periods)
            await s.commit()
        self.written += len(periods)
        return len(periods)


_T = AgentStateLog.__table__
_CLOSE_OPEN = (
    update(_T)
    .where(_T.c.user_id == bindparam("uid"), _T.c.ended_at.is_(None))
    .values(ended_at=bindparam("at"))
)
_INSERT = insert(_T)
