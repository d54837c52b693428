"""The unhappy-customers rules at their edges (app/unhappy.py): each limit of a rule's settings, a fact at
the very start and end of the look-back, a disabled rule before an enabled one, the latest fact named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.unhappy import CustomerFacts, Reason, Rule, RuleCode, reasons

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        (dict(code=RuleCode.open_complaint, count=0), "count: at least 1"),
        (dict(code=RuleCode.open_complaint, count=1), None),
        (dict(code=RuleCode.open_complaint, days=-1), "days: between 0 and 366"),
        (dict(code=RuleCode.open_complaint, days=0), None),
        (dict(code=RuleCode.open_complaint, days=366), None),
        (dict(code=RuleCode.open_complaint, days=367), "days: between 0 and 366"),
        (dict(code=RuleCode.repeat_calls, count=3, days=0), "days: repeat_calls looks back at least 1 day"),
        (dict(code=RuleCode.repeat_calls, count=3, days=1), None),
        (dict(code=RuleCode.low_csat, days=30, threshold=None), "threshold: a CSAT between 1 and 5"),
        (dict(code=RuleCode.low_csat, days=30, threshold=0), "threshold: a CSAT between 1 and 5"),
        (dict(code=RuleCode.low_csat, days=30, threshold=1), None),
        (dict(code=RuleCode.low_csat, days=30, threshold=5), None),
        (dict(code=RuleCode.low_csat, days=30, threshold=6), "threshold: a CSAT between 1 and 5"),
    ],
)
def test_given_a_rule_at_the_limits_of_its_settings_when_made_then_only_the_outside_is_refused(
    rule: dict, error: str | None
) -> None:
    if error is None:
        Rule(**rule)
    else:
        with pytest.raises(ValueError, match=f"^{error}$"):
            Rule(**rule)


@pytest.mark.parametrize(
    ("at", "counted"),
    [
        (NOW - 7 * DAY - TICK, False),  # just before the look-back
        (NOW - 7 * DAY, True),  # its first instant
        (NOW, True),  # now itself
        (NOW + TICK, False),  # not yet (a clock ahead elsewhere)
    ],
    ids=["before-start", "start", "now", "after-now"],
)
def test_given_a_call_at_an_edge_of_the_look_back_when_counted_then_both_ends_are_in(
    at: datetime, counted: bool
) -> None:
    facts = CustomerFacts(calls=[NOW - DAY, at])
    got = reasons(facts, [Rule(RuleCode.repeat_calls, count=2, days=7)], NOW)
    assert got == ([Reason(RuleCode.repeat_calls, 2, max(NOW - DAY, at))] if counted else [])


def test_given_a_disabled_rule_before_enabled_ones_when_judged_then_the_later_rules_still_apply() -> None:
    rules = [
        Rule(RuleCode.open_complaint, enabled=False),
        Rule(RuleCode.repeat_calls, count=1, days=7),
        Rule(RuleCode.lost, days=90),
    ]
    facts = CustomerFacts(open_complaints=2, calls=[NOW - DAY], lost_at=NOW - 3 * DAY)
    assert reasons(facts, rules, NOW) == [
        Reason(RuleCode.repeat_calls, 1, NOW - DAY),
        Reason(RuleCode.lost, 1, NOW - 3 * DAY),
    ]


def test_given_several_low_answers_when_judged_then_the_reason_names_the_latest() -> None:
    facts = CustomerFacts(csat=[(NOW - DAY, 1), (NOW - 5 * DAY, 2), (NOW - 2 * DAY, 4)])
    got = reasons(facts, [Rule(RuleCode.low_csat, threshold=2, days=30)], NOW)
    assert got == [Reason(RuleCode.low_csat, 2, NOW - DAY)]
