"""The peers' pacing policies at their edges (dialer/pacing/peers.py): each threshold at the instant itself
and either side, each term of their formulas on its own, the first sample of the minute versus the next."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from dialer.pacing import AbandonMeasure, IssabelPredictor, Observation, VicidialAdaptive

# --- VICIdial-style adaptive: the 15-second adaptation --------------------------------------------------


def _adapted(policy: VicidialAdaptive, at: Callable[[int], dict[str, object]]) -> float:
    """The policy's level after its first adaptation (second 15), fed `at(second)` every second."""
    for s in range(16):
        policy.decide(Observation(**{"now": float(s), "agents_ready": 0, **at(s)}))  # type: ignore[arg-type]
    return policy.level


@pytest.mark.parametrize(
    ("policy", "agents", "level"),
    [
        # mul = (ready − waiting + target) / agents = (6 − 1 + 1) / 11; factor 1 + 20 % → × (1 + 0.545 × 1.2)
        (
            VicidialAdaptive(intensity=20, dl_diff_target=1),
            dict(agents_ready=6, waiting=1, on_call=[9.0] * 5),
            1.655,
        ),
        # more waiting than ready: mul = −3/10, factor |0.2 − 1| = 0.8 → 2 × (1 − 0.24)
        (VicidialAdaptive(intensity=20, level=2.0), dict(waiting=3, on_call=[9.0] * 10), 1.52),
        (VicidialAdaptive(), dict(agents_ready=1, on_call=[9.0] * 2), 1.333),  # 4/3, to three decimals
        (VicidialAdaptive(), dict(agents_ready=1), 2.0),  # one agent, idle: × 2
        (VicidialAdaptive(level=2.0), dict(agents_paused=0), 2.0),  # nobody logged in: unchanged
        (
            VicidialAdaptive(intensity=-40, level=2.0),
            dict(agents_ready=5, on_call=[9.0] * 5),
            2.6,
        ),  # × (1 + ½ × 0.6)
    ],
    ids=[
        "intensity-waiting-target",
        "negative-differential",
        "three-decimals",
        "one-agent",
        "nobody",
        "negative-intensity",
    ],
)
def test_given_the_samples_of_15_seconds_when_vicidial_adapts_then_the_level_follows_its_formula(
    policy: VicidialAdaptive, agents: dict[str, object], level: float
) -> None:
    assert _adapted(policy, lambda _s: agents) == level


def _minute(dials_at_0: int, drops_at_0: int, dials: int, drops: int) -> Callable[[int], dict[str, object]]:
    """Second 0 of the minute, one more dial by second 1, then `dials` and `drops` more by second 15."""

    def at(s: int) -> dict[str, object]:
        n, a = (dials_at_0, drops_at_0) if s == 0 else (dials_at_0 + 1, drops_at_0)
        if s == 15:
            n, a = dials_at_0 + dials, drops_at_0 + drops
        return dict(on_call=[9.0] * 10, dials_today=n, abandon_today=AbandonMeasure(a, 1000))

    return at


@pytest.mark.parametrize(
    ("dials_at_0", "drops_at_0", "dials", "drops", "halved"),
    [
        (0, 0, 20, 20, False),  # 20 calls in the minute: not more than 20
        (0, 0, 21, 11, True),  # 21 calls, 11 dropped: more than half
        (0, 0, 22, 11, False),  # exactly half: not more
        (5, 0, 21, 11, True),  # counted from the minute's first sample (5), not the next (6)
        (5, 1, 21, 10, False),  # drops counted from the first sample too: 10 of 21
    ],
)
def test_given_drops_in_the_last_minute_when_vicidial_adapts_then_more_than_half_of_over_20_calls_halves_it(
    dials_at_0: int, drops_at_0: int, dials: int, drops: int, halved: bool
) -> None:
    level = _adapted(
        VicidialAdaptive(level=2.5, dropped_percentage=100.0), _minute(dials_at_0, drops_at_0, dials, drops)
    )
    assert level == (1.25 if halved else 2.5)


@pytest.mark.parametrize(
    ("dials_today", "abandoned", "dropped"),
    [(50, 10, False), (51, 10, True), (51, 3, False), (51, 1, False), (10, 50, False)],
    ids=["50-dials", "51-dials", "rate-at-the-limit", "rate-under", "few-dials-many-drops"],
)
def test_given_the_days_drop_rate_when_vicidial_adapts_then_only_over_the_limit_after_50_dials_it_drops(
    dials_today: int, abandoned: int, dropped: bool
) -> None:
    at = dict(on_call=[9.0] * 10, dials_today=dials_today, abandon_today=AbandonMeasure(abandoned, 100))
    assert _adapted(VicidialAdaptive(level=2.5), lambda _s: at) == (1.0 if dropped else 2.5)


def test_given_observations_twice_a_second_when_vicidial_samples_then_once_a_second() -> None:
    policy = VicidialAdaptive()
    for s in range(16):
        # whole seconds: 10 ready on even ones, none on odd ones; half-seconds (99 ready) are not sampled
        policy.decide(Observation(now=float(s), agents_ready=10 if s % 2 == 0 else 0, on_call=[9.0] * 10))
        if s < 15:
            policy.decide(Observation(now=s + 0.5, agents_ready=99, on_call=[9.0] * 10))
    # the last 15 samples (seconds 1…15): 7 with 10 ready → mean 4.667 over 14.667 agents
    assert policy.level == 1.318


def test_given_a_running_campaign_when_vicidial_adapts_then_every_15_seconds_and_not_between() -> None:
    policy = VicidialAdaptive()
    for s in range(31):
        policy.decide(Observation(now=float(s), agents_ready=1, on_call=[9.0] * 3))
    assert policy.level == 1.562  # × 1.25 at second 15, again at second 30: 1.5625 to three decimals


def _days_minute(s: int) -> dict[str, object]:
    """One dial by second 15, two by second 16, 22 and 11 drops at second 75."""
    dials = 0 if s < 15 else 1 if s == 15 else 2 if s < 75 else 22
    return dict(
        on_call=[9.0] * 10, dials_today=dials, abandon_today=AbandonMeasure(11 if s == 75 else 0, 1000)
    )


def test_given_a_minute_of_samples_when_vicidial_looks_back_then_the_sample_60_s_old_is_its_first() -> None:
    policy = VicidialAdaptive(level=2.5, dropped_percentage=100.0)
    for s in range(76):
        policy.decide(Observation(**{"now": float(s), "agents_ready": 0, **_days_minute(s)}))  # type: ignore[arg-type]
    # at second 75 the minute starts at second 15 (one dial): 21 calls, 11 dropped → halved
    assert policy.level == 1.25


@pytest.mark.parametrize(
    ("target", "ready", "calls", "agents"),
    [(-5.0, 2, 0, 0.0), (3.0, 2, 10, 5.0), (0.0, 0, 0, 0.0)],
    ids=["target-below-zero-agents", "target-adds", "nobody"],
)
def test_given_a_differential_target_when_vicidial_decides_then_agents_never_go_below_zero(
    target: float, ready: int, calls: int, agents: float
) -> None:
    decision = VicidialAdaptive(level=2.0, dl_diff_target=target).decide(
        Observation(now=0.0, agents_ready=ready)
    )
    assert (decision.calls, decision.policy, decision.mode) == (calls, "vicidial", "ADAPT_HARD_LIMIT")
    assert decision.inputs == {"dial_level": 2.0, "agents": agents, "existing_calls": 0}


def test_given_a_decision_between_two_dial_loops_when_vicidial_decides_then_none_and_it_says_why() -> None:
    policy = VicidialAdaptive(level=2.0)
    assert policy.decide(Observation(now=0.0, agents_ready=2)).calls == 4
    decision = policy.decide(Observation(now=1.0, agents_ready=2))  # the next loop is at 2.5 s
    assert (decision.calls, decision.policy, decision.mode) == (0, "vicidial", "ADAPT_HARD_LIMIT")
    assert decision.inputs == {"dial_level": 2.0, "agents": 2.0, "existing_calls": 0, "between_loops": 1}


# --- Issabel-style predictor ----------------------------------------------------------------------------


def _issabel(policy: IssabelPredictor | None = None, **kw: object) -> tuple[int, dict[str, object], str]:
    decision = (policy or IssabelPredictor()).decide(Observation(**{"now": 0.0, "agents_ready": 0, **kw}))  # type: ignore[arg-type]
    assert decision.policy == "issabel"
    return decision.calls, dict(decision.inputs), decision.mode


@pytest.mark.parametrize(("finished", "calls", "mode"), [(9, 0, "progressive"), (10, 1, "predictive")])
def test_given_the_finished_calls_at_the_minimum_when_issabel_decides_then_it_predicts_from_the_tenth(
    finished: int, calls: int, mode: str
) -> None:
    got = _issabel(on_call=[1000.0], handle_times=[150.0] * finished, human_delays=[8.0] * 20)
    assert (got[0], got[2]) == (calls, mode)


@pytest.mark.parametrize(
    ("policy", "kw", "soon"),
    [
        # no handle time yet (min_samples 0): a mean of 1 s; counts once 1 − e^(−t) ≥ 0.97
        (IssabelPredictor(min_samples=0, initial_answer_s=0.0), dict(on_call=[3.6]), 1),
        (IssabelPredictor(min_samples=0, initial_answer_s=0.0), dict(on_call=[3.4]), 0),
        # no answer delay measured: 8 s until a person answers; 1 − e^(−(t + 8)/100) ≥ 0.97 from t ≈ 342.7
        (None, dict(on_call=[343.0], handle_times=[100.0] * 10), 1),
        (None, dict(on_call=[342.0], handle_times=[100.0] * 10), 0),
        # answer delays measured at 0: the 8 s default no longer applies
        (None, dict(on_call=[345.0], handle_times=[100.0] * 10, human_delays=[0.0] * 10), 0),
        # the QoS reached exactly: counted
        (
            IssabelPredictor(qos=1 - math.exp(-(100.0 + 8.0) / 150.0)),
            dict(on_call=[100.0], handle_times=[150.0] * 10, human_delays=[8.0] * 10),
            1,
        ),
    ],
    ids=[
        "default-mean-reached",
        "default-mean-not",
        "default-answer-reached",
        "default-answer-not",
        "measured-answer",
        "qos-exactly",
    ],
)
def test_given_a_busy_agent_at_the_qos_edge_when_issabel_decides_then_it_counts_from_the_threshold_on(
    policy: IssabelPredictor | None, kw: dict[str, object], soon: int
) -> None:
    assert _issabel(policy, **kw)[1]["agents_soon_free"] == soon


QOS_HALF = IssabelPredictor(
    qos=0.5
)  # with a mean of 100 s and no answer delay: counts from t = 100 ln 2 ≈ 69.31 s


@pytest.mark.parametrize(
    ("wrap_times", "in_wrap", "soon"),
    [
        ([40.0] * 10, [9.31], 0),  # 40 − 9.31 s of wrap-up left: 69.31 s into the call, not yet
        ([40.0] * 10, [9.32], 1),
        ([40.0] * 10, [45.0], 1),  # past the mean wrap-up: nothing left
    ],
)
def test_given_an_agent_in_wrap_up_when_issabel_decides_then_the_wrap_up_left_is_taken_off_the_mean(
    wrap_times: list[float], in_wrap: list[float], soon: int
) -> None:
    got = _issabel(
        QOS_HALF, in_wrap=in_wrap, wrap_times=wrap_times, handle_times=[100.0] * 10, human_delays=[0.0] * 10
    )
    assert got[1]["agents_soon_free"] == soon


@pytest.mark.parametrize(("in_wrap", "soon"), [([0.5], 1), ([0.0], 1)])
def test_given_no_wrap_up_measured_when_issabel_decides_then_none_is_left(
    in_wrap: list[float], soon: int
) -> None:
    # the threshold just under the mean (99.7 s): an agent with any wrap-up assumed left would not count
    policy = IssabelPredictor(qos=1 - math.exp(-99.7 / 100.0))
    got = _issabel(policy, in_wrap=in_wrap, handle_times=[100.0] * 10, human_delays=[0.0] * 10)
    assert got[1]["agents_soon_free"] == soon


@pytest.mark.parametrize(
    ("kw", "calls", "inputs"),
    [
        (dict(agents_ready=3, waiting=1, ringing=[1.0]), 1, {"agents_free": 3, "waiting": 1, "asr": None}),
        (dict(agents_ready=1, waiting=3), 0, {"agents_free": 1, "waiting": 3, "asr": None}),
        # one call to place, ASR 50 % over exactly 10 dials: overcommitted to 2
        (
            dict(agents_ready=1, dials_sampled=10, answer_rate=0.5),
            2,
            {"agents_free": 1, "waiting": 0, "asr": 0.5},
        ),
        (
            dict(agents_ready=1, dials_sampled=9, answer_rate=0.5),
            1,
            {"agents_free": 1, "waiting": 0, "asr": 0.5},
        ),
        # no ASR measured: nothing to divide by
        (dict(agents_ready=3, dials_sampled=100), 3, {"agents_free": 3, "waiting": 0, "asr": None}),
        # the connect rate (people and machines) wins over the human answer rate
        (
            dict(agents_ready=2, dials_sampled=100, answer_rate=0.5, connect_rate=0.25),
            8,
            {"agents_free": 2, "waiting": 0, "asr": 0.25},
        ),
    ],
    ids=[
        "free-minus-waiting-minus-ringing",
        "more-waiting-than-free",
        "overcommit-at-10-dials",
        "9-dials",
        "no-asr",
        "connect-rate",
    ],
)
def test_given_free_agents_and_calls_when_issabel_decides_then_its_count_and_inputs_are_exact(
    kw: dict[str, object], calls: int, inputs: dict[str, object]
) -> None:
    got = _issabel(**kw)
    assert got[0] == calls
    assert got[1] == {"agents_soon_free": 0, **inputs}
