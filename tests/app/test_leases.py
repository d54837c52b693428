"""core/leases.py on a real PostgreSQL: keepers contending, a crashed holder, a holder cut from the database
(through a TCP proxy that is then closed), and SQLite's lone node that holds everything without a query."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import event, select

from core.db import Database
from core.leases import LeaseKeeper, node_lease, run_while_held
from core.models import Lease
from cti.pbx_process import free_port
from tests.conftest import wait_for

pytestmark = pytest.mark.db

# short figures so a takeover takes seconds; the order of events is asserted, never their timing
TTL, EVERY, MARGIN = 2.0, 0.3, 0.6


@pytest.fixture
def pg_url(pg_migrated_url: str) -> str:
    return pg_migrated_url


@pytest_asyncio.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    db = Database(pg_url)
    yield db
    await db.dispose()


@contextlib.asynccontextmanager
async def _keepers(db: Database, *names: str) -> AsyncIterator[list[LeaseKeeper]]:
    keepers = [LeaseKeeper(db, name, TTL, EVERY, MARGIN) for name in names]
    for keeper in keepers:
        await keeper.start()
    try:
        yield keepers
    finally:
        for keeper in keepers:
            await keeper.stop()


def _lease() -> str:
    return f"campaign:{uuid.uuid4().hex[:8]}"  # each test its own lease: the module shares one database


async def _row(db: Database, name: str) -> Lease | None:
    async with db.session() as s:
        return await s.scalar(select(Lease).where(Lease.name == name))


class Proxy:
    """A TCP relay to PostgreSQL that can be cut: every connection through it reset, no new one accepted
    (what a node sees when the network to the database goes)."""

    def __init__(self, port: int) -> None:
        self.target, self.port = port, free_port()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()


async def test_given_three_keepers_wanting_one_lease_when_they_contend_then_exactly_one_holds_it(
    pg: Database,
) -> None:
    name = _lease()
    async with _keepers(pg, "n1", "n2", "n3") as keepers:
        for keeper in keepers:
            keeper.want(name)
        await wait_for(lambda: any(k.holds(name) for k in keepers), what="a holder")
        first_rounds = [k.rounds for k in keepers]
        # every keeper contends several more rounds: the holder stays the only one
        await wait_for(lambda: all(k.rounds >= r + 3 for k, r in zip(keepers, first_rounds, strict=True)))
        holders = [k for k in keepers if k.holds(name)]
        assert len(holders) == 1
        row = await _row(pg, name)
        assert row is not None and row.owner == holders[0].node_name and row.token == holders[0].token(name)
        assert [k.token(name) for k in keepers].count(None) == 2


async def test_given_a_holder_when_it_stops_cleanly_then_the_next_takes_over_with_a_higher_token(
    pg: Database,
) -> None:
    name = _lease()
    gains: list[tuple[str, int]] = []
    async with _keepers(pg, "a", "b", "c") as keepers:
        for keeper in keepers:
            keeper.on_change(
                lambda n, t, k=keeper: gains.append((k.node_name, t)) if t and n == name else None
            )
            keeper.want(name)
        live = list(keepers)
        for takeover in range(3):
            await wait_for(lambda n=takeover + 1: len(gains) == n, what=f"gain {takeover + 1}")
            holder = next(k for k in live if k.node_name == gains[-1][0])
            await holder.stop()  # releases: the next one need not wait for the ttl
            live.remove(holder)
            if not live:
                break
    tokens = [token for _, token in gains]
    assert len(gains) == 3 and len({owner for owner, _ in gains}) == 3
    assert tokens == sorted(tokens) and len(set(tokens)) == 3  # strictly increasing, one per owner


async def test_given_a_holder_that_dies_without_release_when_the_ttl_passes_then_another_takes_over(
    pg: Database,
) -> None:
    name = _lease()
    events: list[tuple[str, str, int | None]] = []
    async with _keepers(pg, "dies", "waits") as (dies, waits):
        for keeper in (dies, waits):
            keeper.on_change(lambda n, t, k=keeper: events.append((k.node_name, n, t)) if n == name else None)
        dies.want(name)
        await wait_for(lambda: dies.holds(name), what="the first holder")
        waits.want(name)
        await wait_for(lambda: waits.rounds >= 2, what="the second contending")
        assert not waits.holds(name)
        before = dies.token(name)
        await dies.stop(release=False)  # as a crash: the row stays ours until it expires
        row = await _row(pg, name)
        assert row is not None and row.owner == "dies"
        await wait_for(lambda: waits.holds(name), timeout=4 * TTL, what="the takeover after the ttl")
    assert before is not None and waits_token(events, "waits") == before + 1


def waits_token(events: list[tuple[str, str, int | None]], node: str) -> int | None:
    return next(t for who, _, t in events if who == node and t is not None)


async def test_given_a_holder_cut_from_the_database_when_another_takes_over_then_the_first_had_stopped(
    pg: Database, pg_url: str
) -> None:
    """Fencing: the cut holder says it no longer holds before the other can hold, by the order of events."""
    name = _lease()
    port = int(pg_url.rsplit(":", 1)[1].split("/", 1)[0])
    proxy = Proxy(port)
    await proxy.start()
    cut_db = Database(pg_url.replace(f":{port}/", f":{proxy.port}/"))
    events: list[str] = []
    try:
        async with _keepers(cut_db, "cut") as (cut,), _keepers(pg, "other") as (other,):
            cut.on_change(
                lambda n, t: events.append("cut lost" if t is None else "cut gained") if n == name else None
            )
            # at the instant of its gain, the other looks whether the cut one still believes it holds
            other.on_change(
                lambda n, t: (
                    events.append(f"other gained, cut holds: {cut.holds(name)}") if t and n == name else None
                )
            )
            cut.want(name)
            await wait_for(lambda: cut.holds(name), what="the cut one holding")
            other.want(name)
            await wait_for(lambda: other.rounds >= 2, what="the other contending")
            assert not other.holds(name)
            events.clear()
            proxy.cut()
            await wait_for(lambda: other.holds(name), timeout=4 * TTL, what="the other's takeover")
            assert not cut.holds(name) and cut.token(name) is None
    finally:
        await cut_db.dispose()
    assert events[:2] == ["cut lost", "other gained, cut holds: False"]


async def test_given_sqlite_when_a_keeper_runs_then_it_holds_everything_and_sends_nothing(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    statements: list[str] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    keeper = LeaseKeeper(db, "alone")
    await keeper.start()
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(run_while_held(keeper, "job:purge", job))
    await asyncio.wait_for(ran.wait(), 5)
    assert keeper.holds("campaign:1") and keeper.token("campaign:1") == 0 and keeper.holds("job:purge")
    assert keeper.status() == [{"name": "job:purge", "token": 0, "expires_in_s": None}]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await keeper.stop()
    await db.dispose()
    assert statements == []


async def test_given_a_periodic_job_under_a_lease_when_the_lease_is_lost_then_the_job_is_cancelled_at_once(
    pg: Database,
) -> None:
    name = _lease()
    log: list[str] = []

    async def job() -> None:
        log.append("started")
        try:
            await asyncio.Event().wait()
        finally:
            log.append(f"stopped, holding: {keeper.holds(name)}")

    async with _keepers(pg, "runs") as (keeper,):
        task = asyncio.create_task(run_while_held(keeper, name, job))
        await wait_for(lambda: log == ["started"], what="the job started on the gain")
        keeper.on_change(lambda n, t: log.append("lost") if n == name and t is None else None)
        await keeper.stop(release=False)  # every owner told its lease is lost
        await wait_for(lambda: len(log) == 3, what="the job stopped")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert log == ["started", "lost", "stopped, holding: False"]


async def test_given_a_node_when_it_runs_then_it_holds_its_own_node_lease(pg: Database) -> None:
    async with _keepers(pg, f"node-{uuid.uuid4().hex[:6]}") as (keeper,):
        await wait_for(lambda: keeper.holds(node_lease(keeper.node_name)), what="the node lease")
        (status,) = keeper.status()
        assert status["name"] == node_lease(keeper.node_name) and status["token"] >= 1
        assert 0 < status["expires_in_s"] <= TTL - MARGIN


async def test_given_two_keepers_of_different_names_on_one_database_when_they_run_then_each_sees_the_other(
    fresh_pg_url: str,
) -> None:
    db = Database(fresh_pg_url)
    seen: list[list[str]] = []
    try:
        async with _keepers(db, "node-a") as (a,):
            a.on_other_nodes(seen.append)
            await wait_for(lambda: a.rounds >= 2, what="A's rounds")
            assert a.other_nodes == [] and seen == []  # alone: nothing to say
            async with _keepers(db, "node-b") as (b,):
                await wait_for(
                    lambda: a.other_nodes == ["node-b"] and b.other_nodes == ["node-a"], what="both"
                )
            await wait_for(lambda: a.other_nodes == [], what="B's released node lease")
        assert seen == [["node-b"], []]
    finally:
        await db.dispose()
