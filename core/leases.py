"""Leases: which node of several on one PostgreSQL database acts for a thing (a campaign's loop, a periodic
job), with a fencing token; on SQLite the one node holds everything and this module sends no query.

A lease is a row of `leases` (migration 0021). Taking and renewing are the same statement: an upsert that
wins only where the row has expired by the DATABASE's clock or is still ours with the token we hold, and
returns the token, raised by one on every change of owner (and after an expiry). The node trusts a lease
until the safety deadline of its last confirmed renewal (`core.lease_rules`, on its monotonic clock): when
renewals fail, hang or the database is gone, `holds()` turns False at that instant, before the row expires
for any other node, and the owners are told at once (callbacks and `asyncio.Event`s) so their work stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db import Database, make_engine
from core.lease_rules import LeaseTiming, may_act, renewal_deadline, safe_until

log = logging.getLogger(__name__)

Listener = Callable[[str, int | None], None]  # (lease name, its token on a gain or None on a loss)
NodesListener = Callable[[list[str]], None]  # the other live nodes' names, on each change
Work = Callable[[], Coroutine[Any, Any, None]]

_TAKE = text(
    """
    INSERT INTO leases (name, owner, token, expires_at, renewed_at)
    VALUES (:name, :owner, 1, now() + make_interval(secs => :ttl), now())
    ON CONFLICT (name) DO UPDATE SET
        owner = EXCLUDED.owner,
        token = CASE WHEN leases.owner = EXCLUDED.owner AND leases.token = :token
                          AND leases.expires_at >= now()
                     THEN leases.token ELSE leases.token + 1 END,
        expires_at = EXCLUDED.expires_at,
        renewed_at = EXCLUDED.renewed_at
    WHERE leases.expires_at < now() OR (leases.owner = EXCLUDED.owner AND leases.token = :token)
    RETURNING token
    """
)
# kept, not deleted: the next owner's token must still be higher than ours
_RELEASE = text(
    "UPDATE leases SET expires_at = now() - interval '1 second' "
    "WHERE name = :name AND owner = :owner AND token = :token"
)
_LIMITS = text(
    "SELECT set_config('lock_timeout', :lock, true), set_config('statement_timeout', :statement, true), "
    "set_config('idle_in_transaction_session_timeout', :idle, true)"
)
_ALL = text(
    "SELECT name, owner, token, EXTRACT(EPOCH FROM expires_at - now()) AS expires_in_s, renewed_at "
    "FROM leases ORDER BY name"
)

NODE_PREFIX = "node:"  # every node holds `node:<its name>`: the nodes seen are read from these rows
# the other nodes alive on this database (their node lease unexpired), read in each renewal's transaction
_OTHER_NODES = text(
    "SELECT owner FROM leases WHERE name LIKE 'node:%' AND name = 'node:' || owner AND owner <> :own "
    "AND expires_at > now() ORDER BY owner"
)


def node_lease(node_name: str) -> str:
    return f"{NODE_PREFIX}{node_name}"


@dataclass
class _Lease:
    name: str
    token: int | None = None  # the last token the database gave us (kept across a local loss, to renew)
    confirmed_at: float | None = None  # monotonic instant the last confirmed renewal was sent
    reported: int | None = None  # the token owners were last told they hold (None: told not held)
    held: asyncio.Event = field(default_factory=asyncio.Event)
    free: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.free.set()


class LeaseKeeper:
    """Takes, renews and releases this node's leases. `want(name)` makes it contend for a lease; `holds`,
    `token`, `on_change` and the events of `held_event`/`free_event` tell the owners what they may do."""

    def __init__(
        self,
        db: Database | None,
        node_name: str,
        ttl_s: float = 15.0,
        renew_every_s: float = 5.0,
        margin_s: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node_name = node_name
        self.timing = LeaseTiming(ttl_s, renew_every_s, margin_s)
        problems = self.timing.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.clock = clock
        # SQLite is one process on one file: it owns everything and nothing is sent
        self.local = db is None or db.url.startswith("sqlite")
        self._url = None if db is None else db.url
        self._engine: AsyncEngine | None = None
        self._leases: dict[str, _Lease] = {}
        self._listeners: list[Listener] = []
        self._nodes_listeners: list[NodesListener] = []
        self.other_nodes: list[str] = []  # the other nodes alive at the last successful round
        self._wake = asyncio.Event()  # a lease was wanted: contend now, not at the next round
        self._changed = asyncio.Event()  # a round ended: the watcher looks again
        self._tasks: list[asyncio.Task[None]] = []
        self._releases: set[asyncio.Task[None]] = set()
        self._failing = False
        self._name_warned = False
        self._stopping = False
        self.rounds = 0  # renewal rounds ended, failed or not (what a test waits on)

    @classmethod
    def single(cls, node_name: str = "local") -> LeaseKeeper:
        """The keeper of a lone node (SQLite, tests, a service built for its reports): holds everything."""
        return cls(None, node_name)

    # -- what owners ask -------------------------------------------------------------------------------------
    def holds(self, name: str) -> bool:
        """Whether this node may act for `name` now: False from the instant it can no longer be sure."""
        if self.local:
            return True
        lease = self._leases.get(name)
        return (
            lease is not None
            and lease.token is not None
            and may_act(lease.confirmed_at, self.clock(), self.timing)
        )

    def token(self, name: str) -> int | None:
        """The fencing token while `holds(name)`, else None (0 for a lone node)."""
        if self.local:
            return 0
        return self._leases[name].token if self.holds(name) else None

    def on_change(self, listener: Listener) -> None:
        """`listener(name, token)` on a gain, `listener(name, None)` on a loss, called in the event loop."""
        self._listeners.append(listener)

    def on_other_nodes(self, listener: NodesListener) -> None:
        """`listener(names)` whenever the set of other live nodes on this database changes (never on SQLite);
        a database that cannot be reached changes nothing: the last names seen stay."""
        self._nodes_listeners.append(listener)

    def held_event(self, name: str) -> asyncio.Event:
        """Set while the lease is held (as last announced); `want(name)` first."""
        return self._leases[name].held

    def free_event(self, name: str) -> asyncio.Event:
        """Set while the lease is not held: an owner awaits it to stop its work."""
        return self._leases[name].free

    def want(self, name: str) -> None:
        """Contend for `name` from now on (no-op if already wanted)."""
        if name in self._leases:
            return
        lease = self._leases[name] = _Lease(name)
        if self.local:
            self._announce(lease, 0)
        else:
            self._wake.set()

    def drop(self, name: str) -> None:
        """Stop contending for `name`: owners are told it is lost, then the row is released."""
        lease = self._leases.pop(name, None)
        if lease is None:
            return
        if lease.reported is not None:
            self._announce(lease, None)
        if lease.token is not None:
            self._spawn_release(lease)

    def _spawn_release(self, lease: _Lease) -> None:
        if self._engine is None:
            return
        task = asyncio.get_running_loop().create_task(self._release_soon(lease))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    def status(self) -> list[dict[str, Any]]:
        """The leases this node holds: name, token and how long it may still act without a renewal."""
        now = self.clock()
        out = []
        for lease in self._leases.values():
            if not self.holds(lease.name):
                continue
            until = safe_until(lease.confirmed_at, self.timing)
            expires_in = None if until is None else round(until - now, 3)
            out.append({"name": lease.name, "token": self.token(lease.name), "expires_in_s": expires_in})
        return out

    # -- life ------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.local:
            return
        assert self._url is not None
        # Its own small pool: renewals never queue behind the application's queries. Its I/O is bounded by
        # the driver and the server, never cancelled from here: a statement cancelled mid-flight can leave
        # its session in a transaction that keeps the lease's row locked.
        bound = renewal_deadline(self.timing)
        self._engine = make_engine(
            self._url,
            pool_size=1,
            max_overflow=1,
            pool_timeout=bound,
            connect_args={"timeout": bound, "command_timeout": bound},
        )
        self.want(node_lease(self.node_name))
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._renew_forever(), name="leases-renew"),
            loop.create_task(self._watch(), name="leases-watch"),
        ]

    async def stop(self, release: bool = True) -> None:
        """Owners are told every lease is lost first, then (`release`) the rows are freed for the next node;
        without it the rows stay until they expire, as after a crash."""
        self._stopping = True  # a renewal that ends from now on confirms nothing
        for lease in self._leases.values():
            lease.confirmed_at = None  # holds() is False from here on; the token is kept for the release
            if lease.reported is not None:
                self._announce(lease, None)
        self._wake.set()
        if self._tasks:  # a renewal under way is let end (within the driver's bound), not cancelled
            renewer, watcher = self._tasks
            watcher.cancel()
            await asyncio.wait(self._tasks, timeout=renewal_deadline(self.timing))
            renewer.cancel()
        self._tasks = []
        if self._engine is None:  # a lone node, or never started
            return
        held = [lease for lease in self._leases.values() if lease.token is not None]
        if release and held:
            with contextlib.suppress(Exception):  # unreachable database: the rows expire by themselves
                await self._release(held)
        bound = renewal_deadline(self.timing)
        if self._releases:
            await asyncio.wait(self._releases, timeout=bound)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._engine.dispose(), bound)

    # -- the shell -------------------------------------------------------------------------------------------
    async def _renew_forever(self) -> None:
        while not self._stopping:
            self._wake.clear()
            sent = self.clock()
            try:
                await self._round(sent)
                if self._failing:
                    log.warning("leases: renewals succeed again")
                self._failing = False
            except Exception as exc:  # the database is away: the watcher drops the leases at their deadline
                if not self._failing:
                    log.warning("leases: renewal failed (%s: %s)", type(exc).__name__, exc)
                self._failing = True
            self.rounds += 1
            self._changed.set()
            if self._stopping:
                return
            wait = sent + self.timing.renew_every_s - self.clock()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, wait))

    async def _round(self, sent: float) -> None:
        """One transaction taking or renewing every wanted lease; `sent` is the instant before it began."""
        assert self._engine is not None
        leases = list(self._leases.values())
        got: dict[str, int | None] = {}
        async with self._engine.begin() as conn:
            await self._bound(conn)
            for lease in leases:
                params = {"name": lease.name, "owner": self.node_name, "ttl": self.timing.ttl_s}
                got[lease.name] = (await conn.execute(_TAKE, params | {"token": lease.token})).scalar()
            others = list((await conn.execute(_OTHER_NODES, {"own": self.node_name})).scalars())
        for lease in leases:
            if self._leases.get(lease.name) is not lease:  # dropped meanwhile: this round may have renewed it
                if got[lease.name] is not None:
                    lease.token = got[lease.name]
                    self._spawn_release(lease)
                continue
            lease.token = got[lease.name]
            if not self._stopping:  # a stopping node acts no more; the token is kept for the release
                lease.confirmed_at = sent if lease.token is not None else None
        own = node_lease(self.node_name)
        if own in got and got[own] is None and not self._name_warned:
            # the token check keeps two processes of one name from sharing a lease, but say so
            log.warning(
                "leases: %s is held by another process of this name (or this node restarted within the ttl);"
                " give each node its own PLATEAU_NODE_NAME",
                own,
            )
            self._name_warned = True
        if not self._stopping:
            self._settle()
        if others != self.other_nodes:
            self.other_nodes = others
            for listener in list(self._nodes_listeners):
                try:
                    listener(list(others))
                except Exception:
                    log.exception("leases: a listener of the other nodes failed")

    async def _watch(self) -> None:
        """Tells owners of a loss at the safety deadline itself, whether or not a renewal is under way."""
        while True:
            self._changed.clear()
            self._settle()
            deadlines = [
                until
                for lease in self._leases.values()
                if lease.reported is not None
                and (until := safe_until(lease.confirmed_at, self.timing)) is not None
            ]
            timeout = max(0.0, min(deadlines) - self.clock()) if deadlines else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def _settle(self) -> None:
        for lease in list(self._leases.values()):
            now = self.token(lease.name)
            if now != lease.reported:
                if lease.reported is not None:
                    self._announce(lease, None)
                if now is not None:
                    self._announce(lease, now)

    def _announce(self, lease: _Lease, token: int | None) -> None:
        lease.reported = token
        if token is None:
            lease.held.clear()
            lease.free.set()
        else:
            lease.free.clear()
            lease.held.set()
        log.info("leases: %s %s", "gained" if token is not None else "lost", lease.name)
        for listener in list(self._listeners):
            try:
                listener(lease.name, token)
            except Exception:
                log.exception("leases: a listener of %s failed", lease.name)

    async def _bound(self, conn: AsyncConnection) -> None:
        """This transaction's limits on the server: a lock held by another node's renewal is waited for one
        period at most, and a session stuck in the transaction is ended (its row locks with it)."""
        limit = f"{int(renewal_deadline(self.timing) * 1000)}ms"
        await conn.execute(
            _LIMITS, {"lock": f"{int(self.timing.renew_every_s * 1000)}ms", "statement": limit, "idle": limit}
        )

    async def _release_soon(self, lease: _Lease) -> None:
        with contextlib.suppress(Exception):  # the database is away: the row expires by itself
            await self._release([lease])

    async def _release(self, leases: list[_Lease]) -> None:
        """Expires our rows at once (each checked to be still ours, with our token)."""
        assert self._engine is not None
        async with self._engine.begin() as conn:
            await self._bound(conn)
            for lease in leases:
                params = {"name": lease.name, "owner": self.node_name, "token": lease.token}
                await conn.execute(_RELEASE, params)


async def run_while_held(keeper: LeaseKeeper, name: str, work: Work) -> None:
    """Runs `work()` only while this node holds `name`: started on a gain, cancelled at once on a loss, and
    again on the next gain. Cancel this coroutine to stop for good (the lease is dropped)."""
    keeper.want(name)
    try:
        while True:
            await keeper.held_event(name).wait()
            task = asyncio.create_task(work(), name=f"lease-work-{name}")
            lost = asyncio.create_task(keeper.free_event(name).wait())
            ended = False
            try:
                await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
                ended = task.done() and not lost.done()
            finally:
                for t in (task, lost):
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await t
            if ended:  # the work ended by itself: not restarted
                if not task.cancelled() and task.exception() is not None:
                    log.error("leases: the work under %s failed", name, exc_info=task.exception())
                return
    finally:
        keeper.drop(name)


async def cluster_status(db: Database) -> dict[str, Any]:
    """Every lease row (name, owner, token, seconds until it expires by the database's clock; negative:
    expired) and the nodes seen through their `node:` leases. SQLite: one node, no rows."""
    if db.url.startswith("sqlite"):
        return {"engine": "sqlite", "leases": [], "nodes": []}
    async with db.engine.connect() as conn:
        rows = (await conn.execute(_ALL)).all()
    leases = [
        {
            "name": r.name,
            "owner": r.owner,
            "token": r.token,
            "expires_in_s": round(float(r.expires_in_s), 1),
            "renewed_at": r.renewed_at.isoformat(),
        }
        for r in rows
    ]
    nodes = [
        {
            "name": lease["name"].removeprefix(NODE_PREFIX),
            "alive": lease["expires_in_s"] > 0,
            "renewed_at": lease["renewed_at"],
        }
        for lease in leases
        if lease["name"].startswith(NODE_PREFIX) and lease["owner"] == lease["name"].removeprefix(NODE_PREFIX)
    ]
    return {"engine": "postgresql", "leases": leases, "nodes": nodes}


__all__ = ["LeaseKeeper", "cluster_status", "node_lease", "run_while_held"]
