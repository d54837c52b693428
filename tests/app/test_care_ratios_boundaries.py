"""Care ratios at their edges (app/care_ratios.py): a deadline's instant itself, a contact exactly one FCR
window after another, the neighbour before versus the one after, a contact without a customer first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app import care_ratios as cr
from app.care_ratios import ComplaintFact, ContactFact

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DUE = T0 + timedelta(days=10)
TICK = timedelta(microseconds=1)
W = cr.FCR_WINDOW


@pytest.mark.parametrize(
    ("acknowledged", "now", "share"),
    [
        (None, DUE - TICK, None),  # still within its deadline: neither met nor missed
        (None, DUE, None),  # the deadline's instant itself: not missed yet
        (None, DUE + TICK, 0.0),  # missed from the instant after
        (DUE, DUE + 9 * TICK, 1.0),  # done at the deadline's instant: met
        (DUE + TICK, DUE + 9 * TICK, 0.0),  # done one instant late: missed
    ],
    ids=["before", "at-due-undecided", "after-missed", "done-at-due", "done-just-late"],
)
def test_given_a_complaint_around_its_deadline_when_shared_then_the_instant_itself_is_still_in_time(
    acknowledged: datetime | None, now: datetime, share: float | None
) -> None:
    c = ComplaintFact(received_at=T0, ack_due_at=DUE, answer_due_at=DUE, acknowledged_at=acknowledged)
    assert cr.ack_within_deadline([c], now) == share


@pytest.mark.parametrize(
    ("gap", "repeat", "first_resolved"),
    [(W - TICK, True, False), (W, True, False), (W + TICK, False, True)],
    ids=["within", "exactly-the-window", "one-instant-after"],
)
def test_given_two_contacts_a_window_apart_when_judged_then_exactly_the_window_is_still_a_repeat(
    gap: timedelta, repeat: bool, first_resolved: bool
) -> None:
    contacts = [ContactFact(T0, "a"), ContactFact(T0 + gap, "a")]
    first, second = cr.contact_outcomes(contacts, T0 + 30 * W)
    assert first == (first_resolved, False)  # called back about within the window: not resolved first time
    assert second == (True, repeat)


def test_given_a_contact_called_back_about_only_before_it_when_judged_then_the_later_neighbour_decides() -> (
    None
):
    # b's earlier contact is a day before it, its next one 20 days after: b was resolved at first contact
    contacts = [ContactFact(T0, "b"), ContactFact(T0 + timedelta(days=1), "b"), ContactFact(T0 + 20 * W, "b")]
    outcomes = cr.contact_outcomes(contacts, T0 + 40 * W)
    assert outcomes == [(False, False), (True, True), (True, False)]


def test_given_a_contact_whose_window_ends_now_when_judged_then_it_is_judged_at_that_instant() -> None:
    contacts = [ContactFact(T0, "a")]
    assert cr.contact_outcomes(contacts, T0 + W - TICK) == [(None, False)]
    assert cr.contact_outcomes(contacts, T0 + W) == [(True, False)]


@pytest.mark.parametrize("window", [timedelta(0), -TICK])
def test_given_a_non_positive_window_when_asked_then_the_error_says_so(window: timedelta) -> None:
    with pytest.raises(ValueError, match=r"^the FCR window must be positive$"):
        cr.contact_outcomes([ContactFact(T0, "a")], T0, window)


def test_given_unknown_callers_first_when_resolution_is_counted_then_the_known_ones_after_still_count() -> (
    None
):
    got = cr.resolution([None, (True, False), None, (False, True), (None, True)])
    assert (got.known, got.judged, got.resolved_first, got.repeats) == (3, 2, 1, 2)
    assert got.fcr == 0.5 and got.repeat_rate == pytest.approx(2 / 3)


def test_given_a_time_in_another_zone_when_its_period_starts_then_the_start_is_in_that_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    t = datetime(2026, 3, 4, 10, 0, tzinfo=new_york)
    got = cr.period_start(t, "day", "Europe/Paris")
    assert got.tzinfo is new_york
    assert got == datetime(2026, 3, 4, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))
