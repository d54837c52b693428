"""WebSocket hub: each connection gets a snapshot of what concerns its user, then the deltas it may see.

The hub knows nothing about calls: it forwards wire messages whose audience admits the connection's
principal. Each message is serialised once, whoever receives it.

Two paces. What is addressed to the connection's own user (their pop, their own state; an audience says so
with `direct`) wakes that connection's writer at once. What a connection sees as an onlooker (a wallboard
watching every agent) waits for the next tick, a few per second, so that a burst of PBX events costs each
wallboard one frame instead of one per event: with a thousand wallboards the per-frame cost is what counts.
Both go through the one ordered outbox of the connection, so it always receives its messages in order (an
immediate message takes along whatever was waiting before it).

A slow browser never slows the others: each connection has its own bounded outbox, and one that overflows
is closed (it reconnects and resyncs from a fresh snapshot) instead of silently losing events.
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
TICK_S = 0.15  # onlookers' pace: well under the second a wallboard may lag


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
    closed: bool = False
    last_sent: float = field(default_factory=time.monotonic)
    waiter: asyncio.Future[None] | None = None  # set while the writer sleeps on an empty outbox

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class Hub:
    def __init__(
        self, snapshot: SnapshotFn | None = None, heartbeat_s: float = HEARTBEAT_S, tick_s: float = TICK_S
    ) -> None:
        self._snapshot = snapshot
        self._heartbeat_s = heartbeat_s
        self._tick_s = tick_s
        self._connections: set[Connection] = set()
        self._groups: dict[str, set[Connection]] = {}  # "role:…" and "ep:…" → connections, to skip scans
        self._ids = itertools.count(1)
        self._due: set[Connection] = set()  # onlookers with messages waiting for the next tick
        self._tick: asyncio.TimerHandle | None = None
        self._heartbeats: asyncio.Task[None] | None = None
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
        self._due.discard(conn)
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
        audience = event.audience
        groups = getattr(audience, "groups", None)  # an audience may name the groups it can admit
        if groups is None:
            candidates: Iterable[Connection] = self._connections
        else:
            candidates = set().union(*(self._groups.get(g, ()) for g in groups()))
        direct = getattr(audience, "direct", None)  # without it, everything is for the user's own eyes
        for conn in candidates:
            if conn.overflowed or not audience.admits(conn.principal):
                continue
            if text is None:  # serialise once, only if someone may see it
                text = json.dumps(event.to_wire(), default=str, ensure_ascii=False)
            self._put(conn, text, direct is None or direct(conn.principal))
            n += 1
        return n

    def _put(self, conn: Connection, text: str, now: bool = True) -> None:
        try:
            conn.outbox.put_nowait(text)
        except asyncio.QueueFull:
            conn.overflowed = True
            self.overflows += 1
            log.warning("ws: outbox full for %s, closing so it resyncs", conn.principal.username)
            conn.wake()
            return
        if now:
            conn.wake()
            return
        self._due.add(conn)
        if self._tick is None:
            with contextlib.suppress(RuntimeError):  # no running loop: whoever drains the outbox decides
                self._tick = asyncio.get_running_loop().call_later(self._tick_s, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        due, self._due = self._due, set()
        for conn in due:
            conn.wake()

    async def serve(self, ws: WebSocket, principal: Principal) -> None:
        """Run one accepted connection until it closes."""
        conn = self.attach(principal)
        self._start_heartbeats()
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
            reader.add_done_callback(lambda _: (setattr(conn, "closed", True), conn.wake()))
            try:
                await self._write(ws, conn)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                    await reader
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.detach(conn)

    async def _write(self, ws: WebSocket, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        while not conn.closed:
            if conn.overflowed:
                await ws.close(code=1013, reason="too slow; reconnect to resync")
                return
            if conn.outbox.empty():
                conn.waiter = loop.create_future()
                try:
                    await conn.waiter
                finally:
                    conn.waiter = None
                continue
            await ws.send_text(self._frame(conn))
            conn.last_sent = time.monotonic()
            self.sent += 1

    @staticmethod
    def _frame(conn: Connection) -> str:
        """Whatever is waiting goes in one frame: `{"type":"batch","items":[…]}` (or alone when single).

        The items are the JSON already serialised once, joined.
        """
        first = conn.outbox.get_nowait()
        if conn.outbox.empty():
            return first
        texts = [first]
        while len(texts) < BATCH_MAX and not conn.outbox.empty():
            texts.append(conn.outbox.get_nowait())
        return '{"type":"batch","items":[' + ",".join(texts) + "]}"

    def _start_heartbeats(self) -> None:
        if self._heartbeats is None or self._heartbeats.done():
            self._heartbeats = asyncio.get_running_loop().create_task(self._beat(), name="ws-heartbeats")

    async def _beat(self) -> None:
        """One timer for every connection: a heartbeat to each that has been silent for `heartbeat_s`."""
        while self._connections:
            await asyncio.sleep(self._heartbeat_s / 4)
            silent_since = time.monotonic() - self._heartbeat_s
            beat: str | None = None
            for conn in list(self._connections):
                if conn.last_sent <= silent_since and conn.outbox.empty():
                    beat = beat or json.dumps({"type": "heartbeat", "at": time.time()})
                    self._put(conn, beat)

    async def _read(self, ws: WebSocket, conn: Connection) -> None:
        # Clients only send pings; anything else is ignored (actions go through the REST API + CSRF).
        # Replies go through the outbox so that one task alone writes to the socket.
        while True:
            msg = await ws.receive_text()
            if msg == "ping":
                self._put(conn, json.dumps({"type": "pong", "at": time.time()}))


def _groups_of(p: Principal) -> tuple[str, ...]:
    return (f"role:{p.role}", f"ep:{p.sip_endpoint}") if p.sip_endpoint else (f"role:{p.role}",)
