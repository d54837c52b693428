"""The simulator drives pacing policies: deterministic, the evening effect, small teams, peers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialer.compliance import builtin_rule_sets
from dialer.pacing import PlateauPredictive, make_policy
from dialer.sim import EndlessLeads, Shift, SimConfig, SimResult, Simulation
from dialer.sim.audit import abandon_report, dials_from_records

US = builtin_rule_sets()["US-TCPA"]
START = datetime(2026, 3, 2, tzinfo=UTC)


def simulate(policy: str, cfg: SimConfig, days: int = 1, seed: int = 1) -> SimResult:
    return Simulation(cfg, make_policy(policy), EndlessLeads(), US, start=START, days=days, seed=seed).run()


SMALL = SimConfig(shifts=(Shift(14.0, 15.0, 12),))


def test_given_a_seed_when_simulated_twice_then_identical_and_another_seed_differs() -> None:
    a, b, c = (simulate("plateau", SMALL, seed=s) for s in (5, 5, 6))
    assert [(r.start, r.connected, r.abandoned) for r in a.records] == [
        (r.start, r.connected, r.abandoned) for r in b.records
    ]
    assert a.occupancy == b.occupancy
    assert [r.start for r in a.records] != [r.start for r in c.records]


def test_given_an_evening_answer_rate_jump_when_plateau_paces_then_abandons_stay_under_the_limit() -> None:
    # 20 agents 14:00-19:00 UTC; at 17:00 the live-answer rate jumps from 0.20 to 0.35.
    cfg = SimConfig(answer_rate=0.20, evening=(17.0, 0.35), shifts=(Shift(14.0, 19.0, 20),))
    days = 3
    result = simulate("plateau", cfg, days=days, seed=3)
    report = abandon_report(dials_from_records(result.records, START), US, "live_answered", days, START)
    assert report.live > 3000
    assert report.day_max <= 0.03
    after = [r for r in result.records if r.start % 86400 >= 17 * 3600]
    live_after = sum(r.live for r in after)
    assert sum(r.abandoned for r in after if r.live) / live_after <= 0.03
    assert result.occupancy > 0.8


def test_given_a_small_team_when_plateau_paces_then_it_only_dials_progressively() -> None:
    result = simulate("plateau", SimConfig(shifts=(Shift(14.0, 15.0, 4, break_s=0),)))
    assert set(result.decisions) == {"progressive"}
    assert sum(r.abandoned for r in result.records) == 0


@pytest.mark.parametrize("policy", ["preview", "progressive"])
def test_given_an_agent_per_call_when_simulated_then_nothing_is_abandoned(policy: str) -> None:
    result = simulate(policy, SimConfig(shifts=(Shift(14.0, 15.0, 10, break_s=0, spread_s=0),)))
    assert result.agent_calls > 50
    assert sum(r.abandoned for r in result.records) == 0


def test_given_the_same_campaign_when_paced_then_plateau_keeps_agents_busier_than_progressive() -> None:
    cfg = SimConfig(answer_rate=0.25, shifts=(Shift(14.0, 16.0, 20),))
    plateau, progressive = simulate("plateau", cfg), simulate("progressive", cfg)
    assert plateau.occupancy > progressive.occupancy + 0.05
    assert plateau.agent_wait_p95 < progressive.agent_wait_p95


def test_given_a_bad_configuration_when_built_then_a_clear_error() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        SimConfig(answer_rate=0.9)
    with pytest.raises(ValueError, match="shift"):
        Shift(10.0, 9.0, 5)
    with pytest.raises(ValueError, match="timezone-aware"):
        Simulation(SMALL, PlateauPredictive(), EndlessLeads(), US, start=datetime(2026, 3, 2), days=1, seed=1)
