"""The notes of calls in progress (app/call_history.py): what a restarted Plateau writes for a call it did not
see end, and what it adds to a call it adopted from Asterisk."""

from __future__ import annotations

from typing import Any

import pytest

from app.call_history import UNOBSERVED, merge_note, note_event, record_from_note
from cti.events import CallAnswered, CallerId, CallOffered, CallQueued, CallRecord, Direction

CALLER = CallerId("0612345678", "José", False)


def _note(*events: Any, direction: Direction | None = None) -> dict[str, Any]:
    note: dict[str, Any] = {}
    for event in events:
        note_event(note, event, direction)
    return note


OFFERED = CallOffered("L1", Direction.inbound, CALLER, "5551000", 100.0)
QUEUED = CallQueued("L1", "support", 1, CALLER, 101.0)
ANSWERED = CallAnswered("L1", "PJSIP/agent1", "support", CALLER, 5.0, 106.0)


@pytest.mark.parametrize(
    ("events", "direction", "expected"),
    [
        (
            (OFFERED,),
            Direction.inbound,
            {
                "direction": "inbound",
                "caller_number": "0612345678",
                "caller_name": "José",
                "offered_at": 100.0,
                "called_number": "5551000",
            },
        ),
        (
            (OFFERED, QUEUED, ANSWERED),
            Direction.inbound,
            {
                "direction": "inbound",
                "caller_number": "0612345678",
                "caller_name": "José",
                "offered_at": 100.0,
                "called_number": "5551000",
                "queue": "support",
                "agent": "PJSIP/agent1",
                "answered_at": 106.0,
            },
        ),
        (  # a dialer call: first heard of when the agent answers
            (CallAnswered("D1", "PJSIP/agent2", "sales", CALLER, None, 50.0),),
            Direction.outbound,
            {
                "direction": "outbound",
                "caller_number": "0612345678",
                "caller_name": "José",
                "offered_at": 50.0,
                "queue": "sales",
                "agent": "PJSIP/agent2",
                "answered_at": 50.0,
            },
        ),
    ],
)
def test_given_events_of_a_call_in_progress_when_noted_then_the_note_holds_what_is_known(
    events: tuple[Any, ...], direction: Direction, expected: dict[str, Any]
) -> None:
    assert _note(*events, direction=direction) == expected


def test_given_a_second_answer_when_noted_then_the_first_agent_and_time_are_kept() -> None:
    later = CallAnswered("L1", "PJSIP/agent4", "support", CALLER, 30.0, 130.0)
    note = _note(OFFERED, ANSWERED, later, direction=Direction.inbound)
    assert (note["agent"], note["answered_at"]) == ("PJSIP/agent1", 106.0)


@pytest.mark.parametrize(
    ("events", "outcome", "answered_at", "wait_s"),
    [
        ((OFFERED, QUEUED, ANSWERED), "answered", 106.0, 6.0),
        ((OFFERED, QUEUED), UNOBSERVED, None, None),
    ],
)
def test_given_a_noted_call_gone_from_asterisk_when_recovered_then_it_is_written_from_its_note(
    events: tuple[Any, ...], outcome: str, answered_at: float | None, wait_s: float | None
) -> None:
    rec = record_from_note("L1", _note(*events, direction=Direction.inbound), ended_at=200.0)
    assert (rec.direction, rec.caller, rec.queue) == (Direction.inbound, CALLER, "support")
    assert (rec.outcome, rec.answered_at, rec.wait_s, rec.talk_s) == (outcome, answered_at, wait_s, None)
    assert (rec.offered_at, rec.ended_at) == (100.0, 200.0)


def test_given_a_call_adopted_after_a_restart_when_it_ends_then_its_note_gives_its_start() -> None:
    adopted = CallRecord(
        linkedid="L1",
        direction=Direction.internal,
        caller=CallerId(None, None, False),
        called_number=None,
        queue=None,
        agent=None,
        offered_at=150.0,
        answered_at=None,
        ended_at=160.0,
        wait_s=None,
        talk_s=None,
        hold_s=0.0,
        outcome="abandoned",
        hangup_cause=16,
    )
    rec = merge_note(adopted, _note(OFFERED, QUEUED, ANSWERED, direction=Direction.inbound))
    assert (rec.direction, rec.caller, rec.called_number, rec.queue, rec.agent) == (
        Direction.inbound,
        CALLER,
        "5551000",
        "support",
        "PJSIP/agent1",
    )
    assert (rec.offered_at, rec.answered_at, rec.wait_s, rec.talk_s) == (100.0, 106.0, 6.0, 54.0)
    assert (rec.outcome, rec.ended_at, rec.hangup_cause) == ("answered", 160.0, 16)
