"""Calls whose caller ID holds CR/LF in every shape, recorded from Asterisk 16 with SIPp
(tests/cti/pbx/scenarios.py, CRLF_CALLERS): each is still offered, queued, rung, answered or abandoned,
and closed, with the number read as unusable and no forged line reaching the tracker."""

from __future__ import annotations

import pytest

from cti.events import (
    AgentRingEnded,
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallLeftQueue,
    CallOffered,
    CallQueued,
    Direction,
)
from tests.cti.pbx.scenarios import CRLF_CALLERS
from tests.cti.transcripts import of_type, raw, replay

AGENT = "PJSIP/agent1"


@pytest.mark.parametrize(
    ("scenario", "number", "name", "answered"), [(s, *c) for s, c in CRLF_CALLERS.items()]
)
@pytest.mark.parametrize("chunk", [0, 7])
def test_given_a_caller_id_with_cr_or_lf_when_the_recorded_call_is_replayed_then_it_is_tracked_to_its_end(
    scenario, number, name, answered, chunk
):
    tracker, events = replay(raw(scenario), chunk=chunk)

    (offered,) = of_type(events, CallOffered)
    assert (offered.direction, offered.called_number) == (Direction.inbound, "5551000")
    # a number that held CR/LF is unusable; a name's CR (escaped by Asterisk) reads as a space
    assert offered.caller.number == (None if "%0" in number else number)
    assert offered.caller.name == " ".join(name.split())
    linkedid = offered.linkedid
    (queued,) = of_type(events, CallQueued)
    assert (queued.linkedid, queued.queue, queued.position) == (linkedid, "support", 1)
    (ring,) = of_type(events, AgentRinging)
    assert (ring.linkedid, ring.agent, ring.queue) == (linkedid, AGENT, "support")
    (left,) = of_type(events, CallLeftQueue)
    assert left.reason == ("answered" if answered else "abandoned")
    answers = of_type(events, CallAnswered)
    assert [(a.linkedid, a.agent) for a in answers] == ([(linkedid, AGENT)] if answered else [])
    if not answered:
        assert [(e.agent, e.reason) for e in of_type(events, AgentRingEnded)] == [(AGENT, "cancel")]
    (ended,) = of_type(events, CallEnded)
    rec = ended.record
    assert (rec.linkedid, rec.outcome, rec.queue, rec.agents_rung) == (
        linkedid,
        "answered" if answered else "abandoned",
        "support",
        (AGENT,),
    )
    assert rec.agent == (AGENT if answered else None)
    # the agent's leg is closed and the agent is free again (then logged out by the scenario)
    assert tracker.calls == {} and tracker.legs == {}
    assert tracker.agents[AGENT].linkedid is None
    states = [e.state for e in of_type(events, AgentStateChanged) if e.agent == AGENT]
    assert AgentState.ringing in states and states[-1] is AgentState.logged_out
    assert not any(s in repr(events) for s in ("forged", "<injected>", "\\r", "\\n"))
    if "%0" in number:
        assert "Fake" not in repr(events)


@pytest.mark.parametrize("scenario", list(CRLF_CALLERS))
def test_given_a_recorded_caller_id_with_cr_or_lf_when_read_then_no_genuine_event_is_dropped(scenario):
    from cti.ami_wire import AmiEvent, AmiReader

    reader = AmiReader()
    events = [m for m in reader.feed(raw(scenario)) if isinstance(m, AmiEvent)]
    assert set(reader.dropped) <= {"injected", "injected_lines"}
    # every event Asterisk sent is read (these calls forge lines, not whole events)
    assert len(events) == raw(scenario).count(b"\r\n\r\nEvent: ")
