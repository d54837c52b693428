"""The call book on AMI transcripts of dialer calls: what each outcome writes, with no PBX and no database."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dialer.engine.call_book import (
    CallBook,
    DialResolved,
    ForgetCall,
    NoteCall,
    ScheduleTimer,
    WriteAttempt,
    attempt_of,
)
from dialer.leads_model import AttemptResult
from tests.dialer.transcripts import AGENT, T0, Transcript, live_call, replay


@dataclass(frozen=True)
class Outcome:
    name: str
    transcript: Transcript
    amd: bool
    result: AttemptResult
    live: bool  # what the pacing statistics learn: a person ready for an agent
    answered: bool  # the network connected the call (a person or a machine)
    resolved_after_s: float


def _t() -> Transcript:
    return Transcript().originated(0.0).dials_trunk(0.1)


OUTCOMES = [
    Outcome("busy", _t().dial_end(2.0, "BUSY").hangups(2.1, 17), True, AttemptResult.BUSY, False, False, 2.0),
    Outcome(
        "congestion",
        _t().dial_end(1.0, "CONGESTION").hangups(1.1, 34),
        True,
        AttemptResult.FAILED,
        False,
        False,
        1.0,
    ),
    Outcome(
        "no_answer",
        _t().dial_end(20.0, "NOANSWER").hangups(20.1, 19),
        True,
        AttemptResult.NO_ANSWER,
        False,
        False,
        20.0,
    ),
    Outcome(
        "amd_machine",
        _t()
        .dial_end(3.0, "ANSWER")
        .user_event(5.5, "AMDResult", AMDStatus="MACHINE", AMDCause="LONGGREETING-2000-1500")
        .user_event(5.6, "DialerMessage", Kind="machine", Part="start", Sound="plateau/machine")
        .user_event(11.0, "DialerMessage", Kind="machine", Part="end", PlaybackStatus="SUCCESS")
        .hangups(11.1, 16),
        True,
        AttemptResult.MACHINE,
        False,
        True,
        5.5,
    ),
    Outcome(
        "abandon_no_agent_free",
        _t()
        .dial_end(3.0, "ANSWER")
        .user_event(4.0, "AMDResult", AMDStatus="HUMAN", AMDCause="HUMAN-300-1200")
        .user_event(6.0, "DialerAbandon", QueueStatus="TIMEOUT")
        .user_event(6.1, "DialerMessage", Kind="abandon", Part="start", Digits="0140000000")
        .hangups(14.0, 16),
        True,
        AttemptResult.DROPPED,
        True,
        True,
        4.0,
    ),
    Outcome(
        "agent_connected",
        _t()
        .dial_end(3.0, "ANSWER")
        .user_event(4.0, "AMDResult", AMDStatus="HUMAN", AMDCause="HUMAN-300-1200")
        .agent_connect(5.0)
        .hangups(65.0, 16),
        True,
        AttemptResult.CONTACT,
        True,
        True,
        4.0,
    ),
    Outcome(
        "answered_without_amd",
        _t().dial_end(3.0, "ANSWER").user_event(5.0, "DialerAbandon", QueueStatus="TIMEOUT").hangups(9.0, 16),
        False,
        AttemptResult.DROPPED,
        True,
        True,
        3.0,
    ),
]


@pytest.mark.parametrize("case", OUTCOMES, ids=[o.name for o in OUTCOMES])
def test_given_a_dialer_call_transcript_when_replayed_then_one_attempt_of_its_result_is_written(
    case: Outcome,
) -> None:
    book = CallBook(["trunk"])
    call = live_call(amd=case.amd)
    book.add(call)

    run = replay(case.transcript.data, book)

    (written,) = run.of(WriteAttempt)
    assert written.call is call and call.ending
    attempt, _ = attempt_of(call, run.now, agent_id=None)
    assert attempt.result is case.result
    assert run.of(DialResolved) == [DialResolved(7, case.live, case.resolved_after_s, case.answered)]
    assert (attempt.answered_at is not None) is case.answered
    assert (attempt.agent_connected_at is not None) is (case.result is AttemptResult.CONTACT)
    assert 42 in book.busy_leads  # until the attempt is written: the shell releases it


def test_given_an_answered_call_when_replayed_then_what_a_restart_needs_is_noted_on_its_row() -> None:
    book = CallBook(["trunk"])
    book.add(live_call())
    transcript = (
        _t()
        .dial_end(3.0, "ANSWER")
        .user_event(4.0, "AMDResult", AMDStatus="HUMAN", AMDCause="HUMAN-300-1200")
        .agent_connect(5.0)
        .hangups(65.0, 16)
    )

    notes = [dict(n.values) for n in replay(transcript.data, book).of(NoteCall)]

    assert [sorted(n) for n in notes] == [["answered_at"], ["amd_status"], ["agent", "agent_connected_at"]]
    assert notes[1]["amd_status"] == "HUMAN" and notes[2]["agent"] == AGENT
    assert (notes[2]["agent_connected_at"] - notes[0]["answered_at"]).total_seconds() == pytest.approx(2.0)


def test_given_the_originated_half_hung_up_first_when_the_timer_expires_then_the_attempt_is_written() -> None:
    # the tracker has not ended the call (the trunk leg is still up): the book waits for that leg's Hangup
    book = CallBook(["trunk"])
    book.add(live_call())
    transcript = _t().dial_end(2.0, "BUSY")
    transcript.add("Hangup", 2.1, [*transcript.origin, ("Cause", "17"), ("Cause-txt", "Busy")])

    run = replay(transcript.data, book, settle=0.0)

    assert run.of(WriteAttempt) == [] and len(run.of(ScheduleTimer)) == 1
    run.until(run.now + 0.3)
    assert len(run.of(WriteAttempt)) == 1


def test_given_events_of_a_call_the_engine_did_not_place_when_replayed_then_the_book_ignores_them() -> None:
    book = CallBook(["trunk"])
    book.add(live_call("dial-mine"))

    run = replay(_t().dial_end(2.0, "BUSY").hangups(2.1, 17).data, book)

    assert run.effects == []


@pytest.mark.parametrize(
    ("message", "effect", "result"),
    [
        ("Originate failed: Asterisk is shutting down", ForgetCall, None),
        ("Originate failed", WriteAttempt, AttemptResult.FAILED),
    ],
    ids=["shutting_down", "refused"],
)
def test_given_an_originate_refused_when_told_then_the_call_is_forgotten_or_failed(
    message: str, effect: type, result: AttemptResult | None
) -> None:
    book = CallBook(["trunk"])
    call = live_call()
    book.add(call)

    effects = book.originate_refused(call, message, T0 + 0.2)

    assert [type(e) for e in effects if not isinstance(e, DialResolved)] == [effect]
    if result is not None:
        assert attempt_of(call, T0 + 0.2, None)[0].result is result


def test_given_a_stopped_book_when_events_arrive_then_nothing_happens() -> None:
    book = CallBook(["trunk"])
    book.add(live_call())
    book.stop()

    run = replay(_t().dial_end(2.0, "BUSY").hangups(2.1, 17).data, book)

    assert run.effects == []
