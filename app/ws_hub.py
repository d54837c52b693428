"""WebSocket hub: each connection gets a snapshot of what concerns its user, then the deltas it may see.

The hub knows nothing about calls: it forwards wire messages whose audience admits the connection's
principal. Each message is serialised once, whoever receives it.

Two paces. What is addressed to the connection's own user (their pop, their own state; an audience says so
with `direct`) wakes that connection's writer at once. What a connection sees as an onlooker (a wallboard
watching every agent) waits for the next tick, a few per second, so that a burst of PBX events costs each
wallboard one frame instead of one per event: with a thousand wallboards the per-frame cost is what counts.
A connection always receives its messages in order: an immediate message takes along whatever was waiting.

Connections are kept in routing classes (same role, team and phone). An audience that says what is `direct`
decides on those alone, so it is asked once per class, and an onlooker's event is appended once to its
class's tick list, not to a thousand outboxes: publishing costs the number of classes, not of connections.
An audience without `direct` may look at the person, and is asked connection by connection.

A slow browser never slows the others: each connection has its own bounded outbox, and one that overflows
is closed (it reconnects and resyncs from a fresh snapshot) instead of silently losing events.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from core.bus import Principal

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 1000
BATCH_MAX = 200
HEARTBEAT_S = 15.0
TICK_S = 0.15  # onlookers' pace: well under the second a wallboard may lag
# Writers woken per loop turn at a tick: a thousand wallboards' sends in one turn would hold back, for the
# whole fan-out, the database answer a ringing agent's pop waits for; in slices it waits for one slice.
WAKE_SLICE = 24


class Audience(Protocol):
    def admits(self, who: Principal) -> bool: ...

    # optional: `direct(who) -> bool`, the event is `who`'s own business (sent at once), else they are an
    # onlooker (sent at the tick); an audience with `direct` must decide on `who.routing_key` alone.
    # optional: `groups() -> Iterable[str]`, the only hub groups (see `_groups_of`) it can admit.


class Publishable(Protocol):
    audience: Audience

    def to_wire(self) -> dict[str, Any]: ...


SnapshotFn = Callable[[Principal], Awaitable[list[dict[str, Any]]]]
# messages a connection is sent right after its snapshot, heard before it joined but not in the snapshot's
# items (another node's deltas since its last full state, app/cluster_mirror.py)
ReplayFn = Callable[[Principal], list[Publishable]]
# of the credentials given, those that still authenticate (session unexpired, token unrevoked, user active)
CredentialCheck = Callable[[set[str]], Awaitable[set[str]]]
REVALIDATE_S = 30.0  # how stale a socket's credential may go unnoticed when no route here revoked it


class Items(str):
    """Several wire messages already serialised and joined with commas (a tick's share of a class)."""

    count: int = 1


class Outbox(collections.deque[str]):
    """What waits to be sent to one connection: a bounded FIFO with asyncio.Queue's non-blocking interface,
    without its bookkeeping. The bound counts messages, joined ones included."""

    def __init__(self, limit: int = OUTBOX_LIMIT) -> None:
        super().__init__()
        self.limit = limit
        self.messages = 0

    def put_nowait(self, text: str) -> None:
        n = text.count if isinstance(text, Items) else 1
        if self.messages + n > self.limit:
            raise asyncio.QueueFull
        self.messages += n
        self.append(text)

    def get_nowait(self) -> str:
        text = self.popleft()
        self.messages -= text.count if isinstance(text, Items) else 1
        return text

    def empty(self) -> bool:
        return not self

    def qsize(self) -> int:
        return self.messages


@dataclass(eq=False)
class Connection:
    principal: Principal
    outbox: Outbox | asyncio.Queue[str] = field(default_factory=Outbox)
    overflowed: bool = False
    id: int = 0
    closed: bool = False
    last_sent: float = field(default_factory=time.monotonic)
    waiter: asyncio.Future[None] | None = None  # set while the writer sleeps on an empty outbox
    skip: int = 0  # of its class's tick list: what was published before it joined is not for it
    credential: str | None = None  # digest of the session cookie or API token it was opened with
    close_with: tuple[int, str] | None = None  # set to have the writer close it (code, reason)

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


@dataclass(eq=False)
class _Class:
    """Connections of one routing key: audiences with `direct` treat them all alike."""

    principal: Principal  # the first member's: only its routing key is looked at
    members: set[Connection] = field(default_factory=set)
    pending: list[str] = field(default_factory=list)  # onlooker messages for the next tick, in order


class Hub:
    def __init__(
        self,
        snapshot: SnapshotFn | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        tick_s: float = TICK_S,
        revalidate_s: float = REVALIDATE_S,
    ) -> None:
        self._snapshot = snapshot
        self._replay: ReplayFn | None = None
        self._check: CredentialCheck | None = None
        self.revalidate_s = revalidate_s
        self._revalidations: asyncio.Task[None] | None = None
        self._heartbeat_s = heartbeat_s
        self._tick_s = tick_s
        self._connections: set[Connection] = set()
        self._classes: dict[tuple[str, int | None, str | None], _Class] = {}
        self._groups: dict[str, set[_Class]] = {}  # "role:…" and "ep:…" → classes, to skip scans
        self._ids = itertools.count(1)
        self._due: set[_Class] = set()  # classes with onlooker messages waiting for the tick
        self._tick: asyncio.TimerHandle | None = None
        self._to_wake: collections.deque[Connection] = collections.deque()  # a tick's writers, by slices
        self._heartbeats: asyncio.Task[None] | None = None
        self.sent = 0
        self.overflows = 0

    def set_snapshot(self, snapshot: SnapshotFn, replay: ReplayFn | None = None) -> None:
        self._snapshot = snapshot
        self._replay = replay

    def set_credential_check(self, check: CredentialCheck) -> None:
        """Every `revalidate_s`, connections whose credential no longer authenticates are closed (4401):
        a session expired, or ended by another process (the CLI, another node)."""
        self._check = check

    @property
    def connections(self) -> int:
        return len(self._connections)

    def connected(self, who: Callable[[Principal], bool]) -> Iterable[Connection]:
        return [c for c in self._connections if who(c.principal)]

    def attach(self, principal: Principal, credential: str | None = None) -> Connection:
        conn = Connection(principal, id=next(self._ids), credential=credential)
        self._connections.add(conn)
        cls = self._classes.get(principal.routing_key)
        if cls is None:
            cls = self._classes[principal.routing_key] = _Class(principal)
            for group in _groups_of(principal):
                self._groups.setdefault(group, set()).add(cls)
        conn.skip = len(cls.pending)
        cls.members.add(conn)
        return conn

    def detach(self, conn: Connection) -> None:
        self._connections.discard(conn)
        cls = self._classes.get(conn.principal.routing_key)
        if cls is None or conn not in cls.members:
            return
        cls.members.discard(conn)
        if cls.members:
            return
        del self._classes[conn.principal.routing_key]
        self._due.discard(cls)
        for group in _groups_of(cls.principal):
            classes = self._groups.get(group)
            if classes is not None:
                classes.discard(cls)
                if not classes:
                    del self._groups[group]

    def close(self, conn: Connection, code: int, reason: str) -> None:
        """Have the connection's writer close it now, whatever is still waiting in its outbox."""
        if conn.close_with is None:
            conn.close_with = (code, reason)
        conn.wake()

    def revoke(self, *, user_id: int | None = None, credential: str | None = None) -> int:
        """Close at once the connections of that user, or opened with that session or token (4401: the
        client must authenticate again); returns how many."""
        gone = [
            c
            for c in self._connections
            if (user_id is not None and c.principal.user_id == user_id)
            or (credential is not None and c.credential == credential)
        ]
        for conn in gone:
            self.close(conn, 4401, "session ended")
        return len(gone)

    def publish(self, event: Publishable) -> int:
        """Send `event` to every connection its audience admits (at once or at the tick); returns how many."""
        audience = event.audience
        groups = getattr(audience, "groups", None)
        if groups is None:
            classes: Iterable[_Class] = list(self._classes.values())
        else:
            names = tuple(groups())
            classes = (
                self._groups.get(names[0], ())
                if len(names) == 1
                else set().union(*(self._groups.get(g, ()) for g in names))
            )
        direct = getattr(audience, "direct", None)
        text: str | None = None
        n = 0
        for cls in classes:
            if direct is None:  # this audience may look at the person: one by one, all at once
                for conn in cls.members:
                    if not conn.overflowed and audience.admits(conn.principal):
                        text = text or json.dumps(event.to_wire(), default=str, ensure_ascii=False)
                        self._flush(cls, conn)
                        self._put(conn, text)
                        n += 1
                continue
            if not audience.admits(cls.principal):
                continue
            text = text or json.dumps(event.to_wire(), default=str, ensure_ascii=False)
            n += len(cls.members)
            if direct(cls.principal):
                self._flush(cls)  # what its members had waiting goes before
                for conn in cls.members:
                    self._put(conn, text)
            else:
                cls.pending.append(text)
                self._due.add(cls)
                if self._tick is None:
                    with contextlib.suppress(RuntimeError):  # no running loop: whoever drains decides
                        self._tick = asyncio.get_running_loop().call_later(self._tick_s, self._on_tick)
        return n

    def _flush(self, cls: _Class, only: Connection | None = None) -> None:
        """Move the class's tick list into its members' outboxes (or one member's), in order, unwoken."""
        if not cls.pending:
            return
        shared: Items | None = None
        for conn in cls.members if only is None else (only,):
            if conn.overflowed:
                continue
            if conn.skip:  # joined after some of it was published
                texts, conn.skip = cls.pending[conn.skip :], 0
                if not texts:
                    continue
                items = Items(",".join(texts))
                items.count = len(texts)
            else:
                if shared is None:
                    shared = Items(",".join(cls.pending))
                    shared.count = len(cls.pending)
                items = shared
            self._put(conn, items, wake=False)
        if only is None:
            cls.pending.clear()
            self._due.discard(cls)
        else:
            only.skip = len(cls.pending)

    def _put(self, conn: Connection, text: str, wake: bool = True) -> None:
        try:
            conn.outbox.put_nowait(text)
        except asyncio.QueueFull:
            conn.overflowed = True
            self.overflows += 1
            log.warning("ws: outbox full for %s, closing so it resyncs", conn.principal.username)
            conn.wake()
            return
        if wake:
            conn.wake()

    def _on_tick(self) -> None:
        self._tick = None
        self.flush()

    def flush(self) -> None:
        """Hand what waits for the tick to the connections' writers now."""
        due, self._due = self._due, set()
        waking = bool(self._to_wake)
        for cls in due:
            self._flush(cls)
            self._to_wake.extend(cls.members)
        if not waking:
            self._wake_slice()

    def _wake_slice(self) -> None:
        for _ in range(min(WAKE_SLICE, len(self._to_wake))):
            self._to_wake.popleft().wake()
        if self._to_wake:
            try:
                asyncio.get_running_loop().call_soon(self._wake_slice)
            except RuntimeError:  # no running loop: nobody to let in between, wake them all
                while self._to_wake:
                    self._to_wake.popleft().wake()

    async def serve(self, ws: WebSocket, principal: Principal, credential: str | None = None) -> None:
        """Run one accepted connection until it closes (`credential`: see `revoke`)."""
        conn = self.attach(principal, credential)
        self._start_heartbeats()
        # Register before taking the snapshot: a delta that races the snapshot is sent after it, and
        # clients apply deltas idempotently (they carry ids/versions), so nothing falls in between.
        try:
            snapshot = await self._snapshot(principal) if self._snapshot else []
            # taken with the snapshot, before any delta published since joining: those follow in the outbox
            replay = self._replay(principal) if self._replay else []
            await ws.send_text(
                json.dumps(
                    {"type": "snapshot", "at": time.time(), "items": snapshot},
                    default=str,
                    ensure_ascii=False,
                )
            )
            for start in range(0, len(replay), BATCH_MAX):
                items = [m.to_wire() for m in replay[start : start + BATCH_MAX]]
                await ws.send_text(
                    json.dumps({"type": "batch", "items": items}, default=str, ensure_ascii=False)
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
        while True:
            if conn.close_with is not None:
                await ws.close(*conn.close_with)
                return
            if conn.closed:
                return
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
        if conn.outbox.empty() and not isinstance(first, Items):
            return first
        texts = [first]
        n = first.count if isinstance(first, Items) else 1
        while n < BATCH_MAX and not conn.outbox.empty():
            text = conn.outbox.get_nowait()
            texts.append(text)
            n += text.count if isinstance(text, Items) else 1
        return '{"type":"batch","items":[' + ",".join(texts) + "]}"

    def _start_heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        if self._heartbeats is None or self._heartbeats.done():
            self._heartbeats = loop.create_task(self._beat(), name="ws-heartbeats")
        if self._check is not None and (self._revalidations is None or self._revalidations.done()):
            self._revalidations = loop.create_task(self._revalidate(), name="ws-revalidate")

    async def _revalidate(self) -> None:
        while self._connections and self._check is not None:
            await asyncio.sleep(self.revalidate_s)
            held = {c.credential for c in self._connections if c.credential}
            if not held:
                continue
            try:
                valid = await self._check(held)
            except Exception:  # the database is away: keep the sockets, /healthz says why
                log.warning("ws: could not check the connections' credentials", exc_info=True)
                continue
            for conn in list(self._connections):
                if conn.credential and conn.credential not in valid:
                    self.close(conn, 4401, "session ended")

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
        # Clients only send pings; other text is ignored (actions go through the REST API + CSRF), a binary
        # frame closes the connection (1003: data it cannot accept).
        # Replies go through the outbox so that one task alone writes to the socket.
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(msg.get("code", 1000), msg.get("reason"))
            if msg.get("text") == "ping":
                self._put(conn, json.dumps({"type": "pong", "at": time.time()}))
            elif msg.get("text") is None:
                self.close(conn, 1003, "binary frames are not accepted; send text")
                return


def _groups_of(p: Principal) -> tuple[str, ...]:
    return (f"role:{p.role}", f"ep:{p.sip_endpoint}") if p.sip_endpoint else (f"role:{p.role}",)
