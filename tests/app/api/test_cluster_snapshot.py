"""Two Plateau nodes on one PostgreSQL with the bus on: a socket that connects to node B after node A's PBX
began a call is shown it in its snapshot (the agent's state on their desk; the agent and the call on their
supervisor's wallboard and in /supervisor/live), what A sent after its last full state follows the
snapshot, and a node that goes away has its entries dropped after the bound. A's tracker is fed a recorded
Asterisk transcript (a queue call answered by agent1), as its AMI link would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from fastapi import FastAPI

from core.models import Role
from cti.ami_wire import AmiEvent, AmiReader
from tests.app.api.cluster_nodes import next_of, node_settings, seed_people, serve_node
from tests.conftest import wait_for
from tests.cti.transcripts import raw

pytestmark = pytest.mark.db

AGENT = "PJSIP/agent1"


def _transcript() -> tuple[list[AmiEvent], list[AmiEvent]]:
    """answered_queue_call.ami cut where the call is up and agent1 on it: (until then, the rest)."""
    events = [m for m in AmiReader().feed(raw("answered_queue_call")) if isinstance(m, AmiEvent)]
    cut = next(i for i, e in enumerate(events) if e.name == "HangupRequest")
    return events[:cut], events[cut:]


async def _seed(url: str) -> dict[str, str]:
    """agent1 and their team's supervisor, a supervisor of another team; their API tokens."""
    return await seed_people(
        url,
        [
            ("agent", Role.agent, "Équipe A", "agent1"),
            ("supervisor", Role.supervisor, "Équipe A", "sup1"),
            ("other", Role.supervisor, "Équipe B", None),
        ],
    )


Nodes = tuple[FastAPI, FastAPI, str, dict[str, str]]


@contextlib.asynccontextmanager
async def _two_nodes(url: str, tmp: Path, every_s: float) -> AsyncIterator[Nodes]:
    """A and B on one fresh database, each sending its full state every `every_s` and when asked."""
    tokens = await _seed(url)
    more = {"cluster_bus": True, "cluster_state_every_s": every_s}
    async with (
        serve_node(node_settings(url, "node-a", tmp, **more)) as (app_a, _url_a),
        serve_node(node_settings(url, "node-b", tmp, **more)) as (app_b, url_b),
    ):
        for app in (app_a, app_b):
            await app.state.bus_relay.wait_up()
        yield app_a, app_b, url_b, tokens


@pytest_asyncio.fixture
async def two_nodes(fresh_pg_url: str, tmp_path: Path) -> AsyncIterator[Nodes]:
    """A and B sending their full state only when asked (every 10 minutes otherwise)."""
    async with _two_nodes(fresh_pg_url, tmp_path, every_s=600.0) as nodes:
        yield nodes


async def _connect(url: str, token: str) -> tuple[websockets.ClientConnection, list[dict[str, Any]]]:
    ws = await websockets.connect(f"{url}/ws", additional_headers={"Authorization": f"Bearer {token}"})
    first = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert first["type"] == "snapshot"
    return ws, first["items"]


def _mirrored(app: FastAPI) -> int:
    return sum(origin["items"] for origin in app.state.cluster.health()["mirrored"])


def _of(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [i for i in items if i.get("type") == kind]


async def _call_up_on_a(app_a: FastAPI, app_b: FastAPI) -> None:
    """A's PBX answers a queue call on agent1; A sends its full state; B has mirrored it."""
    for event in _transcript()[0]:
        app_a.state.cti.consume(event)
    assert app_a.state.cti.tracker.calls  # the call is up on A
    app_a.state.cluster.send_state()
    await wait_for(lambda: _mirrored(app_b) > 0, what="A's full state mirrored on B")


async def test_given_a_call_up_on_a_when_desks_connect_to_b_then_their_snapshots_show_it(
    two_nodes: Nodes,
) -> None:
    app_a, app_b, url_b, tokens = two_nodes
    await _call_up_on_a(app_a, app_b)
    assert app_b.state.cti.tracker.calls == {}  # B's own PBX knows nothing of it

    desk, items = await _connect(url_b, tokens["agent"])
    await desk.close()
    [mine] = [i for i in _of(items, "agent_state_changed") if i["agent"] == AGENT]
    assert (mine["state"], mine["username"]) == ("on_call", "agent")
    assert _of(items, "call_live") == []  # calls are the supervisors'

    wallboard, items = await _connect(url_b, tokens["supervisor"])
    await wallboard.close()
    [agent] = [i for i in _of(items, "agent_state_changed") if i["agent"] == AGENT]
    assert agent["state"] == "on_call"
    [call] = _of(items, "call_live")
    assert call["agent"] == AGENT
    assert call["linkedid"] in app_a.state.cti.tracker.calls

    other, items = await _connect(url_b, tokens["other"])  # another team's supervisor: not their agent
    await other.close()
    assert [i["agent"] for i in _of(items, "agent_state_changed")] == []
    assert len(_of(items, "call_live")) == 1

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_b), base_url="http://b") as c:
        live = await c.get(
            "/api/v1/supervisor/live", headers={"Authorization": f"Bearer {tokens['supervisor']}"}
        )
    assert live.status_code == 200
    assert [i["linkedid"] for i in _of(live.json()["items"], "call_live")] == [call["linkedid"]]


async def test_given_a_call_ended_on_a_since_its_full_state_when_a_wallboard_joins_b_then_the_end_follows(
    two_nodes: Nodes,
) -> None:
    app_a, app_b, url_b, tokens = two_nodes
    await _call_up_on_a(app_a, app_b)
    heard = app_b.state.cluster.heard
    for event in _transcript()[1]:  # A sends no full state after this
        app_a.state.cti.consume(event)
    await wait_for(lambda: app_b.state.cluster.heard > heard, what="B heard A's call end")
    assert app_b.state.cluster.health()["mirrored"][0]["since"] > 0

    wallboard, items = await _connect(url_b, tokens["supervisor"])
    try:
        assert len(_of(items, "call_live")) == 1  # as of A's last full state ...
        ended = await next_of(wallboard, "call_ended", timeout=5)  # ... then what A sent since
        assert ended["agents"] == [AGENT]
    finally:
        await wallboard.close()


async def test_given_a_node_gone_silent_when_the_bound_passes_then_b_drops_its_entries(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    async with _two_nodes(fresh_pg_url, tmp_path, every_s=1.0) as (app_a, app_b, url_b, tokens):
        await _call_up_on_a(app_a, app_b)
        ws, items = await _connect(url_b, tokens["supervisor"])
        await ws.close()
        assert len(_of(items, "call_live")) == 1
        await app_a.state.bus_relay.stop()  # A cut from the bus without a word, as if it crashed
        await wait_for(lambda: _mirrored(app_b) == 0, timeout=10, what="A's entries dropped on B")
        ws, items = await _connect(url_b, tokens["supervisor"])
        await ws.close()
        assert _of(items, "call_live") == [] and _of(items, "agent_state_changed") == []


async def test_given_a_node_stopping_cleanly_when_it_leaves_then_b_drops_its_entries_at_once(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    async with _two_nodes(fresh_pg_url, tmp_path, every_s=600.0) as (app_a, app_b, _url_b, _tokens):
        await _call_up_on_a(app_a, app_b)
        await app_a.state.cluster.stop()  # what A's lifespan does on its way out
        await wait_for(lambda: _mirrored(app_b) == 0, timeout=5, what="A's entries dropped on B")
