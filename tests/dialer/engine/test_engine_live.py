"""The live dialer engine with the real Asterisk; SIPp answers as customers (trunk) and as agents' phones."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.cti.pbx.capture import AmiRecorder
from tests.cti.pbx.conftest import KNOWN_NUMBER
from tests.cti.pbx.sipp import Sipp
from tests.dialer.engine.conftest import (
    IN_WINDOW,
    OUT_OF_WINDOW,
    SCRIPT,
    Live,
    customer,
    wait_for_async,
    wait_until,
)

pytestmark = pytest.mark.asterisk

KNOWN_E164 = "+33" + KNOWN_NUMBER[1:]  # José Müller, a contact of the seed


async def test_given_a_clock_outside_the_calling_window_when_the_campaign_runs_then_no_call_is_placed(
    live: Live,
) -> None:
    live.dialer.clock = lambda: OUT_OF_WINDOW
    await live.login(1)
    cid, _ = await live.campaign(["+33611000001", "+33611000002"])
    loop = await wait_until(lambda: live.dialer.loops.get(cid), what="the campaign loop")
    # three decisions that wanted a call (an agent is free) and found no lead it may dial now
    await wait_until(
        lambda: sum(1 for d in loop.decisions if d.get("allowed", 0) > 0) >= 3, what="three decisions"
    )
    assert all(d["selected"] == 0 for d in loop.decisions)
    assert live.originates() == []
    assert await live.attempts() == []


async def test_given_a_free_agent_when_the_customer_answers_then_the_agent_gets_the_call_with_the_leads_pop(
    live: Live, sipp: Sipp
) -> None:
    sipp.customer("answer", ring_ms=300)
    sipp.agent(1, "answer", ring_ms=200, talk_ms=1500)
    ws = await live.p.ws("agent1")
    await live.login(1)
    cid, (lead_id,) = await live.campaign([KNOWN_E164])

    pop = await wait_until(
        lambda: next((p for p in ws.pops() if (p.get("dialer") or {}).get("lead_id") == lead_id), None),
        what="the lead's pop on agent1's desk",
    )
    assert pop["dialer"]["campaign_id"] == cid and pop["dialer"]["script"] == SCRIPT
    assert pop["dialer"]["fields"] == {"first_name": "Lead0"}
    assert pop["linkedid"] == live.originates()[0]["channel_id"]
    final = await wait_until(
        lambda: next((p for p in ws.pops(linkedid=pop["linkedid"]) if not p.get("partial")), None),
        what="the full pop",
    )
    assert [m["last_name"] for m in final["matches"]] == ["Müller"]  # the customer's number, not ours

    (attempt,) = await wait_for_async(lambda: live.attempts(lead_id), what="the attempt")
    assert attempt.result == "contact"
    assert attempt.agent_id == live.p.users["agent1"]
    assert attempt.answered_at is not None and attempt.agent_connected_at is not None
    assert (attempt.agent_connected_at - attempt.answered_at).total_seconds() <= 2
    lead = await live.lead(lead_id)
    assert (lead.status, lead.attempts, lead.next_attempt_at) == ("done", 1, None)
    assert len(live.originates()) == 1


@pytest.mark.parametrize(
    ("behaviour", "result", "delay"),
    [
        ("busy", "busy", timedelta(minutes=15)),
        ("congestion", "failed", timedelta(minutes=60)),
        ("noanswer", "no_answer", timedelta(minutes=120)),
    ],
)
async def test_given_a_customer_who_does_not_answer_when_dialled_then_the_outcome_and_retry_time_are_recorded(
    live: Live, sipp: Sipp, behaviour: str, result: str, delay: timedelta
) -> None:
    customer(sipp, behaviour)
    await live.login(1)
    _, (lead_id,) = await live.campaign(["+33611000010"])
    (attempt,) = await wait_for_async(lambda: live.attempts(lead_id), timeout=20, what="the attempt")
    assert attempt.result == result
    assert attempt.answered_at is None and attempt.agent_connected_at is None
    lead = await live.lead(lead_id)
    assert lead.status == "retry" and lead.attempts == 1
    assert lead.next_attempt_at is not None
    # retry delay counted from the end of the attempt (the injected clock plus the ringing time)
    assert IN_WINDOW + delay <= lead.next_attempt_at <= IN_WINDOW + delay + timedelta(seconds=15)
    assert len(live.originates()) == 1  # not dialled again before its retry time


async def test_given_no_agent_answers_when_a_person_picks_up_then_the_abandon_message_plays_and_it_counts(
    live: Live, sipp: Sipp
) -> None:
    sipp.customer("answer", ring_ms=200)
    sipp.agent(1, "noanswer")  # logged in and ready, but the phone is never picked up
    await live.login(1)
    cid, (lead_id,) = await live.campaign(["+33611000020"])
    (attempt,) = await wait_for_async(lambda: live.attempts(lead_id), timeout=25, what="the attempt")
    assert attempt.result == "dropped"
    assert attempt.answered_at is not None and attempt.agent_connected_at is None
    # the abandon message played before the hang-up (its content: test_messages_live.py)
    assert (attempt.ended_at - attempt.answered_at).total_seconds() >= 4
    lead = await live.lead(lead_id)
    assert lead.next_attempt_at is not None and lead.next_attempt_at >= IN_WINDOW + timedelta(hours=72)

    async with live.p.client("manager") as http:
        monitor = await wait_for_async(
            lambda: _monitor_with_abandon(http, cid), what="the abandon on the campaign monitor"
        )
    assert (monitor["abandon_today"]["abandoned"], monitor["abandon_today"]["live"]) == (1.0, 1.0)
    assert monitor["abandon_period"]["rate_percent"] == 100.0
    assert monitor["results_today"] == {"dropped": 1}
    assert monitor["list_penetration"] == {"leads": 1, "dialled": 1, "percent": 100.0}
    assert monitor["decisions"] and "inputs" in monitor["decisions"][-1]


async def test_given_amd_when_the_analysis_is_not_sure_then_the_person_reaches_an_agent_late_and_it_counts(
    live: Live, sipp: Sipp, recorder: AmiRecorder
) -> None:
    sipp.customer("answer", ring_ms=200)  # SIPp sends no audio: AMD ends NOTSURE after its analysis time
    sipp.agent(1, "answer", ring_ms=200, talk_ms=1000)
    await live.login(1)
    cid, (lead_id,) = await live.campaign(["+33611000030"], amd=True)
    (attempt,) = await wait_for_async(lambda: live.attempts(lead_id), timeout=25, what="the attempt")
    assert b"UserEvent: AMDResult" in recorder.data and b"AMDStatus: NOTSURE" in recorder.data
    assert attempt.result == "contact" and not attempt.amd_machine
    assert attempt.agent_connected_at is not None and attempt.answered_at is not None
    # the analysis outlasts the 2-second rule: connected, yet abandoned by the TCPA definition
    assert (attempt.agent_connected_at - attempt.answered_at).total_seconds() > 2
    async with live.p.client("manager") as http:
        monitor = await wait_for_async(lambda: _monitor_with_abandon(http, cid), what="the monitor")
    assert monitor["results_today"] == {"contact": 1}


async def _monitor_with_abandon(http: object, cid: int) -> dict | None:
    r = await http.get(f"/api/v1/campaigns/{cid}/monitor")  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    body = r.json()
    return body if (body.get("abandon_today") or {}).get("abandoned") == 1.0 else None


async def test_given_a_dialling_campaign_when_it_is_paused_then_no_originate_follows_the_answer(
    live: Live, sipp: Sipp
) -> None:
    customer(sipp, "busy")
    await live.login(1)
    cid, _ = await live.campaign([f"+336110001{n:02d}" for n in range(30)])
    await wait_until(lambda: len(live.originates()) >= 2, what="two originates")
    loop = live.dialer.loops[cid]
    async with live.p.client("manager") as http:
        r = await http.post(f"/api/v1/campaigns/{cid}/transition", json={"to": "paused"})
        assert r.status_code == 200, r.text
        decided = loop.originated  # every originate the engine let out before the answer came back
        assert not loop.active
        await wait_until(lambda: len(live.originates()) >= decided, what="the decided originates on the wire")
        # the busy calls end (each wakes the loops) and the safety polls pass: still nothing new
        await wait_until(lambda: not live.dialer.calls, what="the calls in flight to end")
        await asyncio.sleep(3)
        assert len(live.originates()) == decided == loop.originated

        r = await http.post(f"/api/v1/campaigns/{cid}/transition", json={"to": "running"})
        assert r.status_code == 200, r.text
    await wait_until(lambda: len(live.originates()) > decided, timeout=5, what="an originate after resuming")


async def test_given_a_slow_safety_tick_when_an_agent_becomes_ready_then_the_campaign_dials_at_once(
    live: Live, sipp: Sipp
) -> None:
    live.dialer.tick_s = 120  # the safety net alone would not dial within the test's deadline
    customer(sipp, "busy")
    cid, _ = await live.campaign(["+33611000400", "+33611000401"])
    loop = await wait_until(lambda: live.dialer.loops.get(cid), what="the campaign loop")
    await wait_until(lambda: loop.decisions, what="a first decision with nobody logged in")
    assert live.originates() == []
    await live.login(1)  # AgentStateChanged on the CTI bus wakes the loop
    await wait_until(lambda: live.originates(), timeout=10, what="an originate after the agent's login")


async def test_given_calls_in_flight_when_asterisk_restarts_then_no_lead_is_dialled_twice(
    live: Live, sipp: Sipp
) -> None:
    live.dialer.ring_s = 8
    sipp.customer("noanswer")
    await live.login(1)
    numbers = [f"+336110002{n:02d}" for n in range(6)]
    _, lead_ids = await live.campaign(numbers)
    await wait_until(lambda: live.dialer.calls, what="a call in flight")
    await asyncio.sleep(1)
    before = len(live.originates())
    await asyncio.to_thread(live.pbx.restart)
    assert await live.p.cti.link.wait_ready(30)
    # the campaign goes on after the restart with the next lead
    await wait_until(
        lambda: len(live.originates()) > before, timeout=20, what="an originate after the restart"
    )
    await wait_for_async(
        lambda: _attempts_of(live, lead_ids[0]), timeout=15, what="the interrupted call's attempt"
    )
    sent = live.originates()
    assert len({o["channel_id"] for o in sent}) == len(sent)  # no Originate was resent
    dialled = [o["number"] for o in sent]
    assert len(set(dialled)) == len(dialled), dialled  # no lead dialled twice
    (first,) = await live.attempts(lead_ids[0])
    assert first.result == "failed"
    lead = await live.lead(lead_ids[0])
    assert lead.status == "retry" and lead.next_attempt_at is not None


async def _attempts_of(live: Live, lead_id: int) -> list:
    return await live.attempts(lead_id)
