"""KPI maths (app/kpi.py): tables of facts in, numbers out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import kpi
from app.kpi import CallFact, Counts, KpiConfig, SlVariant, StatePeriod

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)

# The worked example of callcentrehelper.com ("service-level threshold calculations"): 1000 answered,
# 860 within 20 s, 60 abandoned of which 20 within 20 s and 10 within 5 s.
WORKED = Counts(
    offered=1060, answered=1000, answered_in_t=860, abandoned=60, abandoned_in_t=20, short_abandoned=10
)


@pytest.mark.parametrize(
    ("variant", "expected_pct"),
    [
        (SlVariant.abandons_positive, 83),  # (860 + 20) / 1060
        (SlVariant.answered, 86),  # 860 / 1000
        (SlVariant.offered, 81),  # 860 / 1060
        (SlVariant.abandons_in_t_excluded, 83),  # 860 / (1060 − 20)
        (SlVariant.short_abandons_excluded, 82),  # 860 / (1060 − 10)
    ],
)
def test_given_the_worked_example_when_each_sl_variant_is_used_then_the_published_percentages_come_out(
    variant: SlVariant, expected_pct: int
) -> None:
    assert round(kpi.service_level(WORKED, variant) * 100) == expected_pct


def _answered(
    wait: float, talk: float = 100, hold: float = 0, wrap: float = 10, queue: str = "q"
) -> CallFact:
    return CallFact(
        offered_at=T0,
        answered_at=T0 + timedelta(seconds=wait),
        ended_at=T0 + timedelta(seconds=wait + talk + hold),
        wait_s=wait,
        talk_s=talk,
        hold_s=hold,
        wrap_s=wrap,
        outcome="answered",
        queue=queue,
    )


def _abandoned(wait: float, queue: str = "q") -> CallFact:
    return CallFact(
        offered_at=T0, ended_at=T0 + timedelta(seconds=wait), wait_s=wait, outcome="abandoned", queue=queue
    )


@pytest.mark.parametrize(
    ("facts", "field", "expected"),
    [
        ([_answered(20), _answered(21)], "answered_in_t", 1),  # exactly T counts as within
        ([_abandoned(4.9), _abandoned(5), _abandoned(30)], "short_abandoned", 1),  # strictly under S
        ([_abandoned(20), _abandoned(20.1)], "abandoned_in_t", 1),
        ([_answered(3), _abandoned(50), _answered(12)], "longest_wait_s", 50),
        (
            [_answered(3), CallFact(offered_at=T0, outcome="callback")],
            "abandoned",
            0,
        ),  # callbacks are not abandons
        ([_answered(3), CallFact(offered_at=T0, outcome="callback")], "offered", 2),
        ([_answered(3, talk=60, hold=30, wrap=10)], "handle_s", 100),
    ],
)
def test_given_call_facts_when_tallied_then_each_count_follows_its_definition(
    facts: list[CallFact], field: str, expected: float
) -> None:
    assert getattr(kpi.tally(facts, KpiConfig()), field) == expected


def test_given_an_answered_call_still_in_progress_when_tallied_then_it_counts_for_asa_but_not_aht() -> None:
    live = CallFact(offered_at=T0, answered_at=T0 + timedelta(seconds=8), outcome="answered", talk_s=None)
    k = kpi.compute([live, _answered(2, talk=100, wrap=20)], KpiConfig())
    assert (k.counts.answered, k.counts.handled, k.asa_s, k.aht_s) == (2, 1, 5.0, 120.0)


def test_given_no_wait_recorded_when_tallied_then_the_wait_is_derived_from_timestamps() -> None:
    f = CallFact(offered_at=T0, answered_at=T0 + timedelta(seconds=42), outcome="answered")
    assert f.wait == 42.0 and kpi.tally([f], KpiConfig(sl_threshold_s=40)).answered_in_t == 0


@pytest.mark.parametrize(
    ("counts", "fn", "expected"),
    [
        (Counts(answered=4, wait_answered_s=40), kpi.asa, 10.0),
        (Counts(handled=2, talk_s=200, hold_s=40, wrap_s=60), kpi.aht, 150.0),
        (Counts(offered=110, abandoned=15, short_abandoned=10), kpi.abandon_rate, 0.05),
        (Counts(), kpi.asa, None),
        (Counts(), kpi.aht, None),
        (Counts(), kpi.abandon_rate, None),
        (Counts(offered=3, abandoned=3, short_abandoned=3), kpi.abandon_rate, None),  # all short: no rate
    ],
)
def test_given_counts_when_a_ratio_is_computed_then_it_matches_the_definition(
    counts: Counts, fn: object, expected: float | None
) -> None:
    assert fn(counts) == (pytest.approx(expected) if expected is not None else None)  # type: ignore[operator]


@pytest.mark.parametrize("variant", list(SlVariant))
def test_given_no_calls_when_service_level_is_computed_then_it_is_none_not_zero(variant: SlVariant) -> None:
    assert kpi.service_level(Counts(), variant) is None


@pytest.mark.parametrize(
    ("handling", "ready", "expected"), [(85, 15, 0.85), (0, 100, 0.0), (100, 0, 1.0), (0, 0, None)]
)
def test_given_handling_and_ready_time_when_occupancy_is_computed_then_it_is_their_share(
    handling: float, ready: float, expected: float | None
) -> None:
    assert kpi.occupancy(handling, ready) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sl_threshold_s": 0}, "positive"),
        ({"short_abandon_s": -1}, "positive"),
        ({"sl_target_pct": 101}, "percentage"),
        ({"sl_variant": "made_up"}, "made_up"),
    ],
)
def test_given_a_bad_queue_setting_when_the_config_is_built_then_it_is_refused(
    kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        KpiConfig(**kwargs)


def test_given_a_target_when_the_sl_reaches_it_then_it_is_met() -> None:
    facts = [_answered(5)] * 8 + [_answered(60)] * 2
    assert kpi.compute(facts, KpiConfig(sl_target_pct=80)).sl_met is True
    assert kpi.compute(facts, KpiConfig(sl_target_pct=81)).sl_met is False


PARIS = "Europe/Paris"


@pytest.mark.parametrize(
    ("window", "now", "since"),
    [
        ("15", T0, T0 - timedelta(minutes=15)),
        ("30", T0, T0 - timedelta(minutes=30)),
        ("60", T0, T0 - timedelta(minutes=60)),
        ("today", datetime(2026, 3, 10, 9, 0, tzinfo=UTC), datetime(2026, 3, 9, 23, 0, tzinfo=UTC)),  # CET
        ("today", datetime(2026, 7, 10, 9, 0, tzinfo=UTC), datetime(2026, 7, 9, 22, 0, tzinfo=UTC)),  # CEST
        (
            "today",
            datetime(2026, 7, 9, 22, 30, tzinfo=UTC),
            datetime(2026, 7, 9, 22, 0, tzinfo=UTC),
        ),  # 00:30 local
        (
            "today",
            datetime(2026, 3, 29, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        ),  # DST day
    ],
)
def test_given_a_window_when_bounds_are_computed_then_today_starts_at_local_midnight(
    window: str, now: datetime, since: datetime
) -> None:
    assert kpi.window_bounds(window, now, PARIS) == (since, now)


def test_given_calls_around_the_window_edge_when_filtered_then_since_is_inclusive_and_until_exclusive() -> (
    None
):
    facts = [CallFact(offered_at=T0 + timedelta(minutes=m)) for m in (-16, -15, -1, 0)]
    since, until = kpi.window_bounds("15", T0, PARIS)
    assert [f.offered_at for f in kpi.in_window(facts, since, until)] == [
        T0 - timedelta(minutes=15),
        T0 - timedelta(minutes=1),
    ]


@pytest.mark.parametrize(
    ("t", "minutes", "zone", "start"),
    [
        (datetime(2026, 3, 10, 9, 14, 59, tzinfo=UTC), 15, PARIS, datetime(2026, 3, 10, 9, 0, tzinfo=UTC)),
        (datetime(2026, 3, 10, 9, 15, tzinfo=UTC), 15, PARIS, datetime(2026, 3, 10, 9, 15, tzinfo=UTC)),
        (datetime(2026, 3, 10, 9, 44, tzinfo=UTC), 30, PARIS, datetime(2026, 3, 10, 9, 30, tzinfo=UTC)),
        (datetime(2026, 3, 10, 9, 59, tzinfo=UTC), 60, PARIS, datetime(2026, 3, 10, 9, 0, tzinfo=UTC)),
        # India is UTC+5:30: hours start at :30 UTC there.
        (
            datetime(2026, 3, 10, 9, 10, tzinfo=UTC),
            60,
            "Asia/Kolkata",
            datetime(2026, 3, 10, 8, 30, tzinfo=UTC),
        ),
    ],
)
def test_given_a_time_when_its_interval_is_found_then_it_is_aligned_on_the_local_clock(
    t: datetime, minutes: int, zone: str, start: datetime
) -> None:
    assert kpi.interval_start(t, minutes, zone) == start


def test_given_an_unsupported_interval_when_used_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        kpi.interval_start(T0, 20, PARIS)


def test_given_calls_in_two_queues_when_grouped_by_interval_then_groups_are_per_queue_and_time() -> None:
    facts = [
        CallFact(offered_at=T0 + timedelta(minutes=m), queue=q)
        for m, q in [(1, "b"), (2, "a"), (16, "a"), (29, "a")]
    ]
    groups = kpi.by_interval(facts, 15, PARIS)
    assert [(k, s.minute, len(v)) for (k, s), v in groups.items()] == [("a", 0, 1), ("a", 15, 2), ("b", 0, 1)]


def test_given_state_periods_when_timed_then_periods_are_clipped_and_pauses_split_by_reason() -> None:
    since, until, now = T0, T0 + timedelta(hours=1), T0 + timedelta(minutes=50)
    periods = [
        StatePeriod(1, "ready", T0 - timedelta(minutes=10), T0 + timedelta(minutes=5)),  # clipped at since
        StatePeriod(1, "on_call", T0 + timedelta(minutes=5), T0 + timedelta(minutes=20)),
        StatePeriod(1, "paused", T0 + timedelta(minutes=20), T0 + timedelta(minutes=30), "dejeuner"),
        StatePeriod(1, "pause", T0 + timedelta(minutes=30), T0 + timedelta(minutes=35), "brief"),  # alias
        StatePeriod(1, "wrap_up", T0 + timedelta(minutes=35), None),  # open: runs until now
        StatePeriod(2, "ready", T0 - timedelta(hours=2), T0 - timedelta(hours=1)),  # outside
    ]
    st = kpi.state_time(periods, since, until, now)
    assert set(st) == {1}
    assert st[1].seconds == {
        ("ready", None): 300,
        ("on_call", None): 900,
        ("paused", "dejeuner"): 600,
        ("paused", "brief"): 300,
        ("wrap_up", None): 900,
    }
    assert st[1].total("paused") == 900 and kpi.logged_in_s(st[1]) == 3000
    assert kpi.state_occupancy(st[1]) == pytest.approx(1800 / 2100)
