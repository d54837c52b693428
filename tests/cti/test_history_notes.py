"""The notes of calls in progress (app/call_history.py): what a restarted Plateau writes for a call it did not
see end, and what it adds to a call it adopted from Asterisk."""

from __future__ import annotations

from typing import Any

import pytest

from app.call_history import UNOBSERVED, merge_note, note_event, record_from_note, settle_gap
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


def _cdr(linkedid: str, answered_at: float | None, agent: str | None, end: float = 130.0) -> CallRecord:
    """A call as Asterisk's records tell it (cti/cdr.py): its true end, the agent who answered if one did."""
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.inbound,
        caller=CALLER,
        called_number="5551000",
        queue="support",
        agent=agent,
        offered_at=100.0,
        answered_at=answered_at,
        ended_at=end,
        wait_s=None,
        talk_s=round(end - answered_at, 3) if answered_at is not None else None,
        hold_s=0.0,
        outcome="answered" if answered_at is not None else UNOBSERVED,
        hangup_cause=None,
    )


RINGING_NOTE = _note(OFFERED, QUEUED, direction=Direction.inbound)
ANSWERED_NOTE = _note(OFFERED, QUEUED, ANSWERED, direction=Direction.inbound)


@pytest.mark.parametrize(
    ("notes", "live", "found", "seen", "expected"),
    [
        (  # up at the snapshot: the tracker follows it and writes it at its end
            {"L1": ANSWERED_NOTE},
            {"L1"},
            [_cdr("L1", 106.0, "PJSIP/agent1")],
            set(),
            [],
        ),
        (  # noted answered, gone, no record (an outbound call, or no CDR file): from the note, ended at now
            {"L1": ANSWERED_NOTE},
            set(),
            [],
            set(),
            [("L1", "answered", "PJSIP/agent1", 106.0, 200.0)],
        ),
        (  # noted answered, gone, and recorded: the record's true end, the note's answer
            {"L1": ANSWERED_NOTE},
            set(),
            [_cdr("L1", 106.5, "PJSIP/agent1")],
            set(),
            [("L1", "answered", "PJSIP/agent1", 106.0, 130.0)],
        ),
        (  # ringing when noted, answered in the gap: the record says who answered and when
            {"L1": RINGING_NOTE},
            set(),
            [_cdr("L1", 110.0, "PJSIP/agent2")],
            set(),
            [("L1", "answered", "PJSIP/agent2", 110.0, 130.0)],
        ),
        (  # ringing when noted, given up in the gap
            {"L1": RINGING_NOTE},
            set(),
            [_cdr("L1", None, None)],
            set(),
            [("L1", UNOBSERVED, None, None, 130.0)],
        ),
        (  # began and ended in the gap: from the record alone
            {},
            set(),
            [_cdr("L2", 103.0, "PJSIP/agent1", end=104.0)],
            set(),
            [("L2", "answered", "PJSIP/agent1", 103.0, 104.0)],
        ),
        (  # recorded, but this node saw it end (or it is still up): the tracker's record is the one
            {},
            {"L3"},
            [_cdr("L2", 103.0, "PJSIP/agent1"), _cdr("L3", None, None)],
            {"L2"},
            [],
        ),
    ],
)
def test_given_a_gap_in_a_servers_events_when_its_channels_are_listed_then_each_call_ended_is_written_once(
    notes: dict[str, dict[str, Any]],
    live: set[str],
    found: list[CallRecord],
    seen: set[str],
    expected: list[tuple[str, str, str | None, float | None, float]],
) -> None:
    records = settle_gap(notes, live, found, seen, now=200.0)

    assert [(r.linkedid, r.outcome, r.agent, r.answered_at, r.ended_at) for r in records] == expected
