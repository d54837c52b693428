"""The call book across an Asterisk restart or a lost AMI link: adopted calls, lost calls, stale calls."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dialer.engine.call_book import (
    LOST_CALL_GRACE_S,
    STALE_RING_MARGIN_S,
    CallBook,
    NoteCall,
    WriteAttempt,
    attempt_of,
)
from dialer.leads_model import AttemptResult
from tests.dialer.transcripts import AGENT, T0, Transcript, live_call, replay

RING_S = 20


def _adopted(**kw: object) -> tuple[CallBook, object]:
    """A call a previous run left in `dialer_calls`, as the engine adopts it at start."""
    book = CallBook(["trunk"])
    call = live_call(dialled=True, recovered=True, resolved=True, **kw)
    book.add(call)
    return book, call


@dataclass(frozen=True)
class Lost:
    name: str
    answered: bool
    result: AttemptResult


LOST = [
    Lost("ringing_when_lost", False, AttemptResult.FAILED),
    Lost("answered_no_agent_when_lost", True, AttemptResult.FAILED),
]


@pytest.mark.parametrize("case", LOST, ids=[c.name for c in LOST])
def test_given_an_adopted_call_asterisk_no_longer_carries_when_the_link_settles_then_it_is_closed_failed(
    case: Lost,
) -> None:
    book, call = _adopted(answered_t=T0 + 3 if case.answered else None)

    first = book.sweep(T0 + 10, link_ready=True, carried={}, ring_s=RING_S)
    settled = book.sweep(T0 + 10 + LOST_CALL_GRACE_S + 0.1, link_ready=True, carried={}, ring_s=RING_S)

    assert first == []  # the tracker's channel snapshot may not be in yet
    assert [type(e) for e in settled] == [WriteAttempt]
    assert attempt_of(call, T0 + 14, None)[0].result is case.result


def test_given_an_adopted_call_an_agent_took_meanwhile_when_swept_then_it_ends_as_a_contact() -> None:
    book, call = _adopted(answered_t=T0 + 3)
    book.sweep(T0 + 10, link_ready=True, carried={call.channel_id: AGENT}, ring_s=RING_S)

    adopted = book.sweep(T0 + 14, link_ready=True, carried={call.channel_id: AGENT}, ring_s=RING_S)

    assert [type(e) for e in adopted] == [NoteCall] and adopted[0].values["agent"] == AGENT
    assert not call.recovered
    run = replay(Transcript().hangups(60.0, 16).data, book)
    assert len(run.of(WriteAttempt)) == 1
    assert attempt_of(call, run.now, None)[0].result is AttemptResult.CONTACT


def test_given_an_adopted_call_still_carried_without_agent_when_swept_then_its_events_decide() -> None:
    book, call = _adopted()
    for at in (T0 + 10, T0 + 14):
        assert book.sweep(at, link_ready=True, carried={call.channel_id: None}, ring_s=RING_S) == []

    run = replay(Transcript().dial_end(15.0, "NOANSWER").hangups(15.1, 19).data, book)

    assert attempt_of(call, run.now, None)[0].result is AttemptResult.NO_ANSWER


def test_given_the_link_down_when_swept_then_calls_are_marked_lost_and_closed_only_once_it_is_back() -> None:
    book = CallBook(["trunk"])
    call = live_call(answered_t=T0 + 3)
    book.add(call)

    assert book.sweep(T0 + 5, link_ready=False, carried={}, ring_s=RING_S) == []
    assert call.link_lost and not call.ending
    assert book.sweep(T0 + 30, link_ready=True, carried={}, ring_s=RING_S) == []
    closed = book.sweep(T0 + 30 + LOST_CALL_GRACE_S + 0.1, link_ready=True, carried={}, ring_s=RING_S)

    assert [type(e).__name__ for e in closed] == ["DialResolved", "WriteAttempt"]
    assert attempt_of(call, T0 + 34, None)[0].result is AttemptResult.FAILED


def test_given_a_core_restart_cutting_an_answered_call_when_replayed_then_it_is_failed_not_dropped() -> None:
    book = CallBook(["trunk"])
    call = live_call()
    book.add(call)
    transcript = (
        Transcript()
        .originated(0.0)
        .dials_trunk(0.1)
        .dial_end(3.0, "ANSWER")
        .user_event(4.0, "AMDResult", AMDStatus="HUMAN", AMDCause="HUMAN-300-1200")
        .soft_hangup(4.5, "4")
        .hangups(4.6, 16)
    )

    run = replay(transcript.data, book)

    assert len(run.of(WriteAttempt)) == 1
    assert attempt_of(call, run.now, None)[0].result is AttemptResult.FAILED


def test_given_a_ringing_call_never_heard_of_again_when_swept_then_it_is_closed_after_the_margin() -> None:
    book = CallBook(["trunk"])
    call = live_call()
    book.add(call)
    book.sweep(T0, link_ready=True, carried={}, ring_s=RING_S)

    assert book.sweep(T0 + RING_S + STALE_RING_MARGIN_S - 1, link_ready=True, carried={}, ring_s=RING_S) == []
    closed = book.sweep(T0 + RING_S + STALE_RING_MARGIN_S + 1, link_ready=True, carried={}, ring_s=RING_S)

    assert [type(e).__name__ for e in closed] == ["DialResolved", "WriteAttempt"]
    assert attempt_of(call, T0 + 51, None)[0].result is AttemptResult.FAILED


@pytest.mark.parametrize(
    ("its_link_up_here", "closed"),
    [(False, False), (True, True)],
    ids=["its_server_run_by_another_node", "its_server_run_here"],
)
def test_given_an_adopted_call_on_one_of_several_servers_when_swept_then_only_its_own_link_may_close_it(
    its_link_up_here: bool, closed: bool
) -> None:
    """Several servers, several nodes: another server's link being up here says nothing of this call."""
    book, call = _adopted()
    on_link = lambda _channel_id: its_link_up_here  # noqa: E731
    book.sweep(T0 + 10, link_ready=True, carried={}, ring_s=RING_S, on_link=on_link)
    out = book.sweep(
        T0 + 10 + LOST_CALL_GRACE_S + 0.1, link_ready=True, carried={}, ring_s=RING_S, on_link=on_link
    )
    assert ([type(e) for e in out] == [WriteAttempt]) is closed
    assert (call.channel_id in book.calls) is True  # released only once its attempt is written
