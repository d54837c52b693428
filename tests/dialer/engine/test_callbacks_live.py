"""Callbacks with the real Asterisk: an agent-only callback is offered to its owner alone (their phone rings
first), falls back to anyone after the campaign's delay, and due callbacks come before other leads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.dialer_tables import Callback, CallbackStatus, CampaignState, DialMode
from dialer.callbacks import schedule_callback
from tests.cti.pbx.sipp import Sipp
from tests.dialer.engine.conftest import IN_WINDOW, Live, wait_for_async, wait_until

pytestmark = pytest.mark.asterisk


async def _callback(
    live: Live, lead_id: int, cid: int, e164: str, owner: str | None, due_ago_min: int
) -> None:
    async with live.p.db.session() as s:
        await schedule_callback(
            s,
            number_e164=e164,
            contact_id=None,
            due_at=IN_WINDOW - timedelta(minutes=due_ago_min),
            tz="Europe/Paris",
            agent_id=live.p.users[owner] if owner else None,
            source="agent",
            lead_id=lead_id,
            campaign_id=cid,
        )
        await s.commit()


async def _callback_status(live: Live, lead_id: int) -> CallbackStatus:
    async with live.p.db.session() as s:
        return (await s.scalars(select(Callback.status).where(Callback.lead_id == lead_id))).one()


async def test_given_an_agent_only_callback_when_its_owner_is_ready_then_only_their_phone_is_offered_the_call(
    live: Live, sipp: Sipp
) -> None:
    sipp.customer("answer", ring_ms=300)
    sipp.agent(2, "answer", ring_ms=200, talk_ms=1000)
    ws = await live.p.ws("agent2")
    await live.login(1)
    await live.login(2)
    number = "+33611000601"
    cid, (lead_id,) = await live.campaign([number], state=CampaignState.draft, callback_fallback_minutes=30)
    await _callback(live, lead_id, cid, number, "agent2", due_ago_min=10)
    await live.set_state(cid, CampaignState.running)

    (attempt,) = await wait_for_async(
        lambda: live.attempts(lead_id), timeout=25, what="the callback's attempt"
    )
    (sent,) = live.originates()
    assert sent["channel"] == "PJSIP/agent2" and sent["number"] == number  # the owner's phone, not the queue
    assert attempt.result == "contact" and attempt.agent_id == live.p.users["agent2"]
    assert any((p.get("dialer") or {}).get("lead_id") == lead_id for p in ws.pops())
    assert await _callback_status(live, lead_id) is CallbackStatus.done
    assert (await live.lead(lead_id)).status == "done"


async def test_given_an_absent_owner_when_the_fallback_delay_passes_then_anyone_gets_the_callback(
    live: Live, sipp: Sipp
) -> None:
    sipp.customer("answer", ring_ms=300)
    sipp.agent(1, "answer", ring_ms=200, talk_ms=1000)
    await live.login(1)  # agent2, the owner, is not logged in
    number = "+33611000602"
    cid, (lead_id,) = await live.campaign([number], state=CampaignState.draft, callback_fallback_minutes=30)
    await _callback(live, lead_id, cid, number, "agent2", due_ago_min=10)
    await live.set_state(cid, CampaignState.running)
    loop = await wait_until(lambda: live.dialer.loops.get(cid), what="the campaign loop")
    # agent1 is free and the callback is due, yet it waits for its owner: three decisions select nothing
    await wait_until(
        lambda: sum(1 for d in loop.decisions if d.get("allowed", 0) > 0) >= 3, what="three decisions"
    )
    assert all(d["selected"] == 0 for d in loop.decisions)
    assert live.originates() == []

    live.dialer.clock = lambda: IN_WINDOW + timedelta(minutes=21)  # due 31 minutes ago: fallback is 30
    (attempt,) = await wait_for_async(lambda: live.attempts(lead_id), timeout=25, what="the attempt")
    (sent,) = live.originates()
    assert sent["channel"].startswith("Local/")  # through the queue, to whoever is free
    assert attempt.result == "contact" and attempt.agent_id == live.p.users["agent1"]
    assert await _callback_status(live, lead_id) is CallbackStatus.done


async def test_given_a_preview_campaign_when_callbacks_are_due_then_they_come_first_and_only_to_their_owner(
    live: Live,
) -> None:
    await live.login(1)
    await live.login(2)
    numbers = ["+33611000611", "+33611000612", "+33611000613"]
    cid, (plain, owned, anyones) = await live.campaign(
        numbers, state=CampaignState.draft, mode=DialMode.preview
    )
    await _callback(live, owned, cid, numbers[1], "agent2", due_ago_min=5)
    await _callback(live, anyones, cid, numbers[2], None, due_ago_min=1)
    await live.set_state(cid, CampaignState.running)
    await wait_until(lambda: live.dialer.loops.get(cid), what="the campaign loop")

    async def preview(agent: str) -> dict:
        async with live.p.client(agent) as http:
            r = await http.get("/api/v1/agent/preview")
        assert r.status_code == 200, r.text
        return r.json()

    first = await preview("agent1")  # agent2's callback is not for agent1; anyone's is, before plain leads
    assert first["lead_id"] == anyones and first["callback"]["agent_only"] is False
    second = await preview("agent2")
    assert second["lead_id"] == owned and second["callback"]["agent_only"] is True
    assert live.originates() == []
    assert plain not in (first["lead_id"], second["lead_id"])
