"""A simulated month per shipped rule set: 100 000 leads across time zones, Plateau's predictive pacing.

Shifts straddle the calling-window edges of several zones, agents also work weekends and holidays,
retry rules are aggressive and 15 % of the leads arrive with recent attempts, refusals or abandoned
calls. The audit re-checks every attempt with its own code (dialer.sim.audit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from dialer.compliance import Reason, RuleSet, abandon_stats, builtin_rule_sets
from dialer.leads_model import Attempt, AttemptResult
from dialer.pacing import PlateauPredictive
from dialer.sim import Shift, SimConfig, Simulation
from dialer.sim.audit import AbandonReport, abandon_report, dials_from_attempts, violations
from dialer.sim.population import Population

DAYS = 31
START = datetime(2026, 5, 1, tzinfo=UTC)  # May 2026: four French public holidays on weekdays
# Two short shifts a day (UTC hours), each across a window edge of some of the zones.
SHIFTS = {
    "FR-2023": (Shift(7.75, 9.25, 8), Shift(17.25, 18.75, 8)),  # Paris opens 10:00, Réunion closes 20:00
    "US-TCPA": (Shift(11.75, 13.25, 8), Shift(24.25, 25.75, 8)),  # New York opens 08:00, closes 21:00
    "UK-Ofcom": (Shift(6.75, 8.25, 8), Shift(19.25, 20.75, 8)),  # London opens 08:00, closes 21:00
}


@dataclass
class Month:
    rule_set: RuleSet
    population: Population
    attempts: list[Attempt]
    violations: dict[str, int]
    abandon: dict[str, AbandonReport]


_RUNS: dict[str, Month] = {}


def month(name: str) -> Month:
    if name not in _RUNS:
        rs = builtin_rule_sets()[name]
        population = Population(rs, START, leads=100_000, seed=11)
        # UK: AMD off, since Ofcom counts its estimated false positives as abandoned calls.
        cfg = SimConfig(answer_rate=0.25, shifts=SHIFTS[name], amd=name != "UK-Ofcom", tick_s=5.0)
        Simulation(cfg, PlateauPredictive(), population, rs, start=START, days=DAYS, seed=12).run()
        every = population.attempts()
        ours = [a for _, a, during in every if during]
        dials = dials_from_attempts(ours, rs.abandon_after_seconds)
        reports = {d: abandon_report(dials, rs, d, DAYS, START) for d in ("live_answered", "ofcom")}
        _RUNS[name] = Month(rs, population, ours, dict(violations(every, rs)), reports)
    return _RUNS[name]


NAMES = sorted(builtin_rule_sets())


@pytest.mark.parametrize("name", NAMES)
def test_given_a_month_of_100k_leads_when_simulated_then_no_call_breaks_a_rule(name: str) -> None:
    run = month(name)
    assert run.violations.pop("attempts") == len(run.attempts) > 10_000
    assert run.violations == {}


@pytest.mark.parametrize("name", NAMES)
def test_given_a_month_when_simulated_then_the_rules_were_under_pressure(name: str) -> None:
    """The hopper was offered leads that the rules refused: zero violations is not for lack of trying."""
    blocked = month(name).population.blocked
    expected = {
        "FR-2023": {
            Reason.OUTSIDE_WINDOW,
            Reason.PUBLIC_HOLIDAY,
            Reason.ATTEMPTS_CAP,
            Reason.REFUSAL_COOLOFF,
        },
        "US-TCPA": {Reason.OUTSIDE_WINDOW},
        "UK-Ofcom": {Reason.OUTSIDE_WINDOW, Reason.DROP_LOCKOUT, Reason.MACHINE_SAME_DAY},
    }[name]
    assert {reason for reason in expected if blocked[reason] > 0} == expected


@pytest.mark.parametrize("definition", ["live_answered", "ofcom"])
@pytest.mark.parametrize("name", NAMES)
def test_given_a_month_when_simulated_then_abandon_rate_within_limit_by_each_definition(
    name: str, definition: str
) -> None:
    run = month(name)
    report = run.abandon[definition]
    limit = (run.rule_set.max_abandon_rate_percent or 3.0) / 100
    assert report.live > 2000  # enough live calls for the rate to mean something
    assert report.day_max <= limit  # worst calendar day in the rule set's reference zone
    assert report.rolling_30d_max <= limit  # worst 30 days, evaluated at each day's end
    assert 0 < report.overall <= limit  # predictive pacing did abandon some calls, within the limit


@pytest.mark.parametrize("name", NAMES)
def test_given_a_month_when_measured_by_the_compliance_module_then_the_period_rate_agrees(name: str) -> None:
    run = month(name)
    end = max(a.started_at for a in run.attempts)
    stats = abandon_stats(run.attempts, run.rule_set, end)
    assert stats.rate_percent is not None
    assert stats.rate_percent <= (run.rule_set.max_abandon_rate_percent or 3.0)


@pytest.mark.parametrize(
    ("when", "result", "rule"),
    [
        ("2026-05-12T07:00:00+00:00", AttemptResult.NO_ANSWER, "outside_window"),  # 09:00 Paris
        ("2026-05-14T10:00:00+00:00", AttemptResult.NO_ANSWER, "public_holiday"),  # Ascension
        ("2026-05-12T10:00:00+00:00", AttemptResult.NO_ANSWER, "over_cap"),  # a fifth in 30 days
    ],
)
def test_given_a_forbidden_attempt_when_audited_then_it_is_counted(
    when: str, result: AttemptResult, rule: str
) -> None:
    """The audit is an oracle that can fail: it finds attempts the rule set forbids."""
    rs = builtin_rule_sets()["FR-2023"]
    population = Population(rs, START, leads=1, seed=1, prior_share=0.0)
    lead = population.leads[0].lead
    e164 = lead.numbers[0].e164
    prior = [
        Attempt(lead.id, e164, datetime(2026, 5, d, 9, tzinfo=UTC), AttemptResult.NO_ANSWER)
        for d in (4, 5, 6, 7)
    ]
    attempt = Attempt(lead.id, e164, datetime.fromisoformat(when), result)
    history = prior if rule == "over_cap" else []
    found = violations([(lead, a, True) for a in [*history, attempt]], rs)
    assert found[rule] >= 1
