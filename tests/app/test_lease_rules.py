"""core/lease_rules.py at its boundaries: the safety deadline itself, an instant before, an instant after."""

from __future__ import annotations

import pytest

from core.lease_rules import Change, LeaseTiming, change, may_act, renewal_deadline, renewal_due, safe_until

TIMING = LeaseTiming(ttl_s=15.0, renew_every_s=5.0, margin_s=2.0)
TICK = 1e-6


@pytest.mark.parametrize(
    ("confirmed_at", "now", "expected"),
    [
        (100.0, 100.0, True),  # the renewal's own instant
        (100.0, 113.0 - TICK, True),  # one before the deadline (100 + 15 - 2)
        (100.0, 113.0, False),  # the deadline itself: no longer sure
        (100.0, 113.0 + TICK, False),  # one after
        (100.0, 115.0, False),  # the row's earliest expiry: long stopped by then
        (None, 100.0, False),  # never confirmed
    ],
)
def test_given_a_confirmed_renewal_when_asked_at_the_deadline_then_the_node_stops_acting_at_it(
    confirmed_at: float | None, now: float, expected: bool
) -> None:
    assert may_act(confirmed_at, now, TIMING) is expected


@pytest.mark.parametrize(
    ("margin", "now", "expected"),
    [(0.0, 115.0 - TICK, True), (0.0, 115.0, False), (14.0, 101.0 - TICK, True), (14.0, 101.0, False)],
)
def test_given_a_margin_when_asked_then_the_deadline_moves_earlier_by_it(
    margin: float, now: float, expected: bool
) -> None:
    assert may_act(100.0, now, LeaseTiming(15.0, 0.5, margin)) is expected


@pytest.mark.parametrize(("confirmed_at", "expected"), [(None, None), (0.0, 13.0), (100.0, 113.0)])
def test_given_a_confirmation_when_its_deadline_is_asked_then_ttl_minus_margin_after_it(
    confirmed_at: float | None, expected: float | None
) -> None:
    assert safe_until(confirmed_at, TIMING) == expected


@pytest.mark.parametrize(
    ("last_attempt", "now", "expected"),
    [
        (None, 0.0, True),  # never tried: at once
        (100.0, 100.0, False),
        (100.0, 105.0 - TICK, False),  # one before the period
        (100.0, 105.0, True),  # the period itself
        (100.0, 105.0 + TICK, True),
    ],
)
def test_given_the_last_attempt_when_asked_then_a_renewal_is_due_every_period(
    last_attempt: float | None, now: float, expected: bool
) -> None:
    assert renewal_due(last_attempt, now, TIMING) is expected


@pytest.mark.parametrize(
    ("ttl", "every", "margin", "problem"),
    [
        (15.0, 5.0, 2.0, None),
        (15.0, 13.0 - TICK, 2.0, None),  # one before ttl - margin
        (15.0, 13.0, 2.0, "renewal period"),  # ttl - margin itself: the deadline would pass before it
        (15.0, 5.0, 15.0, "margin"),
        (15.0, 5.0, 10.0 - TICK, None),  # ttl - margin one above the period
        (15.0, 5.0, 10.0, "renewal period"),
        (0.0, 5.0, 0.0, "positive"),
        (15.0, 5.0, -TICK, "positive"),
    ],
)
def test_given_lease_figures_when_checked_then_those_that_cannot_keep_a_lease_are_refused(
    ttl: float, every: float, margin: float, problem: str | None
) -> None:
    problems = LeaseTiming(ttl, every, margin).problems()
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    ("was", "now", "expected"),
    [(False, False, None), (False, True, Change.gained), (True, True, None), (True, False, Change.lost)],
)
def test_given_what_was_held_when_it_changes_then_owners_are_told_gained_or_lost(
    was: bool, now: bool, expected: Change | None
) -> None:
    assert change(was, now) is expected


@pytest.mark.parametrize(
    ("ttl", "margin", "expected"), [(15.0, 2.0, 13.0), (2.0, 0.6, 1.4), (15.0, 0.0, 15.0)]
)
def test_given_lease_figures_when_a_renewal_is_bounded_then_by_the_safety_deadline(
    ttl: float, margin: float, expected: float
) -> None:
    assert renewal_deadline(LeaseTiming(ttl, 0.5, margin)) == pytest.approx(expected)
