"""Pacing policies, as tables: given an observation, when a policy decides, then this many calls."""

from __future__ import annotations

import math

import pytest

from dialer.pacing import (
    AbandonMeasure,
    IssabelPredictor,
    Observation,
    PacingStats,
    PlateauPredictive,
    Preview,
    Progressive,
    VicidialAdaptive,
    make_policy,
)
from dialer.pacing.plateau import (
    expected_excess,
    finish_probabilities,
    finish_probability,
    live_probability,
    overflow_probability,
    ready_probability,
    wraps_after_talk,
)

HANDLE = sorted([20.0 + 10 * i for i in range(60)])  # 20 … 610 s
WRAP = [20.0] * 60
HUMAN = sorted([8.0 + 0.1 * i for i in range(40)])
OTHER = sorted([3.0] * 30 + [20.0] * 90)
FINISHING = dict(on_call=[], in_wrap=[15.0] * 20)  # 20 agents 5 s from the end of a 20 s wrap-up


def measured(**kw: object) -> Observation:
    """A campaign with enough samples for predictive pacing; fields overridable."""
    base: dict[str, object] = dict(
        now=1000.0,
        agents_ready=0,
        on_call=[100.0] * 20,
        dials_sampled=1000,
        answer_rate=0.25,
        human_delays=HUMAN,
        other_delays=OTHER,
        handle_times=HANDLE,
        wrap_times=WRAP,
        abandon_today=AbandonMeasure(5, 500),
        abandon_period=AbandonMeasure(50, 5000),
    )
    base.update(kw)
    return Observation(**base)  # type: ignore[arg-type]


# --- preview and progressive ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "max_channels", "on_call", "calls"),
    [(0, None, 0, 0), (3, None, 5, 3), (3, 6, 5, 1), (3, 5, 5, 0)],
)
def test_given_agent_clicks_when_preview_decides_then_one_call_per_click_within_trunks(
    requests: int, max_channels: int | None, on_call: int, calls: int
) -> None:
    obs = Observation(
        now=0, agents_ready=0, on_call=[1.0] * on_call, preview_requests=requests, max_channels=max_channels
    )
    assert Preview().decide(obs).calls == calls


@pytest.mark.parametrize(
    ("ready", "ringing", "waiting", "calls"),
    [(0, 0, 0, 0), (5, 0, 0, 5), (5, 3, 0, 2), (5, 3, 1, 1), (2, 4, 0, 0)],
)
def test_given_free_agents_and_calls_in_flight_when_progressive_decides_then_one_per_uncovered_agent(
    ready: int, ringing: int, waiting: int, calls: int
) -> None:
    obs = Observation(now=0, agents_ready=ready, ringing=[5.0] * ringing, waiting=waiting)
    decision = Progressive().decide(obs)
    assert decision.calls == calls
    assert decision.inputs["agents_ready"] == ready


# --- Plateau predictive: building blocks ----------------------------------------------------------


@pytest.mark.parametrize(
    ("mu", "var", "expected"),
    [(0.0, 1.0, 1 / math.sqrt(2 * math.pi)), (5.0, 0.0, 5.0), (-5.0, 0.0, 0.0), (-10.0, 1.0, 0.0)],
)
def test_given_a_normal_when_expected_excess_then_matches_closed_form(
    mu: float, var: float, expected: float
) -> None:
    assert expected_excess(mu, var) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("mu", "var", "expected"),
    [
        (0.5, 1.0, 0.5),  # half a person short on average: even odds of one more than agents
        (1.5, 1.0, 0.5 * (1 + math.erf(1 / math.sqrt(2)))),  # one sigma past the half: 84 %
        (-10.0, 1.0, 0.0),
        (2.0, 0.0, 1.0),  # certain: two more people than agents
        (0.0, 0.0, 0.0),  # certain: as many agents as people
    ],
)
def test_given_a_normal_gap_when_overflow_probability_then_at_least_one_person_more_than_agents(
    mu: float, var: float, expected: float
) -> None:
    assert overflow_probability(mu, var) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("elapsed", "horizon", "expected"),
    [
        (0.0, 15.0, 0.0),  # nobody finishes within 15 s of starting (shortest is 20 s)
        (15.0, 10.0, 1 / 60),  # 20 s is the only one in (15, 25]
        (295.0, 20.0, 2 / 32),  # survivors of 295 s: 300…610 (32); 300 and 310 end within 20 s
        (605.0, 10.0, 1 - math.exp(-10 / 30)),  # beyond the data: memoryless tail
    ],
)
def test_given_handle_samples_when_finish_probability_then_conditioned_on_elapsed(
    elapsed: float, horizon: float, expected: float
) -> None:
    assert finish_probability(HANDLE, elapsed, horizon) == pytest.approx(expected)


def test_given_calls_still_going_on_when_finish_probability_then_they_survive_in_the_risk_set() -> None:
    """Early in a day only short calls have ended: the long ones still going on must weigh too."""
    short = [60.0 + i for i in range(10)]  # 60 … 69 s, all finished
    assert finish_probabilities(short, 50.0, [30.0]) == [1.0]
    assert finish_probabilities(short, 50.0, [30.0], censored=[55.0] * 5 + [300.0] * 10) == [10 / 25]


_H, _O = 19 / 40 * 0.25, 90 / 120 * 0.75  # still unresolved at 10 s: humans after 10 s, no-answers


@pytest.mark.parametrize(
    ("ring", "expected"),
    [(0.0, 0.25), (5.0, 0.25 / (0.25 + 0.75 * 0.75)), (10.0, _H / (_H + _O)), (25.0, 0.0)],
)
def test_given_ring_time_when_live_probability_then_conditioned_on_still_ringing(
    ring: float, expected: float
) -> None:
    assert live_probability(HUMAN, OTHER, 0.25, ring) == pytest.approx(expected)


# --- Plateau predictive: decisions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("obs", "reason"),
    [
        (measured(on_call=[100.0] * 3, agents_ready=1), "small_team"),
        (measured(dials_sampled=20), "few_samples"),
        (measured(handle_times=HANDLE[:9]), "few_samples"),
        (measured(abandon_today=AbandonMeasure(15, 500)), "abandon_guard"),
        (measured(abandon_period=AbandonMeasure(30, 1000)), "abandon_guard"),
        (measured(abandon_24h=AbandonMeasure(10, 300)), "abandon_guard"),
    ],
)
def test_given_a_risky_or_unknown_campaign_when_plateau_decides_then_it_dials_progressively(
    obs: Observation, reason: str
) -> None:
    decision = PlateauPredictive().decide(obs)
    assert decision.mode == "progressive"
    assert decision.inputs["fallback"] == reason
    assert decision.calls == max(0, obs.agents_ready - len(obs.ringing) - obs.waiting)


@pytest.mark.parametrize(
    ("today", "cautious", "mode", "caution"),
    [
        (AbandonMeasure(5, 500), 0.1, "predictive", 1.0),  # one more abandon: 1.2 %, far from the guard
        (AbandonMeasure(0, 20), 0.1, "predictive", 0.1),  # one more abandon: 4.8 %
        (AbandonMeasure(0, 0), 0.1, "predictive", 0.1),  # a new day: the first abandon would be 100 %
        (AbandonMeasure(0, 20), 0.0, "progressive", None),  # caution off: progressive until enough live
    ],
)
def test_given_one_abandon_from_the_guard_when_plateau_decides_then_it_dials_cautiously(
    today: AbandonMeasure, cautious: float, mode: str, caution: float | None
) -> None:
    calm = PlateauPredictive().decide(measured(**FINISHING))
    decision = PlateauPredictive(cautious=cautious).decide(measured(**FINISHING, abandon_today=today))
    assert decision.mode == mode
    assert decision.inputs.get("caution") == caution
    if caution == 1.0:
        assert decision.calls == calm.calls
    elif caution is not None:  # ahead of the agents about to be free, but fewer than on a calm day
        assert 0 < decision.calls < calm.calls
        assert decision.inputs["alpha"] == pytest.approx(calm.inputs["alpha"] * caution)  # type: ignore[operator]
    else:
        assert decision.inputs["fallback"] == "abandon_guard"
        assert decision.calls == 0  # nobody ready yet


@pytest.mark.parametrize(
    ("setpoint", "live", "caution"),
    [
        (1 / 3, 60, 0.01 / (1 / 61)),  # one more abandon would be 1.6 % against a 1 % target
        (1 / 3, 200, 1.0),  # one more would be 0.5 %: within the target
        (1 / 300, 200, 0.1),  # one more would be 0.5 %, 50 times a 0.01 % target: the floor
    ],
)
def test_given_one_abandon_over_a_low_target_when_plateau_decides_then_caution_scales_with_the_overshoot(
    setpoint: float, live: int, caution: float
) -> None:
    quiet = AbandonMeasure(0, live)
    policy = PlateauPredictive(setpoint=setpoint)
    decision = policy.decide(measured(**FINISHING, abandon_today=quiet, abandon_period=quiet))
    assert decision.mode == "predictive"
    assert decision.inputs["caution"] == pytest.approx(caution)


def test_given_agents_about_to_finish_when_plateau_decides_then_it_dials_ahead_of_them() -> None:
    decision = PlateauPredictive().decide(measured(**FINISHING))  # all free within 5 s
    assert decision.mode == "predictive"
    assert decision.calls > 20  # several calls per agent about to be free (answer rate 0.25)
    assert decision.inputs["agents_free_soon"] > 10


@pytest.mark.parametrize("field", ["on_call", "ringing", "abandon"])
def test_given_more_pressure_when_plateau_decides_then_never_more_calls(field: str) -> None:
    """Monotone: later-in-call agents → more calls; more calls ringing or a higher abandon rate → fewer."""
    if field == "on_call":
        low, high = measured(on_call=[30.0] * 20), measured(**FINISHING)
        assert PlateauPredictive().decide(low).calls <= PlateauPredictive().decide(high).calls
    elif field == "ringing":
        base = measured(**FINISHING)
        busy = measured(**FINISHING, ringing=[2.0] * 15)
        assert PlateauPredictive().decide(busy).calls < PlateauPredictive().decide(base).calls
    else:
        calm = PlateauPredictive()
        tense = PlateauPredictive()
        for step in range(600):  # ten minutes of feedback: 2 live calls a second, none or 2.5 % abandoned
            today_calm = AbandonMeasure(0, 2000 + 2 * step)
            today_tense = AbandonMeasure(30 + 0.05 * step, 2000 + 2 * step)
            a = calm.decide(measured(**FINISHING, abandon_today=today_calm, now=1000.0 + step))
            b = tense.decide(measured(**FINISHING, abandon_today=today_tense, now=1000.0 + step))
        assert b.calls < a.calls
        assert tense.bias > calm.bias


def _fields(obs: Observation) -> dict[str, object]:
    return {name: getattr(obs, name) for name in obs.__slots__}  # type: ignore[attr-defined]


@pytest.mark.parametrize("overflow_per_alpha", [2.0, 10.0, 30.0])
def test_given_agents_about_to_finish_when_plateau_decides_then_the_overflow_stays_within_its_allowance(
    overflow_per_alpha: float,
) -> None:
    decision = PlateauPredictive(overflow_per_alpha=overflow_per_alpha).decide(measured(**FINISHING))
    looser = PlateauPredictive(overflow_per_alpha=overflow_per_alpha * 2).decide(measured(**FINISHING))
    assert decision.inputs["overflow_allowed"] == pytest.approx(min(0.5, overflow_per_alpha * 0.018))
    assert decision.inputs["overflow"] <= decision.inputs["overflow_allowed"]  # type: ignore[operator]
    assert looser.calls >= decision.calls


@pytest.mark.parametrize(
    ("setpoint", "live", "loosens"),
    [
        (0.6, 2000, True),  # 0 of 2000 abandoned: one more would be 0.05 %, well under a 1.8 % target
        (0.6, 30, False),  # 0 of 30: one more would be 3.2 %, over the target: no news yet
        (1 / 300, 2000, False),  # 0 of 2000 says nothing about a 0.01 % target
    ],
)
def test_given_no_abandon_yet_when_plateau_learns_then_it_aims_lower_only_on_evidence(
    setpoint: float, live: int, loosens: bool
) -> None:
    policy = PlateauPredictive(setpoint=setpoint)
    quiet = AbandonMeasure(0, live)
    for step in range(600):
        policy.decide(measured(**FINISHING, abandon_today=quiet, abandon_period=quiet, now=1000.0 + step))
    assert (policy.bias < 0) is loosens
    assert policy.bias <= 0


def test_given_a_trunk_limit_when_plateau_decides_then_it_stays_within_it() -> None:
    obs = measured(in_wrap=[15.0] * 20, on_call=[5.0] * 20, max_channels=25)  # 20 calls up, 5 lines left
    assert PlateauPredictive().decide(obs).calls == 5


# --- VICIdial-style adaptive ----------------------------------------------------------------------


def _vici_run(policy: VicidialAdaptive, seconds: int, **kw: object) -> int:
    calls = 0
    for s in range(seconds):
        obs = Observation(**{"now": float(s), "agents_ready": 0, **kw})  # type: ignore[arg-type]
        calls = policy.decide(obs).calls
    return calls


@pytest.mark.parametrize(
    ("ready", "on_call", "waiting", "level_after"),
    [
        (5, 5, 0, 1.5),  # half the agents idle: level × (1 + 5/10)
        (0, 10, 0, 1.0),  # nobody idle: unchanged
        (10, 0, 0, 2.0),  # all idle: doubled
    ],
)
def test_given_idle_agents_when_vicidial_adapts_every_15_s_then_level_scales_by_the_differential(
    ready: int, on_call: int, waiting: int, level_after: float
) -> None:
    policy = VicidialAdaptive()
    _vici_run(policy, 16, agents_ready=ready, on_call=[10.0] * on_call, waiting=waiting)
    assert policy.level == pytest.approx(level_after)


@pytest.mark.parametrize(
    ("method", "start", "expected"),
    [("ADAPT_HARD_LIMIT", 2.5, 1.0), ("ADAPT_AVERAGE", 2.5, 1.25), ("ADAPT_TAPERED", 2.5, 2.5 * 0.6)],
)
def test_given_daily_drops_over_target_when_vicidial_adapts_then_the_drop_method_applies(
    method: str, start: float, expected: float
) -> None:
    policy = VicidialAdaptive(method=method, level=start, server_hhmm=1500)  # type: ignore[arg-type]
    _vici_run(policy, 16, on_call=[10.0] * 10, dials_today=500, abandon_today=AbandonMeasure(5, 100))
    assert policy.level == pytest.approx(expected)


@pytest.mark.parametrize(("clock", "expected"), [(1000, 2.5), (2000, 2.5 * 0.1), (2130, 1.0)])
def test_given_the_observed_clock_when_vicidial_tapers_then_the_level_shrinks_toward_closing(
    clock: int, expected: float
) -> None:
    policy = VicidialAdaptive(method="ADAPT_TAPERED", level=2.5)
    kw = dict(on_call=[10.0] * 10, dials_today=500, abandon_today=AbandonMeasure(5, 100), clock_hhmm=clock)
    _vici_run(policy, 16, **kw)
    assert policy.level == pytest.approx(max(expected, 1.0))


def test_given_a_level_when_vicidial_decides_then_goal_calls_minus_existing_calls() -> None:
    policy = VicidialAdaptive(level=2.5)
    obs = Observation(now=0, agents_ready=2, on_call=[5.0] * 8, ringing=[1.0] * 4, waiting=1)
    assert policy.decide(obs).calls == math.floor(2.5 * 10) - (8 + 4 + 1)


def test_given_idle_agents_for_long_when_vicidial_adapts_then_level_never_passes_the_maximum() -> None:
    policy = VicidialAdaptive()
    _vici_run(policy, 300, agents_ready=10)
    assert policy.level == 3.0


# --- Issabel-style predictor ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "counted"),
    [(100.0, 0), (1000.0, 1)],  # mean 150 s, qos 0.97: counts once t + 8 ≥ 3.5 × 150
)
def test_given_busy_agents_when_issabel_predicts_then_only_those_past_the_qos_cdf_count(
    elapsed: float, counted: int
) -> None:
    obs = Observation(
        now=0,
        agents_ready=0,
        on_call=[elapsed],
        handle_times=[150.0] * 20,
        human_delays=[8.0] * 20,
        dials_sampled=5,
    )
    decision = IssabelPredictor().decide(obs)
    assert decision.inputs["agents_soon_free"] == counted
    assert decision.calls == counted


@pytest.mark.parametrize(
    ("asr", "calls"),
    [(0.5, 6), (0.25, 12), (0.1, 15)],  # 3 free agents / ASR, the ASR floored at 0.20
)
def test_given_an_answer_rate_when_issabel_overcommits_then_it_divides_by_it(asr: float, calls: int) -> None:
    obs = Observation(now=0, agents_ready=3, handle_times=[150.0] * 20, dials_sampled=100, answer_rate=asr)
    assert IssabelPredictor().decide(obs).calls == calls


def test_given_few_finished_calls_when_issabel_predicts_then_only_free_agents_count() -> None:
    obs = Observation(now=0, agents_ready=2, on_call=[5000.0], handle_times=[150.0] * 5)
    assert IssabelPredictor(overcommit=False).decide(obs).calls == 2


# --- stats and factory ------------------------------------------------------------------------------


def test_given_outcomes_when_stats_slide_then_rates_and_sorted_windows_follow() -> None:
    stats = PacingStats(dial_window=4, call_window=3)
    for live, delay in [(True, 9.0), (False, 20.0), (True, 7.0), (False, 3.0), (False, 20.0)]:
        stats.dial_resolved(live, delay)
    assert stats.dials_sampled == 4
    assert stats.answer_rate == 0.25  # the first live answer slid out
    for talk in (100.0, 50.0, 300.0, 10.0):
        stats.call_finished(talk, 20.0)
    assert stats.handle.sorted == [30.0, 70.0, 320.0]
    assert stats.human_delays.sorted == [7.0, 9.0]


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_given_a_bad_duration_when_recorded_then_a_clear_error(bad: float) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        PacingStats().call_finished(bad, 20.0)


def test_given_an_unknown_name_when_making_a_policy_then_the_choices_are_named() -> None:
    with pytest.raises(ValueError, match="preview, progressive, vicidial, issabel, plateau"):
        make_policy("turbo")


def test_given_ready_only_tally_when_vicidial_decides_then_ready_agents_and_pending_calls_count() -> None:
    policy = VicidialAdaptive(level=2.0, available_only_ratio_tally=True)
    obs = Observation(now=0, agents_ready=3, on_call=[5.0] * 7, ringing=[1.0] * 2, waiting=1)
    assert policy.decide(obs).calls == 2 * 3 - (2 + 1)


# --- peers as their source code does it -------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "ready", "on_call", "in_wrap", "calls"),
    [
        (1.25, 2, 0, 0, 2),  # 2.5 rounds half to even (sprintf "%.0f")
        (1.75, 2, 0, 0, 4),  # 3.5 rounds to 4
        (2.0, 2, 3, 5, 10 - 3),  # wrap-up agents are DEAD: 2 × (2 + 3) − 3 connected calls
    ],
)
def test_given_a_level_when_vicidial_tallies_agents_then_goal_rounds_and_wrap_up_is_not_counted(
    level: float, ready: int, on_call: int, in_wrap: int, calls: int
) -> None:
    obs = Observation(now=0, agents_ready=ready, on_call=[5.0] * on_call, in_wrap=[5.0] * in_wrap)
    assert VicidialAdaptive(level=level).decide(obs).calls == calls


def test_given_ticks_every_second_when_vicidial_dials_then_only_every_2_5_s_on_average() -> None:
    policy = VicidialAdaptive(level=1.0)
    placing = [policy.decide(Observation(now=float(s), agents_ready=1)).calls > 0 for s in range(10)]
    assert placing == [True, False, False, True, False, True, False, False, True, False]


def test_given_paused_agents_when_vicidial_adapts_then_they_dilute_the_differential() -> None:
    policy = VicidialAdaptive()
    _vici_run(policy, 16, agents_ready=5, on_call=[10.0] * 5, agents_paused=10)
    assert policy.level == pytest.approx(1.25)  # 5 idle of 20 live agents, not of 10


@pytest.mark.parametrize(
    ("connect", "live", "calls"),
    [(0.5, 0.25, 6), (0.45, 0.25, 7), (None, 0.25, 12)],  # 3 free / ASR, half up; no ASR: live rate
)
def test_given_answered_calls_when_issabel_overcommits_then_it_divides_by_the_asr(
    connect: float | None, live: float, calls: int
) -> None:
    obs = Observation(
        now=0,
        agents_ready=3,
        handle_times=[150.0] * 20,
        dials_sampled=100,
        answer_rate=live,
        connect_rate=connect,
    )
    assert IssabelPredictor().decide(obs).calls == calls


def test_given_machines_and_people_when_stats_count_then_the_connect_rate_counts_both() -> None:
    stats = PacingStats(dial_window=4)
    for live, answered in [(True, True), (False, True), (False, False), (False, False), (False, True)]:
        stats.dial_resolved(live, 5.0, answered=answered)
    assert (stats.answer_rate, stats.connect_rate) == (0.0, 0.5)  # the first (live) call slid out


# --- Plateau: who frees up, and when ----------------------------------------------------------------


TALK_WRAP = sorted([(8.0, 3.0)] * 40 + [(100.0 + i, 20.0) for i in range(40)])  # machines, then people


@pytest.mark.parametrize(
    ("talk", "expected"),
    [(8.0, [3.0] * 40), (120.0, [20.0] * 40), (60.0, [3.0] * 20 + [20.0] * 20)],
)
def test_given_the_call_just_ended_when_wrap_ups_are_looked_up_then_those_of_similar_calls(
    talk: float, expected: list[float]
) -> None:
    assert wraps_after_talk(TALK_WRAP, talk) == expected


def test_given_few_calls_when_wrap_ups_are_looked_up_then_none() -> None:
    assert wraps_after_talk(TALK_WRAP[:10], 8.0) == []


@pytest.mark.parametrize(
    ("ring", "ahead", "expected"),
    [(0.0, 100.0, 0.25), (0.0, 7.9, 0.0), (5.0, 4.0, 0.25 * 11 / 40 / (0.25 + 0.75 * 0.75))],
)
def test_given_a_call_ringing_when_ready_probability_then_live_and_ready_within_the_look_ahead(
    ring: float, ahead: float, expected: float
) -> None:
    assert ready_probability(HUMAN, OTHER, 0.25, ring, ahead) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("obs", "more_than"),
    [
        (measured(on_call=[], in_wrap=[15.0] * 20, in_wrap_leaving=[False] * 20), True),
        (measured(on_call=[], in_wrap=[15.0] * 20, in_wrap_leaving=[True] * 20), False),  # all leave after
        (measured(on_call=[], in_wrap=[1.0] * 20, in_wrap_talk=[8.0] * 20, talk_wrap=TALK_WRAP), True),
        (measured(on_call=[], in_wrap=[1.0] * 20, in_wrap_talk=[120.0] * 20, talk_wrap=TALK_WRAP), False),
    ],
)
def test_given_agents_in_wrap_up_when_plateau_decides_then_only_those_free_soon_and_staying_count(
    obs: Observation, more_than: bool
) -> None:
    """20 agents in wrap-up: dial ahead for them only when they are about to be free and will stay."""
    decision = PlateauPredictive().decide(obs)
    assert decision.mode == "predictive"
    assert (decision.calls > 5) is more_than


@pytest.mark.parametrize("setpoint", [0.01, 0.6])
def test_given_abandons_over_a_target_when_plateau_adapts_then_a_low_target_learns_as_fast_as_a_high_one(
    setpoint: float,
) -> None:
    """The feedback works on the relative error: twice the target moves the bias alike at any target."""
    policy = PlateauPredictive(setpoint=setpoint, prior_live=0.0)
    target = setpoint * 0.03
    for step in range(301):  # five minutes at twice the target, 10 live calls a second
        rate = AbandonMeasure(2 * target * 10 * step, 10 * step)
        policy.decide(measured(**FINISHING, abandon_today=rate, abandon_period=rate, now=1000.0 + step))
    assert policy.bias == pytest.approx(math.log(2.0), rel=1e-6)
