"""KPI maths at its thresholds, and sums over more than one call (each accumulates, none overwrites)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.kpi import (
    CallFact,
    KpiConfig,
    StatePeriod,
    by_interval,
    compute,
    interval_start,
    state_time,
    tally,
    window_bounds,
)

T0 = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
CFG = KpiConfig(sl_threshold_s=20, short_abandon_s=5)


def answered(wait: float, talk: float, wrap: float, hold: float = 0.0) -> CallFact:
    at = T0 + timedelta(seconds=wait)
    return CallFact(T0, at, at + timedelta(seconds=talk), wait, talk, hold, wrap, "answered", "q", 1)


def abandoned(wait: float) -> CallFact:
    return CallFact(T0, None, T0 + timedelta(seconds=wait), wait, outcome="abandoned", queue="q")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sl_threshold_s": 0}, "thresholds must be positive"),
        ({"short_abandon_s": -0.1}, "thresholds must be positive"),
        ({"sl_target_pct": -0.1}, "the service-level target is a percentage"),
        ({"sl_target_pct": 100.1}, "the service-level target is a percentage"),
    ],
)
def test_given_a_setting_past_its_limit_when_configured_then_refused_by_name(
    kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        KpiConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"sl_threshold_s": 0.5}, {"short_abandon_s": 0}, {"sl_target_pct": 0}, {"sl_target_pct": 100}]
)
def test_given_a_setting_at_its_limit_when_configured_then_accepted(kwargs: dict) -> None:
    KpiConfig(**kwargs)


def test_given_several_calls_when_tallied_then_every_sum_adds_up() -> None:
    facts = [
        answered(10, 100, 20, 5),
        answered(30, 60, 10),
        abandoned(3),
        abandoned(4),
        abandoned(15),
        abandoned(18),
        CallFact(T0, T0, None, None, outcome="answered"),  # still going; wait from the timestamps: 0
    ]
    c = tally(facts, CFG)
    assert (c.offered, c.answered, c.answered_in_t, c.handled) == (7, 3, 2, 2)
    assert (c.abandoned, c.abandoned_in_t, c.short_abandoned) == (4, 4, 2)
    assert (c.wait_answered_s, c.talk_s, c.hold_s, c.wrap_s) == (40.0, 160.0, 5.0, 30.0)
    assert c.longest_wait_s == 30.0
    k = compute(facts, CFG)
    assert k.abandon_rate == pytest.approx(2 / 5)
    assert k.aht_s == pytest.approx(195 / 2)


def test_given_missing_talk_or_wrap_when_tallied_then_they_count_as_zero() -> None:
    bare = CallFact(T0, T0, T0 + timedelta(seconds=5), 0.0, outcome="answered")
    c = tally([bare, bare], CFG)
    assert (c.handled, c.talk_s, c.hold_s, c.wrap_s, c.wait_answered_s) == (2, 0.0, 0.0, 0.0, 0.0)


def test_given_equal_waits_when_the_longest_is_kept_then_it_is_that_wait() -> None:
    assert tally([abandoned(7), abandoned(7), abandoned(2)], CFG).longest_wait_s == 7.0


def test_given_a_naive_now_when_a_window_is_asked_then_the_error_says_so() -> None:
    with pytest.raises(ValueError, match=r"^now must be timezone-aware$"):
        window_bounds("today", datetime(2026, 7, 1), "Europe/Paris")


def test_given_today_in_a_zone_when_bounded_then_local_midnight_in_nows_zone() -> None:
    now = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)  # 10:30 in Paris
    since, until = window_bounds("today", now, "Europe/Paris")
    assert (since, until) == (datetime(2026, 6, 30, 22, 0, tzinfo=UTC), now)
    assert since.tzinfo is UTC


@pytest.mark.parametrize(
    ("t", "minutes", "start"),
    [
        (datetime(2026, 7, 1, 10, 14, 59, 999_999, tzinfo=UTC), 15, datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
        (datetime(2026, 7, 1, 10, 15, tzinfo=UTC), 15, datetime(2026, 7, 1, 10, 15, tzinfo=UTC)),
        (datetime(2026, 7, 1, 10, 59, 30, tzinfo=UTC), 60, datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_given_an_instant_when_its_interval_starts_then_aligned_to_the_second_and_in_its_zone(
    t: datetime, minutes: int, start: datetime
) -> None:
    got = interval_start(t, minutes, "Asia/Kolkata")  # a half-hour offset: aligned on the local clock
    local = got.astimezone(ZoneInfo("Asia/Kolkata"))
    assert (local.minute % minutes, local.second, local.microsecond) == (0, 0, 0)
    assert got.tzinfo is UTC
    assert interval_start(t, minutes, "UTC") == start


def test_given_facts_when_grouped_by_interval_then_each_fact_lands_once_in_key_then_time_order() -> None:
    late = CallFact(T0 + timedelta(minutes=20), queue="b")
    early = CallFact(T0, queue="b")
    other = CallFact(T0 + timedelta(minutes=40), queue="a")
    groups = by_interval([late, early, other], 15, "UTC")
    assert list(groups) == [
        ("a", T0 + timedelta(minutes=30)),
        ("b", T0),
        ("b", T0 + timedelta(minutes=15)),
    ]
    assert groups[("b", T0)] == [early]


def test_given_state_periods_when_clipped_then_touching_edges_count_nothing_and_reasons_only_for_pauses() -> (
    None
):
    since, until = T0, T0 + timedelta(hours=1)
    periods = [
        StatePeriod(1, "ready", T0 - timedelta(minutes=5), T0),  # ends at since: nothing
        StatePeriod(1, "paused", T0, T0 + timedelta(minutes=10), "lunch"),
        StatePeriod(1, "paused", T0 + timedelta(minutes=20), T0 + timedelta(minutes=25), "lunch"),
        StatePeriod(1, "on_call", T0 + timedelta(minutes=30), T0 + timedelta(minutes=40), "ignored"),
        StatePeriod(1, "ready", until, None),  # starts at until: nothing
    ]
    st = state_time(periods, since, until, now=until + timedelta(hours=1))[1]
    assert st.seconds == {("paused", "lunch"): 900.0, ("on_call", None): 600.0}
