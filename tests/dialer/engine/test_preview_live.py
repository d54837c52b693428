"""Preview dialling with the real Asterisk: the agent sees the lead, clicks, their phone rings first, then
the customer's (SIPp plays both); the rules are checked again at the click."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from core.dialer_tables import DialerCall, DialMode, DncEntry, DncKind, DncList
from tests.cti.pbx.sipp import Sipp
from tests.dialer.engine.conftest import OUT_OF_WINDOW, SCRIPT, Live, customer, wait_for_async, wait_until

pytestmark = pytest.mark.asterisk

NUMBERS = ["+33611000501", "+33611000502", "+33611000503"]


async def _preview(live: Live, agent: str) -> dict[str, Any] | None:
    async with live.p.client(agent) as http:
        r = await http.get("/api/v1/agent/preview")
    assert r.status_code == 200, r.text
    return r.json()


async def _post(live: Live, agent: str, lead_id: int, action: str) -> Any:
    async with live.p.client(agent) as http:
        return await http.post(f"/api/v1/agent/preview/{lead_id}/{action}")


async def test_given_two_ready_agents_when_they_preview_then_each_holds_a_different_lead_and_a_click_dials_it(
    live: Live, sipp: Sipp
) -> None:
    customer(sipp, "answer", ring_ms=300)
    sipp.agent(1, "answer", ring_ms=200, talk_ms=1500)
    ws = await live.p.ws("agent1")
    await live.login(1)
    await live.login(2)
    cid, lead_ids = await live.campaign(NUMBERS, mode=DialMode.preview)
    await wait_until(lambda: live.dialer.loops.get(cid), what="the campaign loop")

    first = await _preview(live, "agent1")
    second = await _preview(live, "agent2")
    assert first is not None and second is not None
    assert first["lead_id"] != second["lead_id"]
    assert first["campaign"] == {"id": cid, "name": first["campaign"]["name"], "script": SCRIPT}
    assert first["number"] in NUMBERS and first["number_display"].startswith("06 ")
    assert first["fields"]["first_name"].startswith("Lead") and first["name"] == first["fields"]["first_name"]
    assert (await _preview(live, "agent1"))["lead_id"] == first["lead_id"]  # held, not a new one
    assert live.originates() == []  # a preview campaign never dials by itself

    r = await _post(live, "agent1", first["lead_id"], "dial")
    assert r.status_code == 202, r.text
    linkedid = r.json()["linkedid"]
    (sent,) = live.originates()
    assert sent == {"channel_id": linkedid, "number": first["number"], "channel": "PJSIP/agent1"}
    pop = await wait_until(
        lambda: next((p for p in ws.pops(linkedid=linkedid) if p.get("dialer")), None), what="agent1's pop"
    )
    assert pop["dialer"]["lead_id"] == first["lead_id"]
    (attempt,) = await wait_for_async(lambda: live.attempts(first["lead_id"]), timeout=20, what="the attempt")
    assert attempt.result == "contact" and attempt.agent_id == live.p.users["agent1"]
    # the agent was on the line before the customer answered: no abandon by any definition
    assert attempt.agent_connected_at is not None and attempt.answered_at is not None
    assert abs((attempt.agent_connected_at - attempt.answered_at).total_seconds()) < 1
    assert not await _dialer_rows(live)

    # the lead is gone from the hopper: skipping gives agent2 the last one, never agent1's
    r = await _post(live, "agent2", second["lead_id"], "skip")
    assert r.status_code == 204, r.text
    third = await _preview(live, "agent2")
    assert third is not None
    assert third["lead_id"] not in (first["lead_id"], second["lead_id"])
    assert set(lead_ids) == {first["lead_id"], second["lead_id"], third["lead_id"]}
    await asyncio.sleep(2.5)  # a safety tick of the preview campaign passes: it still dials nothing itself
    assert len(live.originates()) == 1


async def test_given_a_lead_held_by_another_agent_when_they_click_then_they_are_refused(live: Live) -> None:
    await live.login(1)
    await live.login(2)
    cid, _ = await live.campaign(NUMBERS[:1], mode=DialMode.preview)
    await wait_until(lambda: live.dialer.loops.get(cid), what="the campaign loop")
    held = await _preview(live, "agent1")
    assert held is not None
    assert await _preview(live, "agent2") is None  # the only lead is agent1's
    assert (await _post(live, "agent2", held["lead_id"], "dial")).status_code == 409
    assert (await _post(live, "agent2", held["lead_id"], "skip")).status_code == 404
    assert (await _post(live, "agent2", 2**62, "dial")).status_code == 409
    assert (await _post(live, "agent2", 0, "dial")).status_code == 422  # not a lead id
    await live.p.cti.pause("PJSIP/agent1", "lunch")
    await wait_until(lambda: live.p.cti.tracker.agents["PJSIP/agent1"].state.value == "paused", what="pause")
    assert await _preview(live, "agent1") is None  # only a ready agent previews
    assert (await _post(live, "agent1", held["lead_id"], "dial")).status_code == 409
    assert live.originates() == []


@pytest.mark.parametrize("change", ["clock_outside_the_window", "number_on_a_dnc_list"])
async def test_given_a_previewed_lead_when_the_rules_changed_before_the_click_then_no_call_is_placed(
    live: Live, change: str
) -> None:
    await live.login(1)
    cid, _ = await live.campaign(NUMBERS[:1], mode=DialMode.preview)
    await wait_until(lambda: live.dialer.loops.get(cid), what="the campaign loop")
    held = await _preview(live, "agent1")
    assert held is not None
    if change == "clock_outside_the_window":
        live.dialer.clock = lambda: OUT_OF_WINDOW
        reason = "outside_window"
    else:
        async with live.p.db.session() as s:
            dnc = DncList(name="internal", kind=DncKind.internal)
            s.add(dnc)
            await s.flush()
            s.add(DncEntry(dnc_list_id=dnc.id, e164=held["number"], reason="asked during the preview"))
            await s.commit()
        reason = "do_not_call"
    r = await _post(live, "agent1", held["lead_id"], "dial")
    assert r.status_code == 409 and reason in r.json()["detail"], r.text
    assert live.originates() == [] and await live.attempts() == []
    assert await _preview(live, "agent1") is None  # nothing else may be dialled either


async def _dialer_rows(live: Live) -> list[Any]:
    async with live.p.db.session() as s:
        return list(await s.scalars(select(DialerCall)))
