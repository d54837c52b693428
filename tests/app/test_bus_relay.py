"""The bus between nodes on a real PostgreSQL: two relays, each with its own local deliveries, on one
database. What A publishes reaches B once and in order and never comes back to A; a large event goes
through a row; a relay whose backend is terminated dials again, counts what it missed, and later events
flow."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from app import migrate
from core.bus_relay import SPILL_KEEP_S, BusRelay, asyncpg_dsn
from tests.conftest import wait_for
from tests.pg import fresh_database

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def pg_url(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server) as url:
        migrate.upgrade(url)
        yield url


@dataclass
class Node:
    relay: BusRelay
    heard: list[Any] = field(default_factory=list)
    gaps: int = 0


@pytest_asyncio.fixture
async def nodes(pg_url: str) -> AsyncIterator[dict[str, Node]]:
    made: dict[str, Node] = {}

    def node(name: str, **options: Any) -> Node:
        def gap() -> None:
            made[name].gaps += 1

        n = Node(
            BusRelay(
                pg_url,
                node=f"{name}/1",
                encode=lambda e: json.dumps(e).encode(),
                decode=lambda e: e,
                deliver=lambda _s, e: n.heard.append(e),
                on_gap=gap,
                **options,
            )
        )
        made[name] = n
        return n

    a, b = node("a"), node("b", backoff_s=(1.0, 1.0))
    for n in (a, b):
        await n.relay.start()
        await n.relay.wait_up()
    yield made
    for n in made.values():
        await n.relay.stop()


async def _terminate(pg_url: str, pid: int | None) -> None:
    assert pid is not None
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


def _pop(n: int, pad: int = 200) -> dict[str, Any]:
    return {"type": "pop", "n": n, "caller": {"name": "Zoé", "notes": "x" * pad}}


async def test_given_two_relays_when_a_publishes_then_b_hears_each_event_once_in_order_and_a_none(
    nodes: dict[str, Node],
) -> None:
    a, b = nodes["a"], nodes["b"]
    sent = [_pop(i) for i in range(2000)]
    for event in sent:
        a.relay.offer(event)
    await wait_for(lambda: len(b.heard) >= len(sent), timeout=20, what="B hears A's events")
    await wait_for(lambda: a.relay.backlog_empty, what="A sent everything")
    b.relay.offer({"type": "marker"})  # after it, whatever A could have heard of its own is in
    await wait_for(lambda: a.heard == [{"type": "marker"}], what="A hears B's marker")
    assert b.heard == sent
    assert a.relay.frames < len(sent) / 10  # batched: many events a notification
    assert (b.relay.lost, b.gaps, a.relay.lost, a.gaps) == (0, 0, 0, 0)


async def test_given_an_event_over_8000_bytes_when_published_then_it_arrives_intact_in_its_place(
    nodes: dict[str, Node], pg_url: str
) -> None:
    a, b = nodes["a"], nodes["b"]
    big = {"type": "pop", "history": [{"note": f"appel {i} — client mécontent"} for i in range(2000)]}
    assert len(json.dumps(big).encode()) > 8000
    sent = [_pop(1), big, _pop(2)]
    for event in sent:
        a.relay.offer(event)
    await wait_for(lambda: len(b.heard) >= 3, what="B hears the three events")
    assert b.heard == sent
    assert a.relay.spilled == 1
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM bus_spill WHERE sender = $1", a.relay.node) == 1
    finally:
        await conn.close()


async def test_given_bs_backend_terminated_when_a_publishes_meanwhile_then_b_counts_the_gap_and_hears_later(
    nodes: dict[str, Node], pg_url: str
) -> None:
    a, b = nodes["a"], nodes["b"]
    a.relay.offer(_pop(0))
    await wait_for(lambda: len(b.heard) == 1, what="B hears the first event")
    await _terminate(pg_url, b.relay.backend_pid)
    await wait_for(lambda: not b.relay.connected, what="B sees its connection gone")
    for i in range(1, 6):  # B is away (it waits a second before dialling again)
        a.relay.offer(_pop(i))
    await wait_for(lambda: a.relay.backlog_empty, what="A sent the five")
    await wait_for(lambda: b.relay.connected, what="B connected again")
    for i in range(6, 9):
        a.relay.offer(_pop(i))
    await wait_for(lambda: len(b.heard) == 4, what="B hears the later events")
    assert [e["n"] for e in b.heard] == [0, 6, 7, 8]
    assert (b.relay.lost_in, b.relay.reconnects) == (5, 1)
    assert b.gaps >= 1  # its desks were told to resync
    assert b.relay.health()["lost"] == 5 and b.relay.health()["ok"]


async def test_given_as_backend_terminated_when_it_publishes_meanwhile_then_b_hears_all_once_it_is_back(
    nodes: dict[str, Node], pg_url: str
) -> None:
    a, b = nodes["a"], nodes["b"]
    a.relay.backoff_s = (1.0, 1.0)
    await _terminate(pg_url, a.relay.backend_pid)
    await wait_for(lambda: not a.relay.connected, what="A sees its connection gone")
    sent = [_pop(i) for i in range(50)]
    for event in sent:
        a.relay.offer(event)
    assert not a.relay.backlog_empty  # queued while away
    await wait_for(lambda: len(b.heard) >= 50, timeout=10, what="B hears A's backlog")
    assert b.heard == sent
    assert (b.relay.lost, a.relay.lost, a.relay.reconnects) == (0, 0, 1)


async def test_given_a_batch_postgresql_refuses_when_sent_then_it_is_dropped_counted_and_later_events_flow(
    nodes: dict[str, Node], pg_url: str
) -> None:
    b = nodes["b"]
    long_name = "n" * 130  # longer than bus_spill.sender: its spilled row is refused (22001)
    sender = BusRelay(
        pg_url,
        node=long_name,
        encode=lambda e: json.dumps(e).encode(),
        decode=lambda e: e,
        deliver=lambda _s, _e: None,
    )
    await sender.start()
    try:
        await sender.wait_up()
        sender.offer({"big": "x" * 9000})
        await wait_for(lambda: sender.dropped == 1, what="the refused batch dropped")
        sender.offer(_pop(1))
        await wait_for(lambda: len(b.heard) == 1, what="B hears the next event")
        assert b.heard == [_pop(1)] and sender.connected
    finally:
        await sender.stop()


async def test_given_spilled_rows_of_a_node_gone_for_good_when_another_sends_then_it_sweeps_the_expired_ones(
    nodes: dict[str, Node], pg_url: str
) -> None:
    a = nodes["a"]
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        insert = (
            "INSERT INTO bus_spill (sender, seq, payload, created_at)"
            " VALUES ($1, $2, '{}', now() - $3::interval)"
        )
        await conn.execute(insert, "gone/1", 1, timedelta(seconds=SPILL_KEEP_S + 60))
        await conn.execute(insert, "gone/1", 2, timedelta(seconds=1))
        a.relay.offer(_pop(1))
        await wait_for(lambda: a.relay.sent >= 1, what="A's first send")
        assert (
            await conn.fetchval("SELECT count(*) FROM bus_spill WHERE sender = 'gone/1'") == 2
        )  # not yet due
        a.relay._swept -= SPILL_KEEP_S  # its last sweep a keep period ago (the clock is not waited for)
        a.relay.offer(_pop(2))

        async def swept() -> bool:
            return await conn.fetchval("SELECT count(*) FROM bus_spill WHERE sender = 'gone/1'") == 1

        await wait_for(swept, what="the expired row swept")
        assert await conn.fetchval("SELECT seq FROM bus_spill WHERE sender = 'gone/1'") == 2
    finally:
        await conn.execute("DELETE FROM bus_spill WHERE sender = 'gone/1'")
        await conn.close()


async def test_given_a_relay_up_when_its_session_is_read_then_its_notifies_do_not_wait_for_the_disk(
    nodes: dict[str, Node],
) -> None:
    relay = nodes["a"].relay
    conn = relay._conn  # its own session: a setting of another session cannot be read from outside
    assert conn is not None
    async with relay._lock:
        assert await conn.fetchval("SHOW synchronous_commit") == "off"
