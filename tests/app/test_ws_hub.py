"""The WebSocket hub over a real uvicorn server and a real websockets client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
import websockets
from fastapi import FastAPI, WebSocket

from app.ws_hub import WAKE_SLICE, Hub
from core.bus import Message, Principal, ToAgent, ToAgentAndSupervisors, ToSupervisors
from tests.conftest import wait_for

ALICE = Principal(1, "alice", "agent", team_id=1, sip_endpoint="agent1")
BOB = Principal(2, "bob", "agent", team_id=1, sip_endpoint="agent2")
SUP = Principal(3, "sue", "supervisor", team_id=1)
PRINCIPALS = {p.username: p for p in (ALICE, BOB, SUP)}


@dataclass(frozen=True)
class ToUser:
    user_id: int

    def admits(self, who: Principal) -> bool:
        return who.user_id == self.user_id


@dataclass(frozen=True)
class ToRole:
    role: str

    def admits(self, who: Principal) -> bool:
        return who.role == self.role


@dataclass(frozen=True)
class Event:
    audience: Any
    body: str

    def to_wire(self) -> dict[str, Any]:
        return {"type": "event", "body": self.body}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _serving(hub: Hub) -> AsyncIterator[str]:
    app = FastAPI()
    who = {**PRINCIPALS, "boss": Principal(4, "boss", "supervisor", team_id=1, sip_endpoint="agent9")}

    @app.websocket("/ws/{name}")
    async def ws(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        await hub.serve(websocket, who[name])

    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, what="uvicorn start")
    yield f"ws://127.0.0.1:{port}/ws"
    server.should_exit = True
    await task


@pytest.fixture
async def served() -> AsyncIterator[tuple[Hub, str]]:
    async def snapshot(who: Principal) -> list[dict[str, Any]]:
        return [{"for": who.username}]

    hub = Hub(snapshot, heartbeat_s=0.2)
    async with _serving(hub) as url:
        yield hub, url


_PENDING: dict[int, list[dict[str, Any]]] = {}


async def _next(ws: websockets.ClientConnection, skip: tuple[str, ...] = ("heartbeat",)) -> dict[str, Any]:
    """The next event, in order, whether it came alone or in a batch frame."""
    pending = _PENDING.setdefault(id(ws), [])
    while True:
        if not pending:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            pending.extend(frame["items"] if frame["type"] == "batch" else [frame])
        msg = pending.pop(0)
        if msg["type"] not in skip:
            return dict(msg)


async def test_given_a_burst_of_events_when_sent_then_they_share_frames_and_keep_their_order(served) -> None:
    hub, url = served
    async with websockets.connect(f"{url}/alice") as a:
        await _next(a)
        await wait_for(lambda: hub.connections == 1, what="registered")
        for n in range(50):
            hub.publish(Event(ToUser(ALICE.user_id), f"event {n}"))
        bodies = [(await _next(a))["body"] for _ in range(50)]
        assert bodies == [f"event {n}" for n in range(50)]
        assert hub.sent < 50  # fewer frames than events


async def test_given_a_new_connection_when_it_opens_then_it_first_gets_its_own_snapshot(served) -> None:
    _hub, url = served
    async with websockets.connect(f"{url}/alice") as ws:
        msg = await _next(ws)
    assert msg["type"] == "snapshot" and msg["items"] == [{"for": "alice"}]


async def test_given_two_agents_when_a_pop_targets_one_then_the_other_never_receives_it(served) -> None:
    hub, url = served
    async with websockets.connect(f"{url}/alice") as a, websockets.connect(f"{url}/bob") as b:
        await _next(a), await _next(b)
        await wait_for(lambda: hub.connections == 2, what="both registered")
        assert hub.publish(Event(ToUser(ALICE.user_id), "pop for alice")) == 1
        hub.publish(Event(ToRole("agent"), "to all agents"))
        assert (await _next(a))["body"] == "pop for alice"
        assert (await _next(a))["body"] == "to all agents"
        assert (await _next(b))["body"] == "to all agents"  # bob's first delta is not alice's pop


async def test_given_an_idle_connection_when_time_passes_then_heartbeats_arrive(served) -> None:
    _hub, url = served
    async with websockets.connect(f"{url}/sue") as ws:
        await _next(ws)
        assert (await _next(ws, skip=()))["type"] == "heartbeat"


async def test_given_a_client_ping_when_sent_then_a_pong_comes_back(served) -> None:
    _hub, url = served
    async with websockets.connect(f"{url}/sue") as ws:
        await _next(ws)
        await ws.send("ping")
        assert (await _next(ws))["type"] == "pong"


async def test_given_a_client_that_never_reads_when_its_outbox_overflows_then_it_is_closed_to_resync(
    served, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, url = served
    async with websockets.connect(f"{url}/alice", max_queue=1) as ws:
        await _next(ws)
        await wait_for(lambda: hub.connections == 1, what="registered")
        big = "x" * 200_000
        for _ in range(3000):  # more than the outbox bound, faster than a non-reading client drains
            hub.publish(Event(ToUser(ALICE.user_id), big))
        await wait_for(lambda: hub.overflows == 1, what="overflow noticed")
        await wait_for(lambda: hub.connections == 0, timeout=10, what="slow connection dropped")


@pytest.fixture
async def slow_ticks() -> AsyncIterator[tuple[Hub, str]]:
    """A hub whose onlooker tick is far longer than any test wait: whatever arrives early came at once."""
    hub = Hub(heartbeat_s=60, tick_s=30)
    async with _serving(hub) as url:
        yield hub, url


def _msg(audience: Any, n: int) -> Message:
    return Message(audience, {"type": "event", "body": f"event {n}"})


async def test_given_a_wallboard_when_events_come_one_by_one_then_they_wait_for_the_tick_in_one_frame():
    hub = Hub(heartbeat_s=60, tick_s=0.2)
    async with _serving(hub) as url, websockets.connect(f"{url}/sue") as sue:
        await _next(sue)
        await wait_for(lambda: hub.connections == 1, what="registered")
        for n in range(3):
            hub.publish(_msg(ToSupervisors(), n))
            for _ in range(20):  # the loop runs between events: an immediate writer would send each alone
                await asyncio.sleep(0)
        frame = json.loads(await asyncio.wait_for(sue.recv(), 5))
    assert [m["body"] for m in frame["items"]] == ["event 0", "event 1", "event 2"]
    assert hub.sent == 1


async def test_given_an_agents_own_event_when_published_then_it_leaves_at_once_without_waiting_for_the_tick(
    slow_ticks,
) -> None:
    hub, url = slow_ticks
    async with websockets.connect(f"{url}/alice") as a, websockets.connect(f"{url}/sue") as sue:
        await _next(a), await _next(sue)
        await wait_for(lambda: hub.connections == 2, what="both registered")
        hub.publish(_msg(ToAgent("PJSIP/agent1"), 1))  # her pop
        hub.publish(_msg(ToAgentAndSupervisors("PJSIP/agent1", 1), 2))  # her state, also on the wallboard
        assert [(await _next(a))["body"] for _ in range(2)] == ["event 1", "event 2"]
        with pytest.raises(TimeoutError):  # the wallboard's copy waits for the (30 s) tick
            await asyncio.wait_for(sue.recv(), 0.5)


async def test_given_onlooker_events_waiting_when_an_own_event_comes_then_all_leave_together_in_order(
    slow_ticks,
) -> None:
    hub, url = slow_ticks
    async with websockets.connect(f"{url}/boss") as boss:  # a supervisor who also takes calls on agent9
        await _next(boss)
        await wait_for(lambda: hub.connections == 1, what="registered")
        hub.publish(_msg(ToSupervisors(), 1))
        hub.publish(_msg(ToAgentAndSupervisors("PJSIP/agent1", 1), 2))
        hub.publish(_msg(ToAgent("PJSIP/agent9"), 3))
        assert [(await _next(boss))["body"] for _ in range(3)] == ["event 1", "event 2", "event 3"]


async def test_given_a_wallboard_opened_after_an_event_when_the_tick_comes_then_it_gets_only_later_ones():
    hub = Hub(tick_s=60)  # ticked by hand below
    early = hub.attach(SUP)
    hub.publish(_msg(ToSupervisors(), 1))  # before the second wallboard took its snapshot
    late = hub.attach(Principal(5, "sam", "supervisor", team_id=1))
    hub.publish(_msg(ToSupervisors(), 2))
    hub.flush()
    bodies = {c: [m["body"] for m in json.loads(hub._frame(c))["items"]] for c in (early, late)}
    assert bodies == {early: ["event 1", "event 2"], late: ["event 2"]}


async def test_given_a_thousand_wallboards_when_an_event_is_published_then_it_is_queued_once_for_all():
    hub = Hub(tick_s=60)
    boards = [hub.attach(Principal(n, f"sup{n}", "supervisor", team_id=1)) for n in range(1000)]
    assert hub.publish(_msg(ToSupervisors(), 1)) == 1000
    assert all(b.outbox.empty() for b in boards)  # nothing per connection until the tick
    hub.flush()
    frames = {hub._frame(b) for b in boards}
    assert len(frames) == 1 and json.loads(frames.pop())["items"] == [{"type": "event", "body": "event 1"}]


async def test_given_many_wallboards_when_the_tick_wakes_them_then_other_work_gets_a_turn_in_between():
    hub = Hub(tick_s=60)
    loop = asyncio.get_running_loop()
    boards = [hub.attach(Principal(n, f"sup{n}", "supervisor", team_id=1)) for n in range(5 * WAKE_SLICE)]
    for b in boards:
        b.waiter = loop.create_future()  # each writer asleep on its empty outbox
    hub.publish(_msg(ToSupervisors(), 1))
    woken_when_answered: list[int] = []

    hub.flush()
    # a database answer for a ringing agent's pop, arriving while the wallboards are being woken
    loop.call_soon(lambda: woken_when_answered.append(sum(b.waiter.done() for b in boards)))

    assert sum(b.waiter.done() for b in boards) == WAKE_SLICE
    await wait_for(lambda: all(b.waiter.done() for b in boards), what="every wallboard woken")
    assert woken_when_answered == [2 * WAKE_SLICE]
