"""Batches written one at a time, in order, while the next ones are parsed (imports).

The database digests batch n while the parser reads the following lines (two cores at work). Writes stay in
order, so each batch's duplicate checks see every earlier batch; the parser may run `ahead` batches in front
of the writer, so that neither side waits for the other's slower batches.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Coroutine
from typing import Any


class WriteChain:
    def __init__(self, ahead: int) -> None:
        self.ahead = ahead
        self._pending: collections.deque[asyncio.Task[None]] = collections.deque()

    async def put(self, write: Coroutine[Any, Any, None]) -> None:
        """Queue `write` after the earlier ones; returns once at most `ahead` writes are waiting. The first
        failure ends the chain (later writes do not run) and is raised here or by `drain`."""
        before = self._pending[-1] if self._pending else None
        self._pending.append(asyncio.create_task(_after(before, write)))
        while len(self._pending) > self.ahead:
            await self._next()

    async def drain(self) -> None:
        while self._pending:
            await self._next()

    async def _next(self) -> None:
        try:
            await self._pending.popleft()
        except BaseException:
            await self.settle()  # the writes chained after it fail alike: theirs is the same news
            raise

    async def settle(self) -> None:
        """After a failure elsewhere: let queued writes end (a COPY cut short breaks the connection), quietly,
        so that the transaction can be rolled back."""
        while self._pending:
            with contextlib.suppress(BaseException):
                await self._pending.popleft()


async def _after(before: asyncio.Task[None] | None, write: Coroutine[Any, Any, None]) -> None:
    if before is not None:
        try:
            await before
        except BaseException:
            write.close()  # never started: its batch is not written
            raise
    await write
