"""Membership of the unhappy-customers file (app/unhappy.py): tables of facts and rules in, reasons out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.unhappy import DEFAULT_RULES, CustomerFacts, Reason, Rule, RuleCode, lookback_days, reasons

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
D, H = timedelta(days=1), timedelta(hours=1)
C = RuleCode


def _codes(facts: CustomerFacts, rules: tuple[Rule, ...] = DEFAULT_RULES) -> list[tuple[str, int]]:
    return [(r.code.value, r.count) for r in reasons(facts, rules, NOW)]


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (CustomerFacts(), []),
        (CustomerFacts(open_complaints=1), [("open_complaint", 1)]),
        (CustomerFacts(csat=[(NOW - 2 * D, 2)]), [("low_csat", 1)]),
        (CustomerFacts(csat=[(NOW - 2 * D, 3)]), []),  # 3 is not unhappy
        (CustomerFacts(csat=[(NOW - 31 * D, 1)]), []),  # too old
        (CustomerFacts(csat=[(NOW - D, 1), (NOW - 3 * D, 2), (NOW - 4 * D, 5)]), [("low_csat", 2)]),
        (CustomerFacts(calls=[NOW - H, NOW - 2 * D, NOW - 6 * D]), [("repeat_calls", 3)]),
        (CustomerFacts(calls=[NOW - H, NOW - 2 * D, NOW - 8 * D]), []),  # the third is 8 days old
        (CustomerFacts(calls=[NOW - H, NOW - 2 * D]), []),
        (CustomerFacts(abandons=[NOW - H, NOW - 5 * H]), [("abandoned_calls", 2)]),
        (CustomerFacts(abandons=[NOW - H, NOW - 25 * H]), []),  # not within a day
        (CustomerFacts(lost_at=NOW - 89 * D), [("lost", 1)]),
        (CustomerFacts(lost_at=NOW - 91 * D), []),
        (CustomerFacts(lost_at=NOW + D), []),  # a date in the future is not "in the last 90 days"
        (
            CustomerFacts(open_complaints=2, csat=[(NOW - D, 1)], lost_at=NOW - D),
            [("open_complaint", 2), ("low_csat", 1), ("lost", 1)],  # every reason, in the rules' order
        ),
    ],
)
def test_given_a_customers_facts_when_the_default_rules_run_then_the_reasons_are(
    facts: CustomerFacts, expected: list[tuple[str, int]]
) -> None:
    assert _codes(facts) == expected


def test_given_a_reason_then_it_says_when_the_latest_fact_was() -> None:
    facts = CustomerFacts(calls=[NOW - 2 * D, NOW - H, NOW - 3 * D])
    assert reasons(facts, DEFAULT_RULES, NOW) == [Reason(C.repeat_calls, 3, NOW - H)]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ((Rule(C.open_complaint, enabled=False),), []),
        ((Rule(C.repeat_calls, count=2, days=1),), [("repeat_calls", 2)]),
        ((Rule(C.low_csat, threshold=3, days=30),), [("low_csat", 1)]),
        ((Rule(C.abandoned_calls, count=3, days=1),), []),
    ],
)
def test_given_rules_an_admin_set_when_they_run_then_they_decide(
    rules: tuple[Rule, ...], expected: list[tuple[str, int]]
) -> None:
    facts = CustomerFacts(
        open_complaints=1, csat=[(NOW - D, 3)], calls=[NOW - H, NOW - 2 * H], abandons=[NOW - H, NOW - 2 * H]
    )
    assert _codes(facts, rules) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"code": "planet"}, "planet"),
        ({"code": C.repeat_calls, "count": 0, "days": 7}, "count"),
        ({"code": C.repeat_calls, "count": 3, "days": 0}, "days"),
        ({"code": C.lost, "days": 400}, "days"),
        ({"code": C.low_csat, "days": 30}, "threshold"),
        ({"code": C.low_csat, "days": 30, "threshold": 6}, "threshold"),
    ],
)
def test_given_a_bad_rule_then_it_is_refused_naming_the_field(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Rule(**kwargs)  # type: ignore[arg-type]


def test_given_rules_then_the_lookback_is_the_longest_enabled_one() -> None:
    assert lookback_days(DEFAULT_RULES) == 90
    assert lookback_days((Rule(C.lost, enabled=False, days=90), Rule(C.repeat_calls, count=3, days=7))) == 7
    assert lookback_days(()) == 0
