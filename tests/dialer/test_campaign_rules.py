"""Pure campaign rules: the state machine, retry rules, start preconditions."""

from __future__ import annotations

import pytest

from core.dialer_tables import CampaignState as S
from core.model_errors import ContentError
from dialer.campaigns import (
    DEFAULT_RETRY_RULES,
    StartFacts,
    TransitionRefused,
    check_transition,
    parse_retry_rules,
    start_blockers,
)

ALLOWED = {
    (S.draft, S.running),
    (S.running, S.paused),
    (S.paused, S.running),
    (S.running, S.stopped),
    (S.paused, S.stopped),
    (S.running, S.finished),
    (S.paused, S.finished),
}


@pytest.mark.parametrize(("current", "target"), [(a, b) for a in S for b in S])
def test_given_a_state_when_moving_then_only_the_drawn_arrows_are_allowed(current: S, target: S) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(TransitionRefused, match=target.value):
            check_transition(current, target)


def test_given_the_default_retry_rules_when_parsed_then_they_validate() -> None:
    rules = parse_retry_rules(DEFAULT_RETRY_RULES)
    assert rules["dropped"].delay_minutes == 72 * 60


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"busy": {"delay_minutes": 0, "max_attempts": 1}}, "retry_rules.busy: delay_minutes"),
        ({"busy": {"delay_minutes": 5}}, "retry_rules.busy: max_attempts: Field required"),
        ({"refused": {"delay_minutes": 5, "max_attempts": 1}}, "retry_rules.refused: unknown outcome"),
        ({"busy": {"delay_minutes": 5, "max_attempts": 1, "x": 1}}, "retry_rules.busy: x"),
        ([1, 2], "a mapping"),
    ],
)
def test_given_bad_retry_rules_when_parsed_then_the_error_names_outcome_and_field(data, message: str) -> None:
    with pytest.raises(ContentError) as err:
        parse_retry_rules(data)
    assert any(message in line for line in err.value.errors), err.value.errors


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (StartFacts(1, 10, True, True, True), []),
        (StartFacts(1, 10, True, None, True), []),
        (StartFacts(0, 0, True, True, True), ["attach at least one call list"]),
        (StartFacts(2, 0, True, True, True), ["its call lists hold no leads"]),
        (
            StartFacts(1, 5, False, False, False),
            [
                "its compliance rule set does not exist",
                "its script does not exist",
                "give it a queue or a team of agents",
            ],
        ),
    ],
)
def test_given_campaign_facts_when_starting_then_every_blocker_is_named(facts: StartFacts, expected) -> None:
    assert start_blockers(facts) == expected
