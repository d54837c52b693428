"""Agent state periods for the state-time report: each AgentStateChanged closes the agent's open period
and opens the next one. Written in batches off the event path, like the call history."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from app.db import Database
from app.directory import AgentDirectory
from app.models import AgentStateLog
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
            try:
                await self.write(batch)
            except Exception:
                log.exception("agent state log: %d changes not written", len(batch))
            if self.queue.empty():
                self._idle.set()

    async def write(self, changes: list[AgentStateChanged]) -> int:
        await self.directory.refresh_if_stale()
        n = 0
        async with self.db.session() as s:
            for change in changes:
                agent = self.directory.get(change.agent)
                if agent is None:
                    continue  # a phone nobody is signed up with
                at = datetime.fromtimestamp(change.since, UTC)
                await s.execute(
                    update(AgentStateLog)
                    .where(AgentStateLog.user_id == agent.user_id, AgentStateLog.ended_at.is_(None))
                    .values(ended_at=at)
                )
                s.add(
                    AgentStateLog(
                        user_id=agent.user_id, state=change.state.value, reason=change.reason, started_at=at
                    )
                )
                await s.flush()
                n += 1
            await s.commit()
        self.written += n
        return n
