"""WebSocket hub: each connection gets a snapshot of what concerns its user, then the deltas it may see.

The hub knows nothing about calls: it forwards wire messages whose audience admits the connection's
principal. A slow browser never slows the others: each connection has its own bounded outbox, and one
that overflows is closed (it reconnects and resyncs from a fresh snapshot) instead of silently losing events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 1000
BATCH_MAX = 200
HEARTBEAT_S = 15.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is at the other end of a connection, as far as routing events goes."""

    user_id: int
    username: str
    role: str
    team_id: int | None = None
    sip_endpoint: str | None = None


class Audience(Protocol):
    def admits(self, who: Principal) -> bool: ...


class Publishable(Protocol):
    audience: Audience

    def to_wire(self) -> dict[str, Any]: ...


SnapshotFn = Callable[[Principal], Awaitable[list[dict[str, Any]]]]


@dataclass(eq=False)
class Connection:
    principal: Principal
    outbox: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))
    overflowed: bool = False
    id: int = 0


class Hub:
    def __init__(self, snapshot: SnapshotFn | None = None, heartbeat_s: float = HEARTBEAT_S) -> None:
        self._snapshot = snapshot
        self._heartbeat_s = heartbeat_s
        self._connections: set[Connection] = set()
        self._groups: dict[str, set[Connection]] = {}  # "role:…" and "ep:…" → connections, to skip scans
        self._ids = itertools.count(1)
        self.sent = 0
        self.overflows = 0

    def set_snapshot(self, snapshot: SnapshotFn) -> None:
        self._snapshot = snapshot

    @property
    def connections(self) -> int:
        return len(self._connections)

    def connected(self, who: Callable[[Principal], bool]) -> Iterable[Connection]:
        return [c for c in self._connections if who(c.principal)]

    def attach(self, principal: Principal) -> Connection:
        conn = Connection(principal, id=next(self._ids))
        self._connections.add(conn)
        for group in _groups_of(principal):
            self._groups.setdefault(group, set()).add(conn)
        return conn

    def detach(self, conn: Connection) -> None:
        self._connections.discard(conn)
        for group in _groups_of(conn.principal):
            members = self._groups.get(group)
            if members is not None:
                members.discard(conn)
                if not members:
                    del self._groups[group]

    def publish(self, event: Publishable) -> int:
        """Queue `event` for every connection its audience admits; returns how many."""
        text: str | None = None
        n = 0
        groups = getattr(event.audience, "groups", None)  # an audience may name the groups it can admit
        if groups is None:
            candidates: Iterable[Connection] = self._connections
        else:
            candidates = set().union(*(self._groups.get(g, ()) for g in groups()))
        for conn in candidates:
            if conn.overflowed or not event.audience.admits(conn.principal):
                continue
            if text is None:  # serialise once, only if someone may see it
                text = json.dumps(event.to_wire(), default=str, ensure_ascii=False)
            self._put(conn, text)
            n += 1
        return n

    def _put(self, conn: Connection, text: str) -> None:
        try:
            conn.outbox.put_nowait(text)
        except asyncio.QueueFull:
            conn.overflowed = True
            self.overflows += 1
            log.warning("ws: outbox full for %s, closing so it resyncs", conn.principal.username)

    async def serve(self, ws: WebSocket, principal: Principal) -> None:
        """Run one accepted connection until it closes."""
        conn = self.attach(principal)
        # Register before taking the snapshot: a delta that races the snapshot is sent after it, and
        # clients apply deltas idempotently (they carry ids/versions), so nothing falls in between.
        try:
            snapshot = await self._snapshot(principal) if self._snapshot else []
            await ws.send_text(
                json.dumps(
                    {"type": "snapshot", "at": time.time(), "items": snapshot},
                    default=str,
                    ensure_ascii=False,
                )
            )
            reader = asyncio.create_task(self._read(ws, conn))
            try:
                await self._write(ws, conn, reader)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                    await reader
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.detach(conn)

    async def _write(self, ws: WebSocket, conn: Connection, reader: asyncio.Task[None]) -> None:
        getter: asyncio.Task[str] | None = None
        try:
            while not reader.done():
                if conn.overflowed:
                    await ws.close(code=1013, reason="too slow; reconnect to resync")
                    return
                getter = getter or asyncio.ensure_future(conn.outbox.get())
                # wake on a message, on the client going away, or when a heartbeat is due
                await asyncio.wait(
                    {getter, reader}, timeout=self._heartbeat_s, return_when=asyncio.FIRST_COMPLETED
                )
                if getter.done():
                    text, getter = getter.result(), None
                    text = self._with_queued(conn, text)
                elif reader.done():
                    return
                else:
                    text = json.dumps({"type": "heartbeat", "at": time.time()})
                await ws.send_text(text)
                self.sent += 1
        finally:
            if getter is not None:
                getter.cancel()

    @staticmethod
    def _with_queued(conn: Connection, first: str) -> str:
        """Whatever else is already waiting goes in the same frame: `{"type":"batch","items":[…]}`.

        Events come in bursts (one AMI read yields several); a frame per burst instead of per event is
        what lets a thousand wallboards keep up. The items are the JSON already serialised once, joined.
        """
        if conn.outbox.empty():
            return first
        texts = [first]
        while len(texts) < BATCH_MAX and not conn.outbox.empty():
            texts.append(conn.outbox.get_nowait())
        return '{"type":"batch","items":[' + ",".join(texts) + "]}"

    async def _read(self, ws: WebSocket, conn: Connection) -> None:
        # Clients only send pings; anything else is ignored (actions go through the REST API + CSRF).
        # Replies go through the outbox so that one task alone writes to the socket.
        while True:
            msg = await ws.receive_text()
            if msg == "ping":
                self._put(conn, json.dumps({"type": "pong", "at": time.time()}))


def _groups_of(p: Principal) -> tuple[str, ...]:
    return (f"role:{p.role}", f"ep:{p.sip_endpoint}") if p.sip_endpoint else (f"role:{p.role}",)
