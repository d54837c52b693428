"""Inbound calls through the real Asterisk with SIPp: pop while ringing, history, ring-no-answer, abandon."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.models import Call, Complaint, Interaction, utcnow
from tests.conftest import wait_for
from tests.cti.pbx.conftest import KNOWN_NUMBER, Plateau
from tests.cti.pbx.sipp import Caller, Sipp

pytestmark = pytest.mark.asterisk


async def _calls(p: Plateau) -> list[Call]:
    async with p.db.session() as s:
        return list((await s.scalars(select(Call).order_by(Call.id))).all())


async def _login(p: Plateau, user: str, *queues: str) -> None:
    async with p.client(user) as c:
        r = await c.post("/api/v1/agent/login", json={"queues": list(queues)})
        assert r.status_code == 204, r.text
    iface = f"PJSIP/{user}"
    await wait_for(
        lambda: (
            p.cti.tracker.agents.get(iface) is not None
            and set(queues) <= set(p.cti.tracker.agents[iface].queues)
        ),
        10,
        what=f"{user} logged in",
    )


async def test_given_a_known_caller_when_the_queue_rings_an_agent_then_that_agent_gets_the_pop_while_ringing(
    plateau: Plateau, sipp: Sipp
) -> None:
    agent1, agent2 = await plateau.ws("agent1"), await plateau.ws("agent2")
    sipp.agent(1, "answer", ring_ms=1500, talk_ms=1000)
    await _login(plateau, "agent1", "support")
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose Muller")], hold_ms=8000)

    await wait_for(lambda: agent1.pops(phase="ringing", partial=False), 10, what="the pop")
    pop = agent1.pops(phase="ringing", partial=False)[0]
    assert [(m["first_name"], m["last_name"], m["account"]["name"], m["tier"]) for m in pop["matches"]] == [
        ("José", "Müller", "Acme Industries", "vip")
    ]
    assert (pop["queue"], pop["dnis"], pop["caller"]["e164"]) == ("support", "5551000", "+33612345678")
    assert pop["caller"]["display"] == "06 12 34 56 78"
    async with plateau.client("agent1") as c:  # the REST view of the same state, for a desk that reloads
        me = await c.get("/api/v1/agent/me")
        assert me.status_code == 200 and me.json()["pop"]["linkedid"] == pop["linkedid"]
    # it arrived before the agent answered
    pop_at = next(t for t, m in agent1.messages if m.get("type") == "pop" and not m["partial"])
    await wait_for(lambda: agent1.of_type("call_answered"), 10, what="the answer")
    answered_at = next(t for t, m in agent1.messages if m.get("type") == "call_answered")
    assert pop_at < answered_at
    assert agent2.pops() == []  # an agent never receives another agent's pop

    await wait_for(lambda: plateau.cti.history.written >= 1, 15, what="the history row")
    (call,) = await _calls(plateau)
    assert (call.outcome, call.queue, call.agent_id, call.contact_id) == (
        "answered",
        "support",
        plateau.users["agent1"],
        plateau.users["contact"],
    )
    assert call.talk_s is not None and 0.5 < call.talk_s < 3
    async with plateau.db.session() as s:
        timeline = (await s.scalars(select(Interaction).where(Interaction.call_id == call.id))).all()
    assert [t.contact_id for t in timeline] == [plateau.users["contact"]]


async def test_given_a_caller_in_the_unhappy_file_when_the_queue_rings_an_agent_then_the_pop_has_the_badge(
    plateau: Plateau, sipp: Sipp
) -> None:
    async with plateau.db.session() as s:  # José has an open complaint: he is in the file
        s.add(
            Complaint(
                contact_id=plateau.users["contact"],
                category="billing",
                description="charged twice",
                ack_due_at=utcnow() + timedelta(days=10),
                answer_due_at=utcnow() + timedelta(days=60),
            )
        )
        await s.commit()
    async with plateau.client("boss") as c:  # reading the file refreshes what the pops see
        r = await c.get("/api/v1/unhappy")
        assert [m["name"] for m in r.json()] == ["Acme Industries"], r.text
    agent1 = await plateau.ws("agent1")
    sipp.agent(1, "answer", ring_ms=1500, talk_ms=500)
    await _login(plateau, "agent1", "support")
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose Muller")], hold_ms=4000)
    await wait_for(lambda: agent1.pops(phase="ringing", partial=False), 10, what="the pop")
    (match,) = agent1.pops(phase="ringing", partial=False)[0]["matches"]
    assert [(r["code"], r["count"]) for r in match["unhappy"]] == [("open_complaint", 1)]
    # the call ends (and its wrap-up pause is sent) before the next test logs agent1 in again
    await wait_for(lambda: plateau.cti.history.written >= 1, 15, what="the history row")


async def test_given_nobody_answers_when_the_caller_hangs_up_in_queue_then_the_call_is_recorded_abandoned(
    plateau: Plateau, sipp: Sipp
) -> None:
    sipp.agent(1, "noanswer")
    await _login(plateau, "agent1", "support")
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=2500)
    await wait_for(lambda: plateau.cti.history.written >= 1, 20, what="the history row")
    (call,) = await _calls(plateau)
    assert (call.outcome, call.answered_at, call.agent_id) == ("abandoned", None, None)
    assert call.wait_s is not None and call.wait_s > 1.5


async def test_given_the_first_agent_does_not_answer_when_ring_times_out_then_the_next_agent_gets_the_call(
    plateau: Plateau, sipp: Sipp
) -> None:
    agent1, agent2 = await plateau.ws("agent1"), await plateau.ws("agent2")
    sipp.agent(1, "noanswer")
    sipp.agent(2, "answer", ring_ms=500, talk_ms=1000)
    await _login(plateau, "agent1", "hotline")
    await _login(plateau, "agent2", "hotline")
    sipp.call([Caller(KNOWN_NUMBER, "5553000", "Jose")], hold_ms=15000)
    await wait_for(lambda: plateau.cti.history.written >= 1, 25, what="the history row")
    (call,) = await _calls(plateau)
    assert (call.outcome, call.agent_id) == ("answered", plateau.users["agent2"])
    assert [p["phase"] for p in agent1.pops()][-1] == "missed"
    assert agent2.pops(phase="answered")
