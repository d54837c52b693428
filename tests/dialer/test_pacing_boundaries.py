"""Pacing at its exact thresholds and floors: the value itself, one below and one above."""

from __future__ import annotations

import math

import pytest

from dialer.pacing import (
    POLICIES,
    AbandonMeasure,
    Observation,
    PacingStats,
    PlateauPredictive,
    Preview,
    Progressive,
    SortedWindow,
    make_policy,
)
from dialer.pacing.model import cap_channels, mean, median, progressive_calls
from dialer.pacing.plateau import (
    expected_excess,
    finish_probabilities,
    live_probability,
    overflow_probability,
    ready_probabilities,
    wraps_after_talk,
)
from tests.dialer.test_pacing import FINISHING, HANDLE, WRAP, measured

# --- the observation and its helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "rate"),
    [
        (AbandonMeasure(0, 0), None),
        (AbandonMeasure(1, 0), None),
        (AbandonMeasure(0, 4), 0.0),
        (AbandonMeasure(1, 4), 0.25),
    ],
)
def test_given_abandons_and_live_calls_when_rated_then_none_before_the_first_live_call(
    measure: AbandonMeasure, rate: float | None
) -> None:
    assert measure.rate == rate


@pytest.mark.parametrize(("pct", "limit"), [(None, 0.03), (0.0, 0.0), (5.0, 0.05)])
def test_given_a_limit_or_none_when_read_then_the_default_is_three_percent(
    pct: float | None, limit: float
) -> None:
    assert Observation(now=0, agents_ready=0, abandon_limit_percent=pct).limit == limit


def test_given_agents_when_counted_then_paused_ones_are_not_logged_in_for_pacing() -> None:
    obs = Observation(now=0, agents_ready=2, on_call=(1.0, 2.0, 3.0), in_wrap=(4.0,), agents_paused=7)
    assert obs.agents_logged_in == 6
    day, period, day24 = AbandonMeasure(1, 2), AbandonMeasure(3, 4), AbandonMeasure(5, 6)
    assert Observation(now=0, agents_ready=0, abandon_today=day, abandon_period=period).abandon_measures == (
        day,
        period,
    )
    assert Observation(
        now=0, agents_ready=0, abandon_today=day, abandon_period=period, abandon_24h=day24
    ).abandon_measures == (day, period, day24)


@pytest.mark.parametrize(
    ("calls", "max_channels", "ringing", "waiting", "on_call", "capped"),
    [
        (-2, None, 0, 0, 0, 0),  # never negative
        (5, None, 3, 3, 3, 5),
        (5, 10, 2, 1, 2, 5),  # 10 - 5 busy = 5: exactly enough
        (5, 10, 2, 1, 3, 4),  # one more busy: one fewer call
        (5, 10, 5, 5, 5, 0),  # over the limit already: none, not negative
    ],
)
def test_given_a_trunk_limit_when_capped_then_ringing_waiting_and_connected_calls_all_count(
    calls: int, max_channels: int | None, ringing: int, waiting: int, on_call: int, capped: int
) -> None:
    obs = Observation(
        now=0,
        agents_ready=0,
        max_channels=max_channels,
        ringing=(1.0,) * ringing,
        waiting=waiting,
        on_call=(1.0,) * on_call,
    )
    assert cap_channels(calls, obs) == capped


@pytest.mark.parametrize(
    ("ready", "ringing", "waiting", "calls"), [(3, 1, 1, 1), (3, 2, 1, 0), (3, 3, 1, 0), (0, 0, 0, 0)]
)
def test_given_free_agents_when_progressive_then_one_per_agent_not_covered(
    ready: int, ringing: int, waiting: int, calls: int
) -> None:
    obs = Observation(now=0, agents_ready=ready, ringing=(1.0,) * ringing, waiting=waiting)
    assert progressive_calls(obs) == calls
    decision = Progressive().decide(obs)
    assert (decision.calls, decision.policy, decision.mode) == (calls, "progressive", "progressive")
    assert decision.inputs == {"agents_ready": ready, "ringing": ringing, "waiting": waiting}


def test_given_clicks_when_preview_decides_then_its_inputs_name_them() -> None:
    decision = Preview().decide(Observation(now=0, agents_ready=0, preview_requests=2))
    assert (decision.calls, decision.policy, decision.mode, dict(decision.inputs)) == (
        2,
        "preview",
        "preview",
        {"preview_requests": 2},
    )


@pytest.mark.parametrize(
    ("values", "median_of", "mean_of"),
    [
        ((), 7.0, 7.0),
        ((1.0,), 1.0, 1.0),
        ((1.0, 3.0), 2.0, 2.0),
        ((1.0, 2.0, 9.0), 2.0, 4.0),
        ((1.0, 2.0, 4.0, 9.0), 3.0, 4.0),
    ],
)
def test_given_sorted_samples_when_summarised_then_median_and_mean(
    values: tuple[float, ...], median_of: float, mean_of: float
) -> None:
    assert median(values, 7.0) == median_of
    assert mean(values, 7.0) == mean_of


@pytest.mark.parametrize("name", POLICIES)
def test_given_each_policy_name_when_made_then_a_fresh_instance_of_that_policy(name: str) -> None:
    first, second = make_policy(name), make_policy(name)
    assert first.name == name and first is not second


# --- sliding windows -----------------------------------------------------------------------------------


def test_given_a_window_of_three_when_a_fourth_value_comes_then_the_oldest_leaves_not_the_smallest() -> None:
    w = SortedWindow(3)
    for v in (5.0, 1.0, 3.0):
        w.add(v)
    assert (w.sorted, len(w)) == ([1.0, 3.0, 5.0], 3)
    w.add(4.0)
    assert (w.sorted, len(w)) == ([1.0, 3.0, 4.0], 3)
    w.add(0.0)
    assert w.sorted == [0.0, 3.0, 4.0]


@pytest.mark.parametrize("size", [0, -1])
def test_given_a_window_size_under_one_when_made_then_refused(size: int) -> None:
    with pytest.raises(ValueError, match=f"at least 1, got {size}"):
        SortedWindow(size)


def test_given_a_window_of_one_when_used_then_it_holds_one_value_and_zero_is_a_duration() -> None:
    w = SortedWindow(1)
    w.add(0.0)
    w.add(2.0)
    assert w.sorted == [2.0]
    with pytest.raises(ValueError, match="non-negative"):
        w.add(-0.001)
    with pytest.raises(ValueError, match="non-negative"):
        w.add(math.nan)


def test_given_a_full_dial_window_when_outcomes_slide_then_counts_drop_with_the_oldest() -> None:
    stats = PacingStats(dial_window=3, call_window=2)
    assert (stats.answer_rate, stats.connect_rate, stats.dials_sampled) == (None, None, 0)
    stats.dial_resolved(True, 5.0)
    stats.dial_resolved(False, 2.0, answered=True)  # a machine
    stats.dial_resolved(False, 9.0)
    assert (stats.humans, stats.answered, stats.dials_sampled) == (1, 2, 3)
    stats.dial_resolved(False, 1.0)  # the live answer leaves
    assert (stats.humans, stats.answered, stats.answer_rate, stats.connect_rate) == (0, 1, 0.0, 1 / 3)
    stats.dial_resolved(False, 1.0)  # the machine leaves
    assert (stats.humans, stats.answered) == (0, 0)
    assert stats.human_delays.sorted == [5.0]
    assert stats.other_delays.sorted == [1.0, 1.0, 9.0]
    stats.dial_resolved(True, 4.0, answered=False)  # live implies answered
    assert (stats.humans, stats.answered) == (1, 1)


def test_given_finished_calls_when_the_call_window_slides_then_talk_wrap_pairs_follow() -> None:
    stats = PacingStats(call_window=2)
    stats.call_finished(100.0, 10.0)
    stats.call_finished(50.0, 5.0)
    assert stats.talk_wrap == [(50.0, 5.0), (100.0, 10.0)]
    assert stats.handle.sorted == [55.0, 110.0]
    stats.call_finished(70.0, 0.0)
    assert stats.talk_wrap == [(50.0, 5.0), (70.0, 0.0)], "the oldest pair leaves"
    assert stats.handle.sorted == [55.0, 70.0]
    assert stats.wrap.sorted == [0.0, 5.0]
    with pytest.raises(ValueError, match=r"got -1\.0"):
        stats.call_finished(-1.0, 1.0)


# --- the predictive model's pieces ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mu", "var", "excess", "overflow"),
    [
        (2.0, 0.0, 2.0, 1.0),
        (-1.0, 0.0, 0.0, 0.0),
        (0.5, 0.0, 0.5, 0.0),  # exactly half a person: not an overflow
        (0.6, 1e-13, 0.6, 1.0),
        (0.5, 1.0, None, 0.5),
        (0.0, 1.0, 1 / math.sqrt(2 * math.pi), None),
    ],
)
def test_given_a_normal_gap_when_measured_then_excess_and_overflow_at_their_edges(
    mu: float, var: float, excess: float | None, overflow: float | None
) -> None:
    if excess is not None:
        assert expected_excess(mu, var) == pytest.approx(excess)
    if overflow is not None:
        assert overflow_probability(mu, var) == pytest.approx(overflow)


def test_given_a_positive_mean_when_excess_is_measured_then_it_is_the_closed_form() -> None:
    mu, var = 1.0, 4.0
    z = mu / 2.0
    closed = 2.0 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) + mu * 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert expected_excess(mu, var) == pytest.approx(closed)
    assert overflow_probability(1.5, 4.0) == pytest.approx(0.5 * (1 + math.erf(1.0 / math.sqrt(8.0))))


SAMPLES = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]


@pytest.mark.parametrize(
    ("elapsed", "horizon", "p"),
    [
        (0.0, 10.0, 1 / 7),  # a sample equal to elapsed + horizon has ended
        (0.0, 9.999, 0.0),
        (10.0, 10.0, 1 / 6),  # a sample equal to elapsed has ended already: not a survivor
        (20.0, 30.0, 3 / 5),
    ],
)
def test_given_samples_when_finish_probability_then_ends_at_the_horizon_count(
    elapsed: float, horizon: float, p: float
) -> None:
    assert finish_probabilities(SAMPLES, elapsed, (horizon,)) == [pytest.approx(p)]


def test_given_fewer_than_five_survivors_when_finish_probability_then_the_tail_is_memoryless() -> None:
    # elapsed 30: four survivors (40…70), under five: exponential with the mean residual of the last five
    residual = max(((30 - 30) + (40 - 30) + (50 - 30) + (60 - 30) + (70 - 30)) / 5, 30.0)
    assert finish_probabilities(SAMPLES, 30.0, (10.0, 60.0)) == [
        pytest.approx(1 - math.exp(-10 / residual)),
        pytest.approx(1 - math.exp(-60 / residual)),
    ]
    # elapsed 20: five survivors, counted
    assert finish_probabilities(SAMPLES, 20.0, (10.0,)) == [pytest.approx(1 / 5)]
    # a floor of 30 s on the residual
    assert finish_probabilities([1.0, 2.0], 1.5, (30.0,)) == [pytest.approx(1 - math.exp(-1.0))]
    assert finish_probabilities([], 1.0, (1.0, 2.0)) == [0.0, 0.0]


def test_given_calls_still_going_on_when_finish_probability_then_those_past_elapsed_join_the_risk_set() -> (
    None
):
    assert finish_probabilities(SAMPLES, 0.0, (10.0,), censored=[0.0, 100.0]) == [pytest.approx(1 / 8)]


def test_given_delays_when_ready_probability_then_conditioned_on_still_ringing() -> None:
    humans, others = [5.0, 10.0], [2.0, 20.0]
    # at r=0 every call is alive: P(live and ready by x) = p × share of live delays ≤ x
    assert ready_probabilities(humans, others, 0.5, 0.0, (5.0, 10.0)) == [
        pytest.approx(0.25),
        pytest.approx(0.5),
    ]
    # at r=5 one live delay (5) is over, one other (2) too: alive = 0.5×0.5 + 0.5×0.5
    assert ready_probabilities(humans, others, 0.5, 5.0, (5.0,)) == [pytest.approx(0.25 / 0.5)]
    assert ready_probabilities([], others, 0.5, 0.0, (1.0, 2.0)) == [0.0, 0.0]
    assert ready_probabilities(humans, [], 1.0, 20.0, (1.0,)) == [0.0], "nothing alive"
    assert ready_probabilities(humans, [], 0.5, 0.0, (10.0,)) == [pytest.approx(1.0)]


def test_given_delays_when_live_probability_then_conditioned_on_still_ringing() -> None:
    humans, others = [5.0, 10.0], [2.0, 20.0]
    assert live_probability(humans, others, 0.5, 0.0) == pytest.approx(0.5)
    assert live_probability(humans, others, 0.5, 5.0) == pytest.approx(0.5)
    assert live_probability(humans, others, 0.5, 10.0) == pytest.approx(0.0)
    assert live_probability(humans, others, 0.5, 20.0) == 0.0
    assert live_probability([], others, 0.3, 1.0) == 0.3
    assert live_probability(humans, [], 0.3, 1.0) == 0.3


def test_given_exactly_k_calls_when_wrap_ups_are_looked_up_then_all_of_them() -> None:
    pairs = [(float(t), float(100 + t)) for t in range(4)]
    assert wraps_after_talk(pairs[:3], 1.0, k=4) == []
    assert wraps_after_talk(pairs, 1.0, k=4) == [100.0, 101.0, 102.0, 103.0]
    many = [(float(t), float(t)) for t in range(10)]
    assert wraps_after_talk(many, 5.0, k=4) == [3.0, 4.0, 5.0, 6.0], "the closest talks around it"
    assert wraps_after_talk(many, 0.0, k=4) == [0.0, 1.0, 2.0, 3.0], "at the start: the first k"
    assert wraps_after_talk(many, 99.0, k=4) == [6.0, 7.0, 8.0, 9.0], "past the end: the last k"


# --- Plateau's fallbacks at their exact thresholds -------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fallback"),
    [
        ({"on_call": [100.0] * 4, "in_wrap": [], "agents_ready": 0}, "small_team"),
        ({"on_call": [100.0] * 4, "in_wrap": [], "agents_ready": 1}, None),  # exactly min_agents
        ({"dials_sampled": 49}, "few_samples"),
        ({"dials_sampled": 50}, None),
        ({"handle_times": list(range(9))}, "few_samples"),
        ({"handle_times": [float(x) for x in range(10, 20)]}, None),
        ({"answer_rate": 0.0}, "no_answers"),
        ({"answer_rate": None}, "no_answers"),
    ],
)
def test_given_a_campaign_at_a_threshold_when_plateau_decides_then_it_falls_back_only_below_it(
    changes: dict, fallback: str | None
) -> None:
    decision = PlateauPredictive().decide(measured(**changes))
    assert decision.inputs.get("fallback") == fallback
    assert decision.mode == ("progressive" if fallback else "predictive")


def test_given_a_measured_rate_at_the_guard_when_plateau_decides_then_progressive_from_the_guard_itself() -> (
    None
):
    # 3 % limit, guard 0.9: 2.7 %. A big period measure smooths little: 27 in 1000 live is the guard.
    at_guard = AbandonMeasure(0.9 * 0.03 * 10_000, 10_000)
    decision = PlateauPredictive(prior_live=0.0).decide(
        measured(abandon_today=at_guard, abandon_period=at_guard)
    )
    assert decision.inputs["fallback"] == "abandon_guard"
    below = AbandonMeasure(0.89 * 0.03 * 10_000, 10_000)
    decision = PlateauPredictive(prior_live=0.0).decide(measured(abandon_today=below, abandon_period=below))
    assert decision.mode == "predictive"


def test_given_no_free_agent_soon_when_plateau_decides_then_never_below_progressive() -> None:
    obs = measured(agents_ready=3, on_call=[1.0] * 20, in_wrap=[])
    decision = PlateauPredictive().decide(obs)
    assert decision.mode == "predictive"
    assert decision.calls >= progressive_calls(obs) == 3


def test_given_a_ratio_ceiling_when_plateau_decides_then_calls_in_flight_never_pass_it() -> None:
    obs = measured(**FINISHING, ringing=[0.0] * 5)
    decision = PlateauPredictive(max_ratio=0.5).decide(obs)
    assert decision.mode == "predictive"
    assert decision.calls == 5, "0.5 × 20 agents = 10 in flight, 5 already ringing"
    assert PlateauPredictive(max_ratio=0.25).decide(obs).calls == 0


def test_given_elapsed_time_when_plateau_learns_then_one_step_is_at_most_a_minute_and_bias_is_bounded() -> (
    None
):
    over = AbandonMeasure(100, 1000)  # 10 %: the log error (1.7) is clamped to 1
    policy = PlateauPredictive(prior_live=0.0, guard=10.0)
    policy.decide(measured(now=0.0, abandon_today=over, abandon_period=over))
    assert policy.bias == 0.0, "the first decision has no elapsed time"
    policy.decide(measured(now=600.0, abandon_today=over, abandon_period=over))
    assert policy.bias == pytest.approx(60.0 / 300), "ten minutes count as one (clamped error 1)"
    policy.decide(measured(now=500.0, abandon_today=over, abandon_period=over))
    assert policy.bias == pytest.approx(60.0 / 300), "time going back counts nothing"
    bounded = PlateauPredictive(prior_live=0.0, guard=10.0, bias_bounds=(-0.1, 0.1))
    bounded.decide(measured(now=0.0, abandon_today=over, abandon_period=over))
    bounded.decide(measured(now=60.0, abandon_today=over, abandon_period=over))
    assert bounded.bias == 0.1


def test_given_default_windows_when_filled_then_a_thousand_dials_and_five_hundred_calls_are_kept() -> None:
    stats = PacingStats()
    for _ in range(1001):
        stats.dial_resolved(False, 1.0)
    assert stats.dials_sampled == 1000 and len(stats.other_delays) == 1000
    for _ in range(501):
        stats.call_finished(0.0, 0.0)  # zero is a duration
    assert (len(stats.handle), len(stats.wrap), len(stats.talk_wrap)) == (500, 500, 500)
    stats.call_finished(0.5, 0.0)
    assert stats.talk_wrap[-1] == (0.5, 0.0)


def test_given_talks_and_wrap_ups_when_the_closest_are_taken_then_the_window_starts_at_the_talk() -> None:
    # 80 calls, talk j s and wrap-up j/100 s: the 40 around talk 40 are calls 20…59, the one of talk 40 among
    # them even with a wrap-up under a second
    talk_wrap = [(float(j), j / 100) for j in range(80)]
    assert wraps_after_talk(talk_wrap, 40.0) == [j / 100 for j in range(20, 60)]


def test_given_agents_talking_and_wrapping_up_when_plateau_decides_then_each_counts_by_its_own_finish() -> (
    None
):
    # answers up to 47 s after the dial: a 49 s horizon, past the 20 s wrap-up a talking agent still has
    # ahead; the agents leaving after their call (second on the phone, second in wrap-up) never count
    humans = sorted(8.0 + i for i in range(40))
    talking = [100.0, 300.0, 500.0, 590.0]
    obs = measured(
        human_delays=humans,
        on_call=talking,
        on_call_leaving=[False, True, False, False],
        in_wrap=[5.0, 12.0],
        in_wrap_leaving=[False, True],
        agents_ready=1,
    )
    decision = PlateauPredictive().decide(obs)
    horizon = decision.inputs["horizon_s"]
    assert horizon == 49.0
    # a talking agent is free once talk + the median wrap-up (20 s) ends within the horizon, among the
    # handle times longer than theirs so far (the calls still going on weigh in); the one wrapping up
    # is free once their wrap-up ends
    ongoing = sorted(t + 20.0 for t in talking)
    talk_free = sum(
        finish_probabilities(HANDLE, t + 20.0, [horizon - 20.0], ongoing)[0] for t in (100.0, 500.0, 590.0)
    )
    wrap_free = finish_probabilities(WRAP, 5.0, [horizon])[0]
    assert decision.inputs["agents_free_soon"] == pytest.approx(talk_free + wrap_free)
    assert 0 < talk_free < 3 and wrap_free == 1.0
    # the variance of who is free weighs in the overflow the calls are sized by (recorded figures)
    assert (decision.calls, decision.inputs["people_expected"]) == (8, 2.0)
    assert decision.inputs["overflow"] == pytest.approx(0.1643052418744813, rel=1e-9)
    assert decision.inputs["expected_abandons"] == pytest.approx(0.22797864954507102, rel=1e-9)
