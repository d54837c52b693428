"""The wallboard's counters while calls are in progress (app/live_facts.py, app.reporting.with_live): AMI
transcripts recorded from Asterisk 16, cut at the moment that matters, then played to the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import kpi, reporting
from app.kpi import CallFact
from app.live_facts import live_call_facts, record_fact
from cti.ami_wire import AmiEvent, AmiReader
from cti.events import CallAnswered, CallEnded, CallQueued, DomainEvent
from cti.tracker import Tracker
from tests.cti.transcripts import raw

USERS = {"PJSIP/agent1": 11, "PJSIP/agent2": 12}


def _play_until(name: str, stop: type | None) -> tuple[Tracker, list[DomainEvent], float]:
    """Feed the transcript event by event; stop right after the first `stop` event (None: to the end)."""
    tracker, reader, out, at = Tracker(), AmiReader(), [], 0.0
    for msg in reader.feed(raw(name)):
        if not isinstance(msg, AmiEvent):
            continue
        at = msg.ts
        new = tracker.feed(msg)
        out.extend(new)
        if stop is not None and any(isinstance(e, stop) for e in new):
            break
    return tracker, out, at


def _counts(facts: list[CallFact]) -> tuple[int, int, int]:
    c = kpi.tally(facts, kpi.KpiConfig())
    return c.offered, c.answered, c.abandoned


@pytest.mark.parametrize(
    ("scenario", "stop", "expected"),
    [
        ("answered_queue_call", CallQueued, (1, 0, 0)),  # waiting: offered, not answered yet
        ("answered_queue_call", CallAnswered, (1, 1, 0)),  # talking: answered
        ("abandoned_in_queue", CallQueued, (1, 0, 0)),  # waiting: not an abandon (yet)
        ("ring_no_answer_then_next", CallAnswered, (1, 1, 0)),
    ],
)
def test_given_a_call_in_progress_when_live_facts_are_taken_then_it_is_offered_and_answered_as_it_happens(
    scenario: str, stop: type, expected: tuple[int, int, int]
) -> None:
    tracker, _, at = _play_until(scenario, stop)
    facts = live_call_facts(tracker, [], at + 1, USERS.get)
    assert _counts(facts) == expected
    assert len({f.linkedid for f in facts}) == 1 and facts[0].queue is not None


def test_given_an_answered_call_in_progress_then_its_fact_names_the_agent_and_the_wait_so_far() -> None:
    tracker, events, at = _play_until("answered_queue_call", CallAnswered)
    (fact,) = live_call_facts(tracker, [], at, USERS.get)
    answered = next(e for e in events if isinstance(e, CallAnswered))
    assert fact.agent_id == 11
    assert fact.wait_s == pytest.approx(answered.wait_s, abs=0.01)
    assert fact.ended_at is None and fact.outcome == ""


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [("answered_queue_call", (1, 1, 0)), ("abandoned_in_queue", (1, 0, 1))],
)
def test_given_an_ended_call_not_yet_written_when_its_row_lands_then_it_counts_once_and_the_same(
    scenario: str, expected: tuple[int, int, int]
) -> None:
    tracker, events, at = _play_until(scenario, None)
    (ended,) = [e for e in events if isinstance(e, CallEnded)]
    assert not [c for c in tracker.calls.values() if c.queue]  # nothing left in progress
    before_write = live_call_facts(tracker, [ended.record], at, USERS.get)
    assert _counts(before_write) == expected
    row = record_fact(ended.record, USERS.get(ended.record.agent or ""))  # what the history row gives
    after_write = reporting.with_live([row], before_write)
    assert after_write == [row]
    assert _counts(after_write) == expected


T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _f(linkedid: str | None, minute: int, answered: bool = False) -> CallFact:
    at = T0 + timedelta(minutes=minute)
    return CallFact(offered_at=at, answered_at=at if answered else None, queue="q", linkedid=linkedid)


@pytest.mark.parametrize(
    ("history", "live", "expected_ids"),
    [
        ([], [], []),
        ([_f("a", 0)], [], ["a"]),
        ([], [_f("b", 1)], ["b"]),
        ([_f("a", 0, True)], [_f("a", 0)], ["a"]),  # written: the row wins
        ([_f("a", 0)], [_f("b", 2), _f("a", 0)], ["a", "b"]),
        ([_f("c", 5)], [_f("b", 2)], ["b", "c"]),  # in time order
        ([_f(None, 0)], [_f(None, 1)], [None, None]),  # rows without an id never hide a live call
    ],
)
def test_given_history_and_live_calls_when_merged_then_each_call_counts_once(
    history: list[CallFact], live: list[CallFact], expected_ids: list[str | None]
) -> None:
    merged = reporting.with_live(history, live)
    assert [f.linkedid for f in merged] == expected_ids
    assert all(any(f is h for f in merged) for h in history)  # every row kept as it is
