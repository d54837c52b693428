"""The bus between nodes: what this node publishes for the browsers, NOTIFY'd to the other nodes over
PostgreSQL, and what they publish, delivered here. The I/O shell around core/bus_frames.py.

One asyncpg connection per node LISTENs on one channel and sends. `offer` (on the event path) only queues
the event with its number; a sender task takes everything queued, cuts it into frames and sends them in one
round trip (one statement: the spilled rows inserted, then one `pg_notify` per frame, in order), so the
batches grow with the rate instead of the round trips. Frames carry this relay's id: a node drops its own.
What arrives is decoded and handed to `deliver` with its sender's id (the local hub, and the mirror of that
sender's state), never to `offer`: it is not relayed again.

PostgreSQL away: the connection is dialled again with backoff. Meanwhile events queue up to `backlog` (the
oldest dropped beyond it, counted); a batch whose send failed is sent again, and receivers drop the numbers
they already had. A receiver that was away, or that sees a sender's numbers jump, counts the gap and calls
`on_gap`: the application closes its desks' sockets, which reconnect and resync from a snapshot.

Serialisation is the application's (`encode` to UTF-8 JSON, `decode` from the parsed JSON): core knows no
event type.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

from core.bus_frames import Heard, Sequencer, header, pack, read

log = logging.getLogger(__name__)

CHANNEL = "plateau_bus"
BACKLOG = 20_000  # events kept while PostgreSQL is away (about ten seconds of two busy PBXs)
BATCH_MAX = 2_000  # events per round trip
# a spilled row outlives any receiver's reconnect; it may quote a caller (a pop's number and name), so
# every sending node sweeps every sender's older rows (a node gone for good leaves none behind), at most a
# quarter of this later; the retention purge sweeps too, for a bus turned off since (app/recording_purge.py)
SPILL_KEEP_S = 600.0
KEEPALIVE_S = 5.0  # an idle connection is pinged: a silent network loss is found within seconds

_SEND = "SELECT count(pg_notify($1, f)) FROM unnest($2::text[]) AS f"
_SEND_SPILLED = (
    "WITH spill AS (INSERT INTO bus_spill (sender, seq, payload)"
    " SELECT $3, s, p FROM unnest($4::bigint[], $5::text[]) AS t(s, p) ON CONFLICT DO NOTHING)"
    " SELECT count(pg_notify($1, f)) FROM unnest($2::text[]) AS f"
)
_FETCH = "SELECT seq, payload FROM bus_spill WHERE sender = $1 AND seq = ANY($2::bigint[])"
_SWEEP = "DELETE FROM bus_spill WHERE created_at < now() - make_interval(secs => $1)"

# SQLSTATE classes of a refusal of the statement's data (data, integrity, syntax, limits), not of the session
_REFUSED = frozenset({"22", "23", "42", "54"})
_GONE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


def asyncpg_dsn(database_url: str) -> str:
    """SQLAlchemy's `postgresql+asyncpg://…` as asyncpg takes it."""
    scheme, sep, rest = database_url.partition("://")
    return "postgresql://" + rest if sep and scheme.startswith("postgresql") else database_url


def relay_id(node_name: str) -> str:
    """This process's id on the bus: the node's name, the process and a random part (two processes of one
    host, or a restarted one, are different senders)."""
    return f"{node_name[:80]}/{os.getpid()}/{secrets.token_hex(3)}"


class BusRelay:
    def __init__(
        self,
        dsn: str,
        *,
        node: str,
        encode: Callable[[Any], bytes],
        decode: Callable[[Any], Any],
        deliver: Callable[[str, Any], None],
        on_gap: Callable[[], None] | None = None,
        channel: str = CHANNEL,
        backlog: int = BACKLOG,
        batch_max: int = BATCH_MAX,
        backoff_s: tuple[float, float] = (0.2, 5.0),
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.dsn = asyncpg_dsn(dsn)
        self.node = node
        self.channel = channel
        self._encode, self._decode, self._deliver, self._on_gap = encode, decode, deliver, on_gap
        self.backlog_max, self.batch_max = backlog, batch_max
        self.backoff_s, self.keepalive_s = backoff_s, keepalive_s
        self._own = header(node)
        self._outbox: collections.deque[tuple[int, Any]] = collections.deque()
        self._next_seq = 1
        self._inbox: collections.deque[str] = collections.deque()
        self._sequencer = Sequencer()
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one operation at a time on the connection
        self._to_send = asyncio.Event()
        self._heard = asyncio.Event()
        self._up = asyncio.Event()
        self._all_sent = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ever_up = False
        self._swept = 0.0
        # figures for /healthz
        self.sent = 0
        self.frames = 0
        self.spilled = 0
        self.received = 0
        self.lost_in = 0  # events of other nodes never heard (their numbers jumped)
        self.dropped = 0  # events of this node dropped from a full backlog while PostgreSQL was away
        self.bad = 0  # frames or events that could not be read
        self.reconnects = 0
        self.resyncs = 0
        self.error: str | None = None
        self.down_since: float | None = time.time()

    # -- the event path -----------------------------------------------------------------------------------
    def offer(self, event: Any) -> None:
        """Queue an event of this node for the others. No I/O, no serialisation here."""
        self._outbox.append((self._next_seq, event))
        self._next_seq += 1
        if len(self._outbox) > self.backlog_max:
            self._outbox.popleft()  # its number stays unused: the receivers see the gap
            self.dropped += 1
        self._all_sent.clear()
        self._to_send.set()

    # -- life ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name="bus-relay"),
            loop.create_task(self._receive(), name="bus-relay-receive"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._close()

    async def wait_up(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._up.wait(), timeout)

    async def flush(self, timeout: float) -> bool:
        """Wait until everything offered so far is sent (a clean stop's last words); False if not in time."""
        if not self._outbox:
            return True
        try:
            await asyncio.wait_for(self._all_sent.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend serving this relay now (None while disconnected)."""
        conn = self._conn
        return conn.get_server_pid() if conn is not None else None

    @property
    def backlog(self) -> int:
        """Events offered and not yet sent."""
        return len(self._outbox)

    @property
    def backlog_empty(self) -> bool:
        """Whether every event offered so far has been sent (committed with its NOTIFY)."""
        return not self._outbox

    @property
    def lost(self) -> int:
        return self.lost_in + self.dropped

    def health(self) -> dict[str, Any]:
        return {
            "ok": self.connected,
            "node": self.node,
            "channel": self.channel,
            "sent": self.sent,
            "frames": self.frames,
            "spilled": self.spilled,
            "received": self.received,
            "lost": self.lost,
            "lost_in": self.lost_in,
            "dropped": self.dropped,
            "backlog": self.backlog,
            "bad": self.bad,
            "reconnects": self.reconnects,
            "resyncs": self.resyncs,
            "down_since": self.down_since,
            "error": self.error,
        }

    # -- the connection -----------------------------------------------------------------------------------
    async def _run(self) -> None:
        delay = self.backoff_s[0]
        while True:
            lost = asyncio.Event()
            try:
                # synchronous_commit off: a NOTIFY takes an XID, so each send would wait for its commit's WAL
                # flush (the disk's tail latency, 100+ ms at times) though nothing of it needs to survive a
                # crash of PostgreSQL: the receivers resync on a gap. Delivery still happens at commit.
                settings = {"application_name": f"plateau-bus {self.node}"[:63], "synchronous_commit": "off"}
                conn = await asyncpg.connect(self.dsn, timeout=5, server_settings=settings)
            except _GONE as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("bus: cannot reach PostgreSQL (%s); again in %.1f s", self.error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_s[1])
                continue
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await conn.add_listener(self.channel, self._on_notify)
                self._conn = conn
                self.error, self.down_since, delay = None, None, self.backoff_s[0]
                if self._ever_up:
                    self.reconnects += 1
                    log.info("bus: connected again to PostgreSQL")
                    self._gap()  # whatever the others sent meanwhile was not heard
                self._ever_up = True
                self._up.set()
                await self._pump(conn, lost)
            except _GONE as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("bus: connection to PostgreSQL lost (%s)", self.error)
            except Exception as exc:  # a bug must not end the bus: log it, dial again
                self.error = f"{type(exc).__name__}: {exc}"
                log.exception("bus: the relay failed; connecting again")
            finally:
                self._up.clear()
                self.down_since = self.down_since or time.time()
                self._conn = None
                conn.terminate()
            await asyncio.sleep(delay)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*_GONE):
                await asyncio.wait_for(conn.close(), 2)

    async def _pump(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Send what is queued until the connection is lost."""
        lost_wait = asyncio.ensure_future(lost.wait())
        try:
            while True:
                if not self._outbox:
                    self._to_send.clear()
                    send_wait = asyncio.ensure_future(self._to_send.wait())
                    done, _ = await asyncio.wait(
                        {send_wait, lost_wait}, timeout=self.keepalive_s, return_when=asyncio.FIRST_COMPLETED
                    )
                    send_wait.cancel()
                    if lost_wait in done:
                        raise ConnectionResetError("the server closed the connection")
                    if not done:
                        async with self._lock:
                            await conn.fetchval("SELECT 1", timeout=self.keepalive_s)
                        continue
                try:
                    await self._send_batch(conn)
                except asyncpg.PostgresError as exc:
                    if exc.sqlstate[:2] not in _REFUSED:
                        raise
                    # the server refuses the batch itself: sent again it would be refused again, forever
                    n = min(self.batch_max, len(self._outbox))
                    for _ in range(n):
                        self._outbox.popleft()
                    self.dropped += n
                    log.error("bus: PostgreSQL refused %d event(s), dropped: %s", n, exc)
        finally:
            lost_wait.cancel()

    async def _send_batch(self, conn: asyncpg.Connection) -> None:
        batch = list(itertools.islice(self._outbox, self.batch_max))
        first = batch[0][0]
        frames = pack(self.node, first, [self._encode_one(event) for _seq, event in batch])
        texts = [f.text for f in frames]
        spilled = [row for f in frames for row in f.spilled]
        async with self._lock:
            if spilled:
                await conn.fetchval(
                    _SEND_SPILLED,
                    self.channel,
                    texts,
                    self.node,
                    [s for s, _ in spilled],
                    [p for _, p in spilled],
                    timeout=10,
                )
            else:
                await conn.fetchval(_SEND, self.channel, texts, timeout=10)
            self._swept = self._swept or time.monotonic()
            if time.monotonic() - self._swept > SPILL_KEEP_S / 4:
                await conn.execute(_SWEEP, SPILL_KEEP_S, timeout=10)
                self._swept = time.monotonic()
        # sent: only now off the queue (a failed send is sent again; receivers drop what they had)
        while self._outbox and self._outbox[0][0] < first + len(batch):
            self._outbox.popleft()
        if not self._outbox:
            self._all_sent.set()
        self.sent += len(batch)
        self.frames += len(frames)
        self.spilled += len(spilled)

    def _encode_one(self, event: Any) -> bytes:
        try:
            return self._encode(event)
        except Exception:  # a bug in the codec must not stop the bus: its number goes as a null
            log.exception("bus: could not encode %s", type(event).__name__)
            return b"null"

    # -- receiving ----------------------------------------------------------------------------------------
    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith(self._own):
            return
        self._inbox.append(payload)
        self._heard.set()

    async def _receive(self) -> None:
        """Apply the frames heard, in order; those naming spilled rows wait for them."""
        while True:
            await self._heard.wait()
            self._heard.clear()
            while self._inbox:
                payload = self._inbox.popleft()
                try:
                    frame = read(payload)
                except ValueError:
                    self.bad += 1
                    log.warning("bus: a notification that is not a frame: %.80r", payload)
                    continue
                skip, gap = self._sequencer.admit(frame.sender, frame.first_seq, len(frame.events))
                if gap:
                    self.lost_in += gap
                    log.warning("bus: %d event(s) of %s never arrived", gap, frame.sender)
                    self._gap()
                events = frame.events
                if frame.refs and any(i >= skip for i in frame.refs):
                    events = await self._with_spilled(frame, skip)
                for event in events[skip:]:
                    self._apply(frame.sender, event)

    async def _with_spilled(self, frame: Heard, skip: int) -> list[Any]:
        events = list(frame.events)
        wanted = {frame.first_seq + i: i for i in frame.refs if i >= skip}
        for _attempt in range(3):
            conn = self._conn
            if conn is None:
                try:
                    await asyncio.wait_for(self._up.wait(), 30)
                except TimeoutError:
                    break
                continue
            try:
                async with self._lock:
                    rows = await conn.fetch(_FETCH, frame.sender, list(wanted), timeout=10)
            except _GONE as exc:
                log.warning("bus: could not read spilled events (%s)", exc)
                continue
            for seq, text in rows:
                try:
                    events[wanted.pop(seq)] = orjson.loads(text)
                except ValueError:
                    self.bad += 1
            break
        if wanted:  # gone (swept, or PostgreSQL away too long): lost, the desks resync
            self.lost_in += len(wanted)
            self._gap()
        return events

    def _apply(self, sender: str, event: Any) -> None:
        if event is None:
            return  # spilled and not found, or not encodable at the sender
        try:
            decoded = self._decode(event)
        except Exception:
            self.bad += 1
            log.warning("bus: an event that cannot be decoded: %.80r", event)
            return
        self.received += 1
        try:
            self._deliver(sender, decoded)
        except Exception:
            log.exception("bus: delivering %s failed", type(decoded).__name__)

    def _gap(self) -> None:
        self.resyncs += 1
        if self._on_gap is not None:
            try:
                self._on_gap()
            except Exception:
                log.exception("bus: the resync after a gap failed")


__all__ = ["CHANNEL", "BusRelay", "asyncpg_dsn", "relay_id"]
