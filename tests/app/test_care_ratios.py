"""Customer-care ratios (app/care_ratios.py): tables of facts in, numbers out, empty cases None ("—")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import care_ratios as cr
from app.care_ratios import ComplaintFact, ContactFact

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D = timedelta(days=1)


@pytest.mark.parametrize(
    ("opened", "handled", "rate", "per_1000"),
    [(0, 0, None, None), (3, 0, None, None), (0, 500, 0.0, 0.0), (12, 4000, 0.003, 3.0), (5, 5, 1.0, 1000.0)],
)
def test_given_complaints_and_contacts_then_the_complaint_rate_and_per_thousand(
    opened: int, handled: int, rate: float | None, per_1000: float | None
) -> None:
    got = cr.complaint_rate(opened, handled)
    if rate is None:
        assert got is None and cr.per_thousand(got) is None
    else:
        assert got == pytest.approx(rate) and cr.per_thousand(got) == pytest.approx(per_1000)


@pytest.mark.parametrize(
    ("lost", "at_start", "loss", "retention"),
    [(0, 0, None, None), (2, 0, None, None), (0, 200, 0.0, 1.0), (6, 200, 0.03, 0.97), (200, 200, 1.0, 0.0)],
)
def test_given_lost_customers_then_the_loss_and_retention_rates(
    lost: int, at_start: int, loss: float | None, retention: float | None
) -> None:
    got = cr.loss_rate(lost, at_start)
    if loss is None:
        assert got is None and cr.retention_rate(got) is None
    else:
        assert got == pytest.approx(loss) and cr.retention_rate(got) == pytest.approx(retention)


def _c(ack: float | None = None, answer: float | None = None) -> ComplaintFact:
    """Received at T0, acknowledge within 10 days, answer within 60; done after `ack`/`answer` days."""
    return ComplaintFact(
        received_at=T0,
        ack_due_at=T0 + 10 * D,
        answer_due_at=T0 + 60 * D,
        acknowledged_at=T0 + ack * D if ack is not None else None,
        resolved_at=T0 + answer * D if answer is not None else None,
    )


@pytest.mark.parametrize(
    ("complaints", "now_days", "ack", "answer", "median_days"),
    [
        ([], 100, None, None, None),
        ([_c()], 5, None, None, None),  # within both deadlines, nothing done: undecided
        ([_c()], 11, 0.0, None, None),  # acknowledgement missed, answer still undecided
        ([_c(2, 30)], 100, 1.0, 1.0, 30),
        ([_c(2, 30), _c(12, 70), _c(3)], 100, 2 / 3, 1 / 3, 50),  # the third: answer missed, not resolved
        ([_c(10, 60)], 100, 1.0, 1.0, 60),  # on the deadline itself is within it
    ],
)
def test_given_complaints_then_the_shares_within_deadlines_and_the_median_time_to_resolve(
    complaints: list[ComplaintFact],
    now_days: float,
    ack: float | None,
    answer: float | None,
    median_days: float | None,
) -> None:
    now = T0 + now_days * D
    for got, want in (
        (cr.ack_within_deadline(complaints, now), ack),
        (cr.answer_within_deadline(complaints, now), answer),
        (cr.median_resolve_s(complaints), median_days * 86400 if median_days is not None else None),
    ):
        assert (got is None) if want is None else got == pytest.approx(want)


def _k(customer: str | None, day: float) -> ContactFact:
    return ContactFact(at=T0 + day * D, customer=customer)


@pytest.mark.parametrize(
    ("contacts", "now_days", "fcr", "repeat"),
    [
        ([], 30, None, None),
        ([_k(None, 0), _k(None, 1)], 30, None, None),  # unknown callers count in neither
        ([_k("a", 0)], 3, None, 0.0),  # its 7 days are not over: not judged yet
        ([_k("a", 0)], 7, 1.0, 0.0),
        ([_k("a", 0), _k("a", 2)], 30, 0.5, 0.5),  # the first called back; the second resolved it
        ([_k("a", 0), _k("a", 8)], 30, 1.0, 0.0),  # 8 days later: a new matter
        ([_k("a", 0), _k("a", 1), _k("a", 2), _k("b", 0)], 30, 0.5, 0.5),
        ([_k("a", 2), _k("a", 0)], 30, 0.5, 0.5),  # order of the facts does not matter
    ],
)
def test_given_contacts_then_first_contact_resolution_and_repeat_rate(
    contacts: list[ContactFact], now_days: float, fcr: float | None, repeat: float | None
) -> None:
    got = cr.first_contact_resolution(contacts, T0 + now_days * D)
    assert (got.fcr is None) if fcr is None else got.fcr == pytest.approx(fcr)
    assert (got.repeat_rate is None) if repeat is None else got.repeat_rate == pytest.approx(repeat)


def test_given_a_configured_window_then_fcr_uses_it_and_refuses_a_non_positive_one() -> None:
    contacts = [_k("a", 0), _k("a", 2)]
    assert cr.first_contact_resolution(contacts, T0 + 30 * D, window=D).fcr == 1.0
    with pytest.raises(ValueError, match="window"):
        cr.first_contact_resolution(contacts, T0, window=timedelta(0))


def test_given_a_period_judged_in_when_fcr_is_computed_then_neighbours_only_inform_it() -> None:
    contacts = [_k("a", -1), _k("a", 0), _k("b", 1), _k("b", 3), _k("c", 2)]
    got = cr.first_contact_resolution(contacts, T0 + 30 * D, judged_in=(T0, T0 + 2 * D))
    # judged: a0 (a repeat of a-1, not called back: resolved), b1 (called back on day 3: not resolved)
    assert (got.judged, got.resolved_first, got.known, got.repeats) == (2, 1, 2, 1)


@pytest.mark.parametrize(
    ("at", "period", "start"),
    [
        ("2026-03-04T23:30:00+00:00", "day", "2026-03-04T23:00:00+00:00"),  # already the 5th in Paris
        ("2026-03-04T10:00:00+00:00", "day", "2026-03-03T23:00:00+00:00"),
        ("2026-03-04T10:00:00+00:00", "week", "2026-03-01T23:00:00+00:00"),  # Monday 2 March
        ("2026-03-29T10:00:00+00:00", "month", "2026-02-28T23:00:00+00:00"),  # after the DST change
        ("2026-03-31T23:30:00+00:00", "month", "2026-03-31T22:00:00+00:00"),  # 1 April in Paris
    ],
)
def test_given_a_time_when_its_period_starts_then_local_midnight_of_the_day_week_or_month(
    at: str, period: str, start: str
) -> None:
    got = cr.period_start(datetime.fromisoformat(at), period, "Europe/Paris")
    assert got == datetime.fromisoformat(start)
