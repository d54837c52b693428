"""Two Plateau nodes on one PostgreSQL database with the bus between nodes on (`cluster_bus`): the screen-pop
node A makes for a ringing agent reaches that agent's WebSocket on node B, and a supervisor's wallboard on B
follows A's agent states; B's desks resync when its bus connection was cut; a node on SQLite, or without
`cluster_bus`, has no relay and says so in /healthz."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
import websockets
from fastapi import FastAPI

from app import migrate
from app.cluster_bus import RESYNC_CLOSE
from core.bus_relay import asyncpg_dsn
from core.models import Role
from core.settings import Settings
from cti.events import AgentRinging, AgentState, AgentStateChanged, CallerId
from tests.app.api.cluster_nodes import next_of, node_settings, seed_people, serve_node
from tests.pg import fresh_database

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def pg_url(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server) as url:
        migrate.upgrade(url)
        yield url


async def _seed(url: str) -> dict[str, str]:
    """An agent (phone `ep-agent`) and a supervisor of the same team; their API tokens."""
    return await seed_people(
        url,
        [
            ("agent", Role.agent, "Équipe A", "ep-agent"),
            ("supervisor", Role.supervisor, "Équipe A", "ep-supervisor"),
        ],
    )


async def _socket(url: str, token: str) -> websockets.ClientConnection:
    ws = await websockets.connect(f"{url}/ws", additional_headers={"Authorization": f"Bearer {token}"})
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "snapshot"
    return ws


Nodes = tuple[FastAPI, str, FastAPI, str, dict[str, str]]


@pytest_asyncio.fixture
async def two_nodes(fresh_pg_url: str, tmp_path: Path) -> AsyncIterator[Nodes]:
    """Nodes A and B on one database, each with its relay connected; the users' tokens."""
    tokens = await _seed(fresh_pg_url)
    async with (
        serve_node(node_settings(fresh_pg_url, "node-a", tmp_path, cluster_bus=True)) as (app_a, url_a),
        serve_node(node_settings(fresh_pg_url, "node-b", tmp_path, cluster_bus=True)) as (app_b, url_b),
    ):
        for app in (app_a, app_b):
            await app.state.bus_relay.wait_up()
        yield app_a, url_a, app_b, url_b, tokens


async def test_given_two_nodes_when_a_pops_an_agent_connected_to_b_then_b_sends_the_pop_to_that_agent(
    two_nodes: Nodes,
) -> None:
    app_a, _url_a, app_b, url_b, tokens = two_nodes
    desk = await _socket(url_b, tokens["agent"])
    wallboard = await _socket(url_b, tokens["supervisor"])
    try:
        caller = CallerId("+33612345678", "Zoé Martin", False)
        app_a.state.cti.bus.publish(
            AgentRinging(
                "1733580000.42", "PJSIP/ep-agent", "PJSIP/ep-agent-0000002a", "support", caller, "3900", 1.0
            )
        )
        pop = await next_of(desk, "pop")
        assert (pop["linkedid"], pop["agent"], pop["phase"]) == ("1733580000.42", "PJSIP/ep-agent", "ringing")
        assert pop["caller"]["number"] == "+33612345678"

        app_a.state.cti.bus.publish(
            AgentStateChanged("PJSIP/ep-agent", AgentState.on_call, None, 2.0, ("support",), "1733580000.42")
        )
        state = await next_of(wallboard, "agent_state_changed")
        assert (state["agent"], state["state"], state["username"]) == ("PJSIP/ep-agent", "on_call", "agent")
        assert app_a.state.bus_relay.sent >= 2 and app_b.state.bus_relay.received >= 2
        assert app_a.state.cluster.heard == 0  # B published nothing for browsers; A never hears its own
    finally:
        await desk.close()
        await wallboard.close()


async def test_given_two_nodes_when_healthz_is_asked_then_it_shows_the_bus(
    two_nodes: Nodes,
) -> None:
    app_a = two_nodes[0]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_a), base_url="http://plateau.test"
    ) as c:
        body = (await c.get("/healthz")).json()
    assert body["bus"]["ok"] and body["bus"]["node"].startswith("node-a/")
    assert {"sent", "received", "lost", "reconnects", "backlog"} <= set(body["bus"])


@pytest.fixture(params=["sqlite", "postgresql"])
def solo(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A single node's settings: on SQLite `cluster_bus` is ignored; on PostgreSQL it is left off."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
        migrate.upgrade(url)
        return node_settings(url, "solo", tmp_path, cluster_bus=True)
    return node_settings(request.getfixturevalue("pg_url"), "solo", tmp_path)


async def test_given_a_single_node_when_it_starts_then_no_relay_and_healthz_says_so(solo: Settings) -> None:
    async with serve_node(solo) as (app, _url):
        assert app.state.bus_relay is None and app.state.cluster is None  # no mirror, no frames
        assert app.state.cti.hub is app.state.hub  # the CTI publishes straight to the hub
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            assert (await c.get("/healthz")).json()["bus"] == {"ok": True, "cluster": False}


async def test_given_bs_bus_connection_cut_when_it_is_back_then_bs_desks_are_closed_to_resync_from_a_snapshot(
    two_nodes: Nodes, fresh_pg_url: str
) -> None:
    _app_a, _url_a, app_b, url_b, tokens = two_nodes
    desk = await _socket(url_b, tokens["agent"])
    relay = app_b.state.bus_relay
    conn = await asyncpg.connect(asyncpg_dsn(fresh_pg_url))
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", relay.backend_pid)
    finally:
        await conn.close()
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(desk.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == RESYNC_CLOSE[0]
    assert relay.connected and relay.reconnects == 1
    await (await _socket(url_b, tokens["agent"])).close()  # it reconnects to a fresh snapshot
