"""Compliance rules one at a time, at their edges: the instant itself, one second before and after.

Each rule set here opens every day all day and switches on one rule, so only that rule decides.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.model_errors import ContentError
from dialer.compliance import (
    AbandonStats,
    Reason,
    RuleSet,
    abandon_period_start,
    abandon_stats,
    check,
    parse_rule_set,
)
from dialer.leads_model import Attempt, AttemptResult, LeadStatus
from tests.dialer.helpers import PARIS, PARIS_2, at, attempt, lead

R = AttemptResult
S = timedelta(seconds=1)
ALL_DAY = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def rules(**changes: Any) -> RuleSet:
    return parse_rule_set({"name": "T", "windows": ALL_DAY, **changes})


def reasons(rule_set: RuleSet, now: datetime, history: list[Attempt], number: str = PARIS, **lead_kw: Any):
    subject = lead(PARIS, PARIS_2, consent=lead_kw.pop("consent", True), **lead_kw)
    chosen = next(n for n in subject.numbers if n.e164 == number)
    v = check(subject, chosen, history, rule_set, now)
    return v.reasons, v.next_allowed, v.blocks


# --- attempts cap -----------------------------------------------------------------------------------

CAP = rules(max_attempts=2, attempts_period_days=7)
FIRST, SECOND = "2026-07-01T10:00:00+02:00", "2026-07-03T10:00:00+02:00"
CAP_HISTORY = [attempt(R.NO_ANSWER, FIRST), attempt(R.NO_ANSWER, SECOND)]


@pytest.mark.parametrize(
    ("now", "blocked"),
    [
        (at(SECOND), True),
        (at(FIRST) + timedelta(days=7) - S, True),
        (at(FIRST) + timedelta(days=7), False),  # the first attempt is exactly one period old: out
        (at(FIRST) + timedelta(days=7) + S, False),
    ],
)
def test_given_the_cap_reached_when_the_oldest_attempt_ages_out_then_calls_are_allowed_at_that_instant(
    now: datetime, blocked: bool
) -> None:
    got, next_allowed, blocks = reasons(CAP, now, CAP_HISTORY)
    assert (Reason.ATTEMPTS_CAP in got) is blocked
    if blocked:
        assert next_allowed == at(FIRST) + timedelta(days=7)
        assert blocks[0].detail == "2 attempts in 7 days (max 2)"


def test_given_one_attempt_below_the_cap_when_checked_then_allowed() -> None:
    got, _, _ = reasons(CAP, at(SECOND), CAP_HISTORY[:1])
    assert got == ()


def test_given_an_attempt_after_now_when_counted_then_it_is_not_in_the_period() -> None:
    got, _, _ = reasons(CAP, at(FIRST) + S, CAP_HISTORY)
    assert got == ()


def test_given_more_attempts_than_the_cap_when_checked_then_the_block_lasts_until_enough_age_out() -> None:
    history = [*CAP_HISTORY, attempt(R.NO_ANSWER, "2026-07-04T10:00:00+02:00")]
    got, next_allowed, blocks = reasons(CAP, at("2026-07-05T10:00:00+02:00"), history)
    assert got == (Reason.ATTEMPTS_CAP,)
    assert next_allowed == at(SECOND) + timedelta(days=7), "two of three must leave: the second's age"
    assert blocks[0].detail == "3 attempts in 7 days (max 2)"


@pytest.mark.parametrize(("scope", "blocked"), [("lead", True), ("number", False)])
def test_given_attempts_on_the_leads_other_number_when_the_cap_is_per_lead_then_they_count(
    scope: str, blocked: bool
) -> None:
    rule_set = rules(max_attempts=2, attempts_period_days=7, attempts_scope=scope)
    history = [attempt(R.NO_ANSWER, FIRST, number=PARIS_2), attempt(R.NO_ANSWER, SECOND, number=PARIS_2)]
    got, _, _ = reasons(rule_set, at(SECOND) + S, history)
    assert (Reason.ATTEMPTS_CAP in got) is blocked


def test_given_attempts_of_another_lead_on_another_number_when_checked_then_they_do_not_count() -> None:
    rule_set = rules(max_attempts=1, attempts_period_days=7, attempts_scope="lead")
    history = [attempt(R.NO_ANSWER, FIRST, number="+33600000000", lead_id=2)]
    assert reasons(rule_set, at(SECOND), history)[0] == ()


def test_given_attempts_of_another_lead_on_this_number_when_checked_then_they_count() -> None:
    rule_set = rules(max_attempts=1, attempts_period_days=7)
    history = [attempt(R.NO_ANSWER, FIRST, lead_id=2)]
    assert reasons(rule_set, at(SECOND), history)[0] == (Reason.ATTEMPTS_CAP,)


# --- refusals ---------------------------------------------------------------------------------------

COOL = rules(refusal_cooloff_days=10)


@pytest.mark.parametrize(
    ("offset", "blocked"),
    [(timedelta(days=10) - S, True), (timedelta(days=10), False), (timedelta(days=10) + S, False)],
)
def test_given_a_refusal_when_the_cool_off_ends_then_calls_are_allowed_from_that_instant(
    offset: timedelta, blocked: bool
) -> None:
    got, next_allowed, _ = reasons(COOL, at(FIRST) + offset, [attempt(R.REFUSED, FIRST)])
    assert (got == (Reason.REFUSAL_COOLOFF,)) is blocked
    if blocked:
        assert next_allowed == at(FIRST) + timedelta(days=10)


def test_given_several_refusals_when_checked_then_the_last_one_starts_the_cool_off() -> None:
    history = [attempt(R.REFUSED, FIRST), attempt(R.NO_ANSWER, SECOND), attempt(R.REFUSED, SECOND)]
    got, next_allowed, blocks = reasons(COOL, at(FIRST) + timedelta(days=11), list(reversed(history)))
    assert got == (Reason.REFUSAL_COOLOFF,)
    assert next_allowed == at(SECOND) + timedelta(days=10)
    assert blocks[0].detail == f"refused on {at(SECOND).isoformat()}"


def test_given_a_refusal_on_the_leads_other_number_when_checked_then_the_person_is_cooled_off() -> None:
    got, _, _ = reasons(COOL, at(SECOND), [attempt(R.REFUSED, FIRST, number=PARIS_2)])
    assert got == (Reason.REFUSAL_COOLOFF,)


def test_given_no_cool_off_when_refused_then_the_refusal_blocks_nothing() -> None:
    assert reasons(rules(), at(SECOND), [attempt(R.REFUSED, FIRST)])[0] == ()


# --- abandoned calls ---------------------------------------------------------------------------------

LOCK = rules(drop_lockout_hours=72, abandon_after_seconds=2)


@pytest.mark.parametrize(
    ("agent_after_s", "offset", "blocked"),
    [
        (None, timedelta(hours=72) - S, True),
        (None, timedelta(hours=72), False),
        (3.0, timedelta(hours=1), True),  # an agent 3 s after the answer: abandoned under the 2 s rule
        (2.0, timedelta(hours=1), False),  # exactly 2 s: not abandoned
    ],
)
def test_given_a_dropped_call_when_the_lockout_ends_then_the_number_may_be_called(
    agent_after_s: float | None, offset: timedelta, blocked: bool
) -> None:
    history = [attempt(R.CONTACT, FIRST, agent_after_s=agent_after_s)]
    got, next_allowed, _ = reasons(LOCK, at(FIRST) + offset, history)
    assert (got == (Reason.DROP_LOCKOUT,)) is blocked
    if blocked:
        assert next_allowed == at(FIRST) + timedelta(hours=72)


def test_given_several_drops_when_checked_then_the_last_starts_the_lockout() -> None:
    history = [attempt(R.CONTACT, FIRST), attempt(R.CONTACT, SECOND)]
    _, next_allowed, blocks = reasons(LOCK, at(SECOND) + S, list(reversed(history)))
    assert next_allowed == at(SECOND) + timedelta(hours=72)
    assert blocks[0].detail == f"abandoned call on {at(SECOND).isoformat()}"


@pytest.mark.parametrize(("number", "blocked"), [(PARIS, True), (PARIS_2, False)])
def test_given_a_drop_on_one_number_when_another_number_of_the_lead_is_checked_then_only_that_number_waits(
    number: str, blocked: bool
) -> None:
    got, _, _ = reasons(LOCK, at(FIRST) + S, [attempt(R.CONTACT, FIRST)], number=number)
    assert (got == (Reason.DROP_LOCKOUT,)) is blocked


def test_given_an_agent_guaranteed_when_a_drop_or_machine_happened_then_only_the_personal_rules_apply() -> (
    None
):
    rule_set = rules(drop_lockout_hours=72, no_redial_same_day_after_machine=True, refusal_cooloff_days=1)
    subject = lead(PARIS, consent=True)
    history = [attempt(R.CONTACT, FIRST), attempt(R.MACHINE, FIRST), attempt(R.REFUSED, FIRST)]
    now = at(FIRST) + S
    assert check(subject, subject.numbers[0], history, rule_set, now, agent_guaranteed=True).reasons == (
        Reason.REFUSAL_COOLOFF,
    )
    assert check(subject, subject.numbers[0], history, rule_set, now).reasons == (
        Reason.REFUSAL_COOLOFF,
        Reason.DROP_LOCKOUT,
        Reason.MACHINE_SAME_DAY,
    )


# --- answering machines -------------------------------------------------------------------------------

MACHINE = rules(no_redial_same_day_after_machine=True)


@pytest.mark.parametrize(
    ("now", "blocked"),
    [
        ("2026-07-01T23:59:59+02:00", True),
        ("2026-07-02T00:00:00+02:00", False),  # the next local day
    ],
)
def test_given_a_machine_earlier_today_when_the_local_day_ends_then_the_number_may_be_called(
    now: str, blocked: bool
) -> None:
    got, next_allowed, _ = reasons(MACHINE, at(now), [attempt(R.MACHINE, FIRST)])
    assert (got == (Reason.MACHINE_SAME_DAY,)) is blocked
    if blocked:
        assert next_allowed == at("2026-07-02T00:00:00+02:00")


@pytest.mark.parametrize(
    ("result", "amd", "blocked"),
    [(R.MACHINE, False, True), (R.NO_ANSWER, True, True), (R.NO_ANSWER, False, False)],
)
def test_given_a_machine_by_result_or_by_amd_when_checked_the_same_day_then_either_blocks(
    result: AttemptResult, amd: bool, blocked: bool
) -> None:
    got, _, _ = reasons(MACHINE, at(SECOND), [attempt(result, SECOND, amd_machine=amd)])
    assert (got == (Reason.MACHINE_SAME_DAY,)) is blocked


def test_given_a_machine_yesterday_and_today_when_checked_then_the_last_one_decides() -> None:
    history = [attempt(R.MACHINE, SECOND), attempt(R.MACHINE, FIRST)]
    got, _, _ = reasons(MACHINE, at(SECOND) + S, history)
    assert got == (Reason.MACHINE_SAME_DAY,)


# --- permanent blocks ---------------------------------------------------------------------------------


def test_given_a_do_not_call_lead_or_request_when_checked_then_never_again() -> None:
    assert reasons(rules(), at(SECOND), [], status=LeadStatus.DO_NOT_CALL)[:2] == (
        (Reason.DO_NOT_CALL,),
        None,
    )
    # asked on the other number: the person is protected on every number
    got, next_allowed, blocks = reasons(rules(), at(SECOND), [attempt(R.DO_NOT_CALL, FIRST, number=PARIS_2)])
    assert (got, next_allowed, blocks[0].until) == ((Reason.DO_NOT_CALL,), None, None)


@pytest.mark.parametrize(
    ("number", "lead_id", "blocked"),
    [(PARIS, 1, True), (PARIS_2, 1, False), (PARIS, 2, False)],
)
def test_given_a_wrong_number_when_checked_then_it_blocks_this_number_for_this_lead_only(
    number: str, lead_id: int, blocked: bool
) -> None:
    got, _, _ = reasons(rules(), at(SECOND), [attempt(R.WRONG_NUMBER, FIRST, number=number, lead_id=lead_id)])
    assert (got == (Reason.WRONG_NUMBER,)) is blocked


@pytest.mark.parametrize(
    ("now", "consent", "blocked"),
    [
        ("2026-08-10T23:59:59+02:00", False, False),
        ("2026-08-11T00:00:00+02:00", False, True),
        ("2026-08-11T00:00:00+02:00", True, False),
    ],
)
def test_given_consent_required_from_a_date_when_that_local_day_starts_then_leads_without_it_are_blocked(
    now: str, consent: bool, blocked: bool
) -> None:
    rule_set = rules(consent_required_from="2026-08-11")
    got, next_allowed, _ = reasons(rule_set, at(now), [], consent=consent)
    assert (got == (Reason.NO_CONSENT,)) is blocked
    if blocked:
        assert next_allowed is None


# --- windows ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "allowed", "next_allowed"),
    [
        ("2026-07-01T08:59:59+02:00", False, "2026-07-01T09:00:00+02:00"),
        ("2026-07-01T09:00:00+02:00", True, "2026-07-01T09:00:00+02:00"),
        ("2026-07-01T09:00:01+02:00", True, "2026-07-01T09:00:01+02:00"),
        ("2026-07-01T11:59:59+02:00", True, "2026-07-01T11:59:59+02:00"),
        ("2026-07-01T12:00:00+02:00", False, "2026-07-02T09:00:00+02:00"),
        ("2026-07-01T12:00:01+02:00", False, "2026-07-02T09:00:00+02:00"),
    ],
)
def test_given_a_window_when_checked_around_its_edges_then_open_at_the_start_and_closed_at_the_end(
    now: str, allowed: bool, next_allowed: str
) -> None:
    rule_set = parse_rule_set({"name": "W", "windows": {"wed": ["09:00-12:00"], "thu": ["09:00-12:00"]}})
    got, found, blocks = reasons(rule_set, at(now), [])
    assert (got == ()) is allowed
    assert found == at(next_allowed)
    if not allowed:
        assert blocks[0].detail.startswith("outside the calling windows (Wed 2026-07-01")
        assert blocks[0].detail.endswith("in Europe/Paris)")


def test_given_several_blocks_when_the_next_instant_is_searched_then_it_is_past_all_of_them() -> None:
    rule_set = parse_rule_set(
        {"name": "W", "windows": {"wed": ["09:00-12:00"], "fri": ["09:00-12:00"]}, "refusal_cooloff_days": 1}
    )
    got, next_allowed, _ = reasons(rule_set, at("2026-07-01T10:00:00+02:00"), [attempt(R.REFUSED, FIRST)])
    assert got == (Reason.REFUSAL_COOLOFF,)
    assert next_allowed == at("2026-07-03T09:00:00+02:00"), "cool-off ends Thursday, no window: Friday"


def test_given_find_next_off_when_blocked_then_no_next_instant_is_searched() -> None:
    subject = lead(PARIS, consent=True)
    v = check(subject, subject.numbers[0], [attempt(R.REFUSED, FIRST)], COOL, at(SECOND), find_next=False)
    assert (v.allowed, v.reasons, v.next_allowed) == (False, (Reason.REFUSAL_COOLOFF,), None)


def test_given_a_rule_set_with_no_window_when_searched_then_never() -> None:
    got, next_allowed, blocks = reasons(parse_rule_set({"name": "N"}), at(SECOND), [])
    assert (got, next_allowed) == ((Reason.OUTSIDE_WINDOW,), None)
    assert blocks[0].until is None


# --- abandon rate -------------------------------------------------------------------------------------


def test_given_a_rolling_period_when_measured_then_attempts_at_both_edges_count() -> None:
    rule_set = rules(abandon_period_days=7, max_abandon_rate_percent=3)
    now = at("2026-07-08T10:00:00+02:00")
    history = [
        attempt(R.CONTACT, "2026-07-01T10:00:00+02:00"),  # exactly 7 days: in, abandoned
        attempt(R.CONTACT, "2026-07-01T09:59:59+02:00"),  # one second older: out
        attempt(R.CONTACT, "2026-07-08T10:00:00+02:00", agent_after_s=1),  # now itself: in
        attempt(R.CONTACT, "2026-07-08T10:00:01+02:00"),  # after now: out
    ]
    stats = abandon_stats(history, rule_set, now)
    assert (stats.abandoned, stats.live, stats.rate_percent, stats.limit_percent) == (1, 2, 50.0, 3)
    assert stats.since == now - timedelta(days=7)


def test_given_calendar_days_when_the_period_starts_then_it_is_local_midnight_in_the_reference_zone() -> None:
    rule_set = rules(
        abandon_period_kind="calendar_days", abandon_period_days=1, reference_zone="Europe/London"
    )
    assert abandon_period_start(rule_set, at("2026-07-08T00:30:00+01:00")) == at("2026-07-08T00:00:00+01:00")
    two = rules(abandon_period_kind="calendar_days", abandon_period_days=2)
    assert abandon_period_start(two, at("2026-07-08T23:59:59+02:00")) == at("2026-07-07T00:00:00+02:00")


def test_given_the_ofcom_definition_when_machines_were_hung_up_then_their_share_counts_on_both_sides() -> (
    None
):
    rule_set = rules(abandon_definition="ofcom", amd_false_positive_percent=10)
    history = [attempt(R.CONTACT, FIRST, agent_after_s=1)] + [
        attempt(R.NO_ANSWER, FIRST, amd_machine=True) for _ in range(5)
    ]
    stats = abandon_stats(history, rule_set, at(FIRST))
    assert (stats.abandoned, stats.live) == (0.5, 1.5)
    assert stats.rate_percent == pytest.approx(100 / 3)
    plain = abandon_stats(history, rules(amd_false_positive_percent=10), at(FIRST))
    assert (plain.abandoned, plain.live, plain.rate_percent) == (0, 1, 0)


@pytest.mark.parametrize(
    ("rate", "limit", "over"),
    [(3.0, 3.0, False), (3.01, 3.0, True), (None, 3.0, False), (50.0, None, False), (0.0, 0.0, False)],
)
def test_given_a_rate_and_a_limit_when_compared_then_only_strictly_above_is_over(
    rate: float | None, limit: float | None, over: bool
) -> None:
    assert AbandonStats(0, 0, rate, limit, at(FIRST)).over_limit is over


def test_given_no_live_call_when_measured_then_the_rate_is_unknown() -> None:
    assert abandon_stats([attempt(R.NO_ANSWER, FIRST)], rules(), at(FIRST)).rate_percent is None


# --- rule set texts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "error"),
    [
        ("00:00-00:01", None),
        ("23:59-24:00", None),
        ("10:00-12:30", None),
        ("24:00-24:00", "is not a time range within one day"),
        ("23:60-24:00", "is not a time range within one day"),
        ("10:00-10:60", "is not a time range within one day"),
        ("10:00-24:01", "is not a time range within one day"),
        ("10:00-25:00", "is not a time range within one day"),
        ("10:00-10:00", "ends before it starts"),
        (5, "a calling window is written 'HH:MM-HH:MM'"),
    ],
)
def test_given_a_calling_window_at_the_edges_of_a_day_when_parsed_then_kept_or_refused_by_name(
    window: object, error: str | None
) -> None:
    data = {"name": "W", "windows": {"mon": [window]}}
    if error is None:
        assert parse_rule_set(data).to_data()["windows"] == {"mon": [window]}
    else:
        with pytest.raises(ContentError, match=re.escape("<rule set>: windows.mon[0]: ")) as refused:
            parse_rule_set(data)
        assert error in str(refused.value)


def test_given_no_mapping_when_parsed_then_the_default_source_names_the_top_level() -> None:
    with pytest.raises(ContentError, match=re.escape("<rule set>: (top level): a rule set is a mapping")):
        parse_rule_set([1])


@pytest.mark.parametrize(
    ("history", "status", "consent", "detail"),
    [
        ([attempt(R.DO_NOT_CALL, FIRST)], LeadStatus.NEW, True, "the person asked not to be called"),
        ([attempt(R.WRONG_NUMBER, FIRST)], LeadStatus.NEW, True, f"{PARIS} is not this person's number"),
        ([], LeadStatus.NEW, False, "consent is required from 2026-06-01"),
    ],
)
def test_given_a_permanent_block_when_checked_then_its_detail_says_why(
    history: list[Attempt], status: LeadStatus, consent: bool, detail: str
) -> None:
    rule_set = rules(consent_required_from="2026-06-01")
    _, _, blocks = reasons(rule_set, at(SECOND), history, status=status, consent=consent)
    assert [(b.detail, b.until) for b in blocks] == [(detail, None)]


def test_given_the_machine_rule_off_when_a_machine_answered_today_then_the_number_may_be_called() -> None:
    assert reasons(rules(), at(SECOND) + S, [attempt(R.MACHINE, SECOND)])[0] == ()


def test_given_a_machine_after_local_midnight_when_checked_later_that_local_day_then_blocked() -> None:
    # 01:00 in Paris is still the previous day in UTC: the lead's local day decides
    history = [attempt(R.MACHINE, "2026-07-02T01:00:00+02:00")]
    got, next_allowed, blocks = reasons(MACHINE, at("2026-07-02T10:00:00+02:00"), history)
    assert got == (Reason.MACHINE_SAME_DAY,)
    assert blocks[0].until == next_allowed == at("2026-07-03T00:00:00+02:00")
    assert blocks[0].until is not None and blocks[0].until.tzinfo is UTC


def test_given_a_window_opening_in_the_spring_forward_gap_when_searched_then_it_opens_at_the_transition() -> (
    None
):
    rule_set = parse_rule_set({"name": "G", "windows": {"sun": ["02:30-04:00"]}})
    got, next_allowed, _ = reasons(rule_set, at("2026-03-29T01:00:00+01:00"), [])
    assert got == (Reason.OUTSIDE_WINDOW,)
    assert next_allowed == at("2026-03-29T03:00:00+02:00"), "02:30 does not exist that night: 03:00 sharp"
    assert next_allowed is not None and next_allowed.tzinfo is UTC, "instants come out in UTC"
