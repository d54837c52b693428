"""Agent controls over REST against the real Asterisk, each seen back as events on the agent's WebSocket."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets
from sqlalchemy import select

from core.models import Call, Interaction, InteractionKind
from cti.events import AgentState
from cti.pbx_process import PrivateAsterisk, phone_address
from tests.conftest import wait_for
from tests.cti.pbx.conftest import KNOWN_NUMBER, Plateau
from tests.cti.pbx.sipp import Caller, Sipp, register_phone, unregister_phone
from tests.cti.pbx.test_cti_calls import _calls, _login

pytestmark = pytest.mark.asterisk


def _state(p: Plateau, user: str) -> AgentState | None:
    agent = p.cti.tracker.agents.get(f"PJSIP/{user}")
    return agent.state if agent else None


async def test_given_a_logged_in_agent_when_pausing_with_a_reason_then_ready_then_logout_the_states_follow(
    plateau: Plateau,
) -> None:
    ws = await plateau.ws("agent1")
    await _login(plateau, "agent1", "support", "sales")
    async with plateau.client("agent1") as c:
        assert (await c.post("/api/v1/agent/pause", json={"reason": "lunch"})).status_code == 204
        await wait_for(lambda: _state(plateau, "agent1") is AgentState.paused, 10, what="paused")
        bad = await c.post("/api/v1/agent/pause", json={"reason": "nap"})
        assert bad.status_code == 422 and "reason" in bad.text
        assert (await c.post("/api/v1/agent/ready")).status_code == 204
        await wait_for(lambda: _state(plateau, "agent1") is AgentState.ready, 10, what="ready")
        refused = await c.post("/api/v1/agent/login", json={"queues": ["vip-only"]})
        assert refused.status_code == 403
        assert (await c.post("/api/v1/agent/logout")).status_code == 204
        await wait_for(lambda: _state(plateau, "agent1") is AgentState.logged_out, 10, what="logged out")
    states = [(m["state"], m["reason"]) for m in ws.of_type("agent_state_changed")]
    assert ("paused", "lunch") in states and states[-1] == ("logged_out", None)
    assert all(m["username"] == "agent1" for m in ws.of_type("agent_state_changed"))


async def test_given_an_answered_call_when_it_ends_then_wrap_up_lasts_until_the_disposition_is_saved(
    plateau: Plateau, sipp: Sipp
) -> None:
    plateau.cti.settings.wrapup_timeout_s = 0  # until the disposition
    sipp.agent(1, "answer", ring_ms=300, talk_ms=800)
    await _login(plateau, "agent1", "support")
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=8000)
    await wait_for(
        lambda: (
            _state(plateau, "agent1") is AgentState.wrap_up
            and plateau.cti.tracker.agents["PJSIP/agent1"].queues.get("support", (False,))[0]
        ),
        20,
        what="wrap-up pause in Asterisk",
    )
    await wait_for(lambda: plateau.cti.history.written >= 1, 10, what="history")
    (call,) = await _calls(plateau)
    async with plateau.client("agent1") as c:
        bad = await c.post(f"/api/v1/agent/calls/{call.linkedid}/disposition", json={"code": "nope"})
        assert bad.status_code == 422
        r = await c.post(
            f"/api/v1/agent/calls/{call.linkedid}/disposition",
            json={"code": "resolved", "notes": "<script>x</script> réglé"},
        )
        assert r.status_code == 201, r.text
    await wait_for(lambda: _state(plateau, "agent1") is AgentState.ready, 10, what="ready after disposition")
    async with plateau.db.session() as s:
        entry = (
            await s.scalars(select(Interaction).where(Interaction.kind == InteractionKind.disposition))
        ).one()
        row = (await s.scalars(select(Call))).one()
    assert (entry.contact_id, entry.disposition_code, entry.body) == (
        plateau.users["contact"],
        "resolved",
        "<script>x</script> réglé",
    )
    assert row.wrap_s is not None and row.wrap_s >= 0


async def test_given_an_agent_when_clicking_to_call_then_their_phone_rings_first_and_the_customer_pops(
    plateau: Plateau, sipp: Sipp
) -> None:
    ws = await plateau.ws("agent2")
    sipp.agent(2, "answer", ring_ms=200)
    sipp.customer("answer", ring_ms=500, talk_ms=1500)
    async with plateau.client("agent2") as c:
        bad = await c.post("/api/v1/agent/dial", json={"number": "06 12 ab"})
        assert bad.status_code == 422
        r = await c.post("/api/v1/agent/dial", json={"number": "06 12 34 56 78"})
        assert r.status_code == 200, r.text
        linkedid = r.json()["linkedid"]
    await wait_for(lambda: ws.pops(linkedid=linkedid, partial=False), 15, what="the outbound pop")
    pop = ws.pops(linkedid=linkedid, partial=False)[-1]
    assert [m["last_name"] for m in pop["matches"]] == ["Müller"]
    await wait_for(lambda: plateau.cti.history.written >= 1, 15, what="history")
    (call,) = await _calls(plateau)
    assert (call.linkedid, call.direction, call.outcome, call.called_number, call.agent_id) == (
        linkedid,
        "outbound",
        "answered",
        "+33612345678",
        plateau.users["agent2"],
    )


async def test_given_a_call_when_the_agent_transfers_it_blind_then_the_target_agent_gets_it_and_a_pop(
    plateau: Plateau, sipp: Sipp
) -> None:
    ws3 = await plateau.ws("agent3")
    sipp.agent(1, "answer", ring_ms=300)
    sipp.agent(3, "answer", ring_ms=300, talk_ms=1000)
    await _login(plateau, "agent1", "support")
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=20_000)
    await wait_for(lambda: _state(plateau, "agent1") is AgentState.on_call, 15, what="agent1 on the call")
    linkedid = plateau.cti.tracker.call_of_agent("PJSIP/agent1")
    async with plateau.client("agent3") as c:  # another agent may not touch agent1's call
        assert (await c.post(f"/api/v1/agent/calls/{linkedid}/hangup")).status_code == 404
    async with plateau.client("agent1") as c:
        r = await c.post(f"/api/v1/agent/calls/{linkedid}/transfer", json={"target": "7003", "mode": "blind"})
        assert r.status_code == 204, r.text
    await wait_for(lambda: ws3.pops(linkedid=linkedid, partial=False), 15, what="agent3's pop")
    await wait_for(lambda: plateau.cti.history.written >= 1, 20, what="history")
    (call,) = await _calls(plateau)
    assert (call.outcome, call.agent_id) == ("answered", plateau.users["agent1"])


async def test_given_a_call_on_hold_when_unheld_then_hold_time_is_counted_and_the_call_continues(
    plateau: Plateau, sipp: Sipp
) -> None:
    sipp.agent(1, "answer", ring_ms=300)
    await _login(plateau, "agent1", "support")
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=6000)
    await wait_for(lambda: _state(plateau, "agent1") is AgentState.on_call, 15, what="on call")
    linkedid = plateau.cti.tracker.call_of_agent("PJSIP/agent1")
    async with plateau.client("agent1") as c:
        assert (await c.post(f"/api/v1/agent/calls/{linkedid}/hold")).status_code == 204
        await wait_for(lambda: plateau.cti.tracker.calls[linkedid].hold_since is not None, 10, what="held")
        await asyncio.sleep(1.0)  # the customer listens to music for a while
        assert (await c.post(f"/api/v1/agent/calls/{linkedid}/unhold")).status_code == 204
        await wait_for(lambda: plateau.cti.tracker.calls[linkedid].hold_since is None, 10, what="unheld")
    await wait_for(lambda: plateau.cti.history.written >= 1, 20, what="history")
    (call,) = await _calls(plateau)
    assert call.outcome == "answered" and 0.8 < call.hold_s < 3


async def test_given_a_browser_when_connecting_to_ws_then_it_needs_credentials_and_gets_a_snapshot_first(
    plateau: Plateau,
) -> None:
    url = plateau.url.replace("http", "ws") + "/ws"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(url) as ws:
            await ws.recv()
    await _login(plateau, "agent1", "support")
    boss = await plateau.ws("boss")
    await wait_for(lambda: boss.of_type("snapshot"), 5, what="snapshot")
    first = boss.messages[0][1]
    assert first["type"] == "snapshot"
    kinds = {i["type"] for i in first["items"]}
    assert {"agent_state_changed", "pbx_link"} <= kinds
    agent = await plateau.ws("agent2")
    await wait_for(lambda: agent.of_type("snapshot"), 5, what="agent snapshot")
    mine = [i for i in agent.of_type("snapshot")[0]["items"] if i["type"] == "agent_state_changed"]
    assert all(i["agent"] == "PJSIP/agent2" for i in mine)  # an agent's snapshot holds only their own state
    async with websockets.connect(
        url,
        additional_headers={
            "Authorization": f"Bearer {plateau.tokens['agent1']}",
            "Origin": "http://evil.example",
        },
    ) as ws:
        msg = json.loads(await ws.recv())  # bearer tokens are not ambient: no origin check needed
        assert msg["type"] == "snapshot"


async def test_given_a_session_cookie_when_another_site_opens_the_ws_then_it_is_refused(
    plateau: Plateau,
) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=plateau.url) as c:
        r = await c.post("/api/v1/auth/login", json={"username": "agent1", "password": "irrelevant-password"})
        assert r.status_code == 200, r.text
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    url = plateau.url.replace("http", "ws") + "/ws"
    host = plateau.url.split("://", 1)[1]
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            url, additional_headers={"Cookie": cookie, "Origin": "http://evil.example"}
        ):
            pass
    async with websockets.connect(
        url, additional_headers={"Cookie": cookie, "Origin": f"http://{host}"}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
async def test_given_an_agent_on_a_call_when_the_supervisor_spies_then_their_phone_joins_with_chanspy(
    plateau: Plateau, sipp: Sipp, recorder, mode: str
) -> None:
    sipp.agent(1, "answer", ring_ms=300)
    sipp.supervisor(1)
    await _login(plateau, "agent1", "support")
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=8000)
    await wait_for(lambda: _state(plateau, "agent1") is AgentState.on_call, 15, what="on call")
    async with plateau.client("agent2") as c:  # agents may not spy
        assert (await c.post("/api/v1/supervisor/spy", json={"agent": "PJSIP/agent1"})).status_code == 403
    async with plateau.client("boss") as c:
        r = await c.post("/api/v1/supervisor/spy", json={"agent": "PJSIP/agent1", "mode": mode})
        assert r.status_code == 200, r.text
    await wait_for(lambda: b"Event: ChanSpyStart" in recorder.data, 15, what="ChanSpyStart")
    start = recorder.data[recorder.data.index(b"Event: ChanSpyStart") :].split(b"\r\n\r\n")[0]
    assert b"SpyerChannel: PJSIP/supervisor1-" in start and b"SpyeeChannel: PJSIP/agent1-" in start
    await wait_for(lambda: plateau.cti.history.written >= 2, 20, what="history")
    calls = {c.direction: c for c in await _calls(plateau)}
    assert calls["inbound"].outcome == "answered"  # the supervision did not change the customer call's story
    assert calls["internal"].linkedid.startswith("spy-")  # and is on record itself


async def test_given_state_changes_when_logged_then_the_state_time_report_has_closed_periods(
    plateau: Plateau,
) -> None:
    from core.models import AgentStateLog

    await _login(plateau, "agent5", "support")
    async with plateau.client("agent5") as c:
        assert (await c.post("/api/v1/agent/pause", json={"reason": "lunch"})).status_code == 204
        await wait_for(lambda: _state(plateau, "agent5") is AgentState.paused, 10, what="paused")
        assert (await c.post("/api/v1/agent/logout")).status_code == 204
        await wait_for(lambda: _state(plateau, "agent5") is AgentState.logged_out, 10, what="logged out")
    await plateau.cti.state_log.drain(10)
    async with plateau.db.session() as s:
        rows = (
            await s.scalars(
                select(AgentStateLog)
                .where(AgentStateLog.user_id == plateau.users["agent5"])
                .order_by(AgentStateLog.id)
            )
        ).all()
    states = [(r.state, r.reason) for r in rows]
    assert ("ready", None) in states and ("paused", "lunch") in states and states[-1] == ("logged_out", None)
    assert all(r.ended_at is not None for r in rows[:-1]) and rows[-1].ended_at is None


async def test_given_an_agents_phone_unregistered_when_a_call_comes_then_it_is_never_rung_nor_can_go_ready(
    plateau: Plateau, sipp: Sipp, pbx: PrivateAsterisk, tmp_path: Path
) -> None:
    cfg, away = pbx.cfg, phone_address("agent", 5)
    ws5, ws4 = await plateau.ws("agent5"), await plateau.ws("agent4")
    sipp.agent(4, "answer", ring_ms=300, talk_ms=1500)
    await _login(plateau, "agent5", "support")
    await _login(plateau, "agent4", "support")
    unregister_phone(cfg, "agent5", away, cfg.phone_port, tmp_path)  # the softphone is switched off
    try:
        await wait_for(
            lambda: plateau.cti.tracker.agents["PJSIP/agent5"].registered is False,
            10,
            what="agent5 unregistered",
        )
        assert [m["registered"] for m in ws5.of_type("phone_registration")][-1] is False  # the desk is told
        sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=6000)
        await wait_for(lambda: ws4.pops(phase="answered"), 20, what="agent4 answers the call")
        assert ws5.pops() == [] and ws5.of_type("agent_ringing") == []  # no INVITE into the void
        async with plateau.client("agent5") as c:
            r = await c.post("/api/v1/agent/ready")
            assert r.status_code == 409 and "your phone (agent5) is not registered" in r.text, r.text
            assert (await c.post("/api/v1/agent/logout")).status_code == 204
            await wait_for(lambda: _state(plateau, "agent5") is AgentState.logged_out, 10, what="logged out")
            r = await c.post("/api/v1/agent/login", json={"queues": ["support"]})
            assert r.status_code == 409 and "not registered" in r.text, r.text
        assert _state(plateau, "agent5") is AgentState.logged_out  # nothing was sent to Asterisk
    finally:
        register_phone(cfg, "agent5", away, cfg.phone_port, tmp_path)  # as the module's other tests expect
    await wait_for(lambda: plateau.cti.tracker.agents["PJSIP/agent5"].registered, 10, what="registered again")
    since = [m for m in ws5.of_type("phone_registration") if m["registered"]][-1]["since"]
    assert since is not None  # the desk shows since when
