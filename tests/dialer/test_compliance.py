"""Compliance rule sets: windows in the lead's local time, holidays, caps, cool-offs, lockouts, consent."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from core.model_errors import ContentError
from dialer.compliance import (
    Reason,
    RuleSet,
    abandon_stats,
    builtin_rule_sets,
    check,
    clone_rule_set,
    load_rule_set,
    parse_rule_set,
)
from dialer.compliance_zones import UnknownZone, zones_for_number
from dialer.leads_model import AttemptResult, LeadNumber, LeadStatus
from tests.dialer.helpers import (
    CASABLANCA,
    LONDON,
    MARTINIQUE,
    NEW_YORK,
    PARIS,
    PARIS_2,
    REUNION,
    at,
    attempt,
    lead,
)

R = AttemptResult
FR = builtin_rule_sets()["FR-2023"]
US = builtin_rule_sets()["US-TCPA"]
UK = builtin_rule_sets()["UK-Ofcom"]


def verdict(rule_set: RuleSet, number: str, now: str, history=(), consent: bool = True, **lead_kw):
    """Consent is proven unless a test says otherwise, so only the rule under test decides."""
    subject = lead(number, consent=consent, **lead_kw)
    return check(subject, subject.numbers[0], list(history), rule_set, at(now))


# --- windows, zones, holidays ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_set", "number", "now", "allowed", "reason"),
    [
        # FR-2023 window edges, Paris, Wednesday 15 July 2026
        (FR, PARIS, "2026-07-15T09:59:59+02:00", False, Reason.OUTSIDE_WINDOW),
        (FR, PARIS, "2026-07-15T10:00:00+02:00", True, None),
        (FR, PARIS, "2026-07-15T12:59:59+02:00", True, None),
        (FR, PARIS, "2026-07-15T13:00:00+02:00", False, Reason.OUTSIDE_WINDOW),
        (FR, PARIS, "2026-07-15T13:59:59+02:00", False, Reason.OUTSIDE_WINDOW),
        (FR, PARIS, "2026-07-15T14:00:00+02:00", True, None),
        (FR, PARIS, "2026-07-15T19:59:59+02:00", True, None),
        (FR, PARIS, "2026-07-15T20:00:00+02:00", False, Reason.OUTSIDE_WINDOW),
        (FR, PARIS, "2026-07-18T11:00:00+02:00", False, Reason.OUTSIDE_WINDOW),  # Saturday
        (FR, PARIS, "2026-07-19T11:00:00+02:00", False, Reason.OUTSIDE_WINDOW),  # Sunday
        # FR public holidays: 14 July (Tuesday), 1 May (Friday); the day after is fine
        (FR, PARIS, "2026-07-14T11:00:00+02:00", False, Reason.PUBLIC_HOLIDAY),
        (FR, PARIS, "2026-05-01T11:00:00+02:00", False, Reason.PUBLIC_HOLIDAY),
        (FR, PARIS, "2026-07-16T11:00:00+02:00", True, None),
        # the same UTC instant is judged in each lead's own time (09:30Z: 11:30 Paris, 10:30 Casablanca)
        (FR, CASABLANCA, "2026-07-15T08:30:00+00:00", False, Reason.OUTSIDE_WINDOW),  # 09:30 local
        (FR, CASABLANCA, "2026-07-15T09:30:00+00:00", True, None),  # 10:30 local
        (FR, PARIS, "2026-07-15T08:30:00+00:00", True, None),  # 10:30 Paris
        # Morocco drops to UTC+0 during Ramadan (March 2026): 09:30Z is then 09:30 in Casablanca
        (FR, CASABLANCA, "2026-03-02T09:30:00+00:00", False, Reason.OUTSIDE_WINDOW),
        (FR, CASABLANCA, "2026-03-02T10:00:00+00:00", True, None),
        # Réunion (UTC+4) and Martinique (UTC-4)
        (FR, REUNION, "2026-07-15T06:00:00+00:00", True, None),  # 10:00 Réunion, 08:00 Paris
        (FR, PARIS, "2026-07-15T06:00:00+00:00", False, Reason.OUTSIDE_WINDOW),
        (FR, REUNION, "2026-07-15T16:00:00+00:00", False, Reason.OUTSIDE_WINDOW),  # 20:00 Réunion
        (FR, MARTINIQUE, "2026-07-15T23:59:59+00:00", True, None),  # 19:59:59 Martinique
        (FR, MARTINIQUE, "2026-07-16T00:00:00+00:00", False, Reason.OUTSIDE_WINDOW),  # 20:00
        # 22 May is a public holiday in Martinique (abolition of slavery), not in Paris
        (FR, MARTINIQUE, "2026-05-22T11:00:00-04:00", False, Reason.PUBLIC_HOLIDAY),
        (FR, PARIS, "2026-05-22T11:00:00+02:00", True, None),
        # US-TCPA: 08:00-21:00 local, every day, holidays allowed by law
        (US, NEW_YORK, "2026-07-15T07:59:59-04:00", False, Reason.OUTSIDE_WINDOW),
        (US, NEW_YORK, "2026-07-15T08:00:00-04:00", True, None),
        (US, NEW_YORK, "2026-07-15T20:59:59-04:00", True, None),
        (US, NEW_YORK, "2026-07-15T21:00:00-04:00", False, Reason.OUTSIDE_WINDOW),
        (US, NEW_YORK, "2026-07-04T12:00:00-04:00", True, None),
        (US, NEW_YORK, "2026-07-19T12:00:00-04:00", True, None),  # Sunday
        # UK-Ofcom practice window, London
        (UK, LONDON, "2026-07-15T07:59:59+01:00", False, Reason.OUTSIDE_WINDOW),
        (UK, LONDON, "2026-07-15T08:00:00+01:00", True, None),
    ],
)
def test_given_a_lead_zone_when_checked_at_an_instant_then_the_window_of_its_local_time_decides(
    rule_set: RuleSet, number: str, now: str, allowed: bool, reason: Reason | None
) -> None:
    result = verdict(rule_set, number, now)
    assert result.allowed is allowed
    assert result.reasons == ((reason,) if reason else ())


def test_given_a_manager_clone_with_holidays_when_checked_on_4_july_then_the_us_holiday_blocks() -> None:
    us_no_holidays = clone_rule_set(US, "US-TCPA-no-holidays", {"no_calls_on_public_holidays": True})
    result = verdict(us_no_holidays, NEW_YORK, "2026-07-04T12:00:00-04:00")
    assert result.reasons == (Reason.PUBLIC_HOLIDAY,)
    assert result.next_allowed == at("2026-07-05T08:00:00-04:00")
    # the observed federal holiday (Friday 3 July) is a holiday too
    assert verdict(us_no_holidays, NEW_YORK, "2026-07-03T12:00:00-04:00").reasons == (Reason.PUBLIC_HOLIDAY,)


@pytest.mark.parametrize(
    ("rule_set", "number", "now", "next_allowed"),
    [
        (FR, PARIS, "2026-07-15T09:59:59+02:00", "2026-07-15T10:00:00+02:00"),
        (FR, PARIS, "2026-07-15T13:00:00+02:00", "2026-07-15T14:00:00+02:00"),
        (FR, PARIS, "2026-07-17T20:00:00+02:00", "2026-07-20T10:00:00+02:00"),  # Friday evening → Monday
        (FR, PARIS, "2026-07-13T20:00:00+02:00", "2026-07-15T10:00:00+02:00"),  # skips 14 July
        (FR, PARIS, "2026-04-30T20:30:00+02:00", "2026-05-04T10:00:00+02:00"),  # skips 1 May + weekend
        # DST weekends: the Monday opening follows the new offset
        (FR, PARIS, "2026-03-27T20:00:00+01:00", "2026-03-30T10:00:00+02:00"),  # spring forward
        (FR, PARIS, "2026-10-23T20:00:00+02:00", "2026-10-26T10:00:00+01:00"),  # autumn back
        (US, NEW_YORK, "2026-03-07T21:00:00-05:00", "2026-03-08T08:00:00-04:00"),
        (US, NEW_YORK, "2026-10-31T21:00:00-04:00", "2026-11-01T08:00:00-05:00"),
        (FR, REUNION, "2026-07-15T17:00:00+00:00", "2026-07-16T10:00:00+04:00"),
    ],
)
def test_given_a_closed_window_when_checked_then_next_allowed_is_the_next_local_opening(
    rule_set: RuleSet, number: str, now: str, next_allowed: str
) -> None:
    result = verdict(rule_set, number, now)
    assert not result.allowed
    assert result.next_allowed == at(next_allowed)


# A window across the DST switch hours (02:00-03:00 local), to test the gap and the repeated hour.
NIGHT = clone_rule_set(
    FR, "NIGHT", {"windows": {"sun": ["02:30-03:30"]}, "no_calls_on_public_holidays": False}
)
REPEATED = clone_rule_set(FR, "REPEATED", {"windows": {"sun": ["02:15-02:45"]}})


@pytest.mark.parametrize(
    ("rule_set", "now", "allowed", "next_allowed"),
    [
        # 29 March 2026, Paris: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist, the window
        # opens at the switch (01:00Z, 03:00 CEST) and closes at 03:30 CEST (01:30Z)
        (NIGHT, "2026-03-29T00:59:59+00:00", False, "2026-03-29T01:00:00+00:00"),
        (NIGHT, "2026-03-29T01:00:00+00:00", True, "2026-03-29T01:00:00+00:00"),
        (NIGHT, "2026-03-29T01:29:59+00:00", True, "2026-03-29T01:29:59+00:00"),
        (NIGHT, "2026-03-29T01:30:00+00:00", False, "2026-04-05T00:30:00+00:00"),
        # 25 October 2026, Paris: 02:15-02:45 happens twice (CEST at 00:15Z, CET at 01:15Z)
        (REPEATED, "2026-10-25T00:20:00+00:00", True, "2026-10-25T00:20:00+00:00"),
        (REPEATED, "2026-10-25T00:50:00+00:00", False, "2026-10-25T01:15:00+00:00"),
        (REPEATED, "2026-10-25T01:20:00+00:00", True, "2026-10-25T01:20:00+00:00"),
        # the next Sunday, 1 November, is All Saints' Day (REPEATED keeps FR holidays): 8 November
        (REPEATED, "2026-10-25T01:45:00+00:00", False, "2026-11-08T01:15:00+00:00"),
    ],
)
def test_given_a_dst_weekend_when_the_window_covers_the_switch_then_local_wall_time_decides(
    rule_set: RuleSet, now: str, allowed: bool, next_allowed: str
) -> None:
    result = verdict(rule_set, PARIS, now)
    assert result.allowed is allowed
    assert result.next_allowed == at(next_allowed)


# --- caps, cool-offs, lockouts, consent, DNC -----------------------------------------------------------

NOW = "2026-07-15T11:00:00+02:00"
FOUR_IN_JULY = [
    attempt(R.NO_ANSWER, "2026-07-01T11:00:00+02:00"),
    attempt(R.BUSY, "2026-07-02T11:00:00+02:00"),
    attempt(R.MACHINE, "2026-07-03T11:00:00+02:00"),
    attempt(R.NO_ANSWER, "2026-07-06T11:00:00+02:00"),
]


@pytest.mark.parametrize(
    ("history", "allowed", "reasons", "next_allowed"),
    [
        ([], True, (), NOW),
        (FOUR_IN_JULY[:3], True, (), NOW),
        (FOUR_IN_JULY, False, (Reason.ATTEMPTS_CAP,), "2026-07-31T11:00:00+02:00"),
        # an attempt exactly 30 days ago has left the rolling period
        ([attempt(R.NO_ANSWER, "2026-06-15T11:00:00+02:00"), *FOUR_IN_JULY[1:]], True, (), NOW),
        # attempts count per person: the lead's second number and another list's lead on the same number
        (
            [*FOUR_IN_JULY[:3], attempt(R.NO_ANSWER, "2026-07-07T11:00:00+02:00", number=PARIS_2)],
            False,
            (Reason.ATTEMPTS_CAP,),
            "2026-07-31T11:00:00+02:00",
        ),
        (
            [*FOUR_IN_JULY[:3], attempt(R.NO_ANSWER, "2026-07-07T11:00:00+02:00", lead_id=99)],
            False,
            (Reason.ATTEMPTS_CAP,),
            "2026-07-31T11:00:00+02:00",
        ),
        # 60 days of silence after a refusal, then the next window opening
        (
            [attempt(R.REFUSED, "2026-06-01T11:00:00+02:00", agent_after_s=0.5)],
            False,
            (Reason.REFUSAL_COOLOFF,),
            "2026-07-31T11:00:00+02:00",
        ),
        (
            [attempt(R.REFUSED, "2026-05-17T11:00:00+02:00", agent_after_s=0.5)],
            False,
            (Reason.REFUSAL_COOLOFF,),
            "2026-07-16T11:00:00+02:00",
        ),
        ([attempt(R.REFUSED, "2026-05-16T11:00:00+02:00", agent_after_s=0.5)], True, (), NOW),  # ends now
        # do not call is for good, whatever the number or the list
        (
            [attempt(R.DO_NOT_CALL, "2026-07-01T11:00:00+02:00", number=PARIS_2)],
            False,
            (Reason.DO_NOT_CALL,),
            None,
        ),
    ],
)
def test_given_fr_history_when_checked_then_caps_and_cooloffs_apply(
    history, allowed: bool, reasons: tuple[Reason, ...], next_allowed: str | None
) -> None:
    subject = lead(PARIS, PARIS_2, consent=True)
    result = check(subject, subject.numbers[0], history, FR, at(NOW))
    assert (result.allowed, result.reasons) == (allowed, reasons)
    assert result.next_allowed == (at(next_allowed) if next_allowed else None)


def test_given_a_cooloff_ending_on_a_holiday_when_checked_then_next_allowed_is_the_next_opening() -> None:
    history = [attempt(R.REFUSED, "2026-05-15T11:00:00+02:00", agent_after_s=0.5)]  # ends 14 July 11:00
    result = verdict(FR, PARIS, "2026-07-13T11:00:00+02:00", history=history)
    assert result.reasons == (Reason.REFUSAL_COOLOFF,)
    assert result.next_allowed == at("2026-07-15T10:00:00+02:00")


@pytest.mark.parametrize(
    ("history", "now", "agent_guaranteed", "reasons", "next_allowed"),
    [
        # abandoned: answered and no agent (or an agent after more than 2 s) → 72 h lockout
        (
            [attempt(R.DROPPED, "2026-07-15T09:00:00+01:00", number=LONDON)],
            "2026-07-18T08:59:59+01:00",
            False,
            (Reason.DROP_LOCKOUT,),
            "2026-07-18T09:00:00+01:00",
        ),
        (
            [attempt(R.DROPPED, "2026-07-15T09:00:00+01:00", number=LONDON)],
            "2026-07-18T09:00:00+01:00",
            False,
            (),
            None,
        ),
        (
            [attempt(R.CONTACT, "2026-07-15T09:00:00+01:00", number=LONDON, agent_after_s=2.5)],
            "2026-07-16T10:00:00+01:00",
            False,
            (Reason.DROP_LOCKOUT,),
            "2026-07-18T09:00:00+01:00",
        ),
        (
            [attempt(R.CONTACT, "2026-07-15T09:00:00+01:00", number=LONDON, agent_after_s=1.5)],
            "2026-07-16T10:00:00+01:00",
            False,
            (),
            None,
        ),
        # a guaranteed agent lifts the lockout (Ofcom)
        (
            [attempt(R.DROPPED, "2026-07-15T09:00:00+01:00", number=LONDON)],
            "2026-07-16T10:00:00+01:00",
            True,
            (),
            None,
        ),
        # answering machine: not again the same local day
        (
            [attempt(R.MACHINE, "2026-07-15T09:00:00+01:00", number=LONDON)],
            "2026-07-15T18:00:00+01:00",
            False,
            (Reason.MACHINE_SAME_DAY,),
            "2026-07-16T08:00:00+01:00",
        ),
        (
            [attempt(R.MACHINE, "2026-07-15T09:00:00+01:00", number=LONDON)],
            "2026-07-16T08:00:00+01:00",
            False,
            (),
            None,
        ),
    ],
)
def test_given_uk_history_when_checked_then_drop_and_machine_lockouts_apply(
    history, now: str, agent_guaranteed: bool, reasons, next_allowed: str | None
) -> None:
    subject = lead(LONDON, consent=True)
    result = check(subject, subject.numbers[0], history, UK, at(now), agent_guaranteed=agent_guaranteed)
    assert result.reasons == reasons
    assert result.next_allowed == (at(next_allowed) if next_allowed else at(now))


@pytest.mark.parametrize(
    ("now", "consent", "reasons"),
    [
        ("2026-08-10T11:00:00+02:00", False, ()),  # Monday before the opt-in date
        ("2026-08-11T11:00:00+02:00", False, (Reason.NO_CONSENT,)),
        ("2026-08-11T11:00:00+02:00", True, ()),
        ("2027-01-12T11:00:00+01:00", False, (Reason.NO_CONSENT,)),
    ],
)
def test_given_the_fr_opt_in_date_when_a_lead_has_no_consent_then_it_is_never_called_after_it(
    now: str, consent: bool, reasons
) -> None:
    result = verdict(FR, PARIS, now, consent=consent)
    assert result.reasons == reasons
    assert result.next_allowed == (None if reasons else at(now))


def test_given_no_consent_when_blocked_before_the_opt_in_date_then_next_allowed_stops_at_it() -> None:
    # Friday 7 August 20:00: the next window (Monday 10 August) is still before 11 August
    assert verdict(FR, PARIS, "2026-08-07T20:00:00+02:00", consent=False).next_allowed == at(
        "2026-08-10T10:00:00+02:00"
    )
    # Monday 10 August 20:00: the next window would be on 11 August, when consent becomes required
    assert verdict(FR, PARIS, "2026-08-10T20:00:00+02:00", consent=False).next_allowed is None


def test_given_a_wrong_number_when_checked_then_only_that_number_of_that_lead_is_blocked() -> None:
    subject = lead(PARIS, PARIS_2)
    history = [attempt(R.WRONG_NUMBER, "2026-07-13T11:00:00+02:00", agent_after_s=0.5)]
    first, second = (check(subject, n, history, FR, at(NOW)) for n in subject.numbers)
    assert first.reasons == (Reason.WRONG_NUMBER,) and first.next_allowed is None
    assert second.allowed


def test_given_a_do_not_call_lead_status_when_checked_then_it_is_blocked_for_good() -> None:
    result = verdict(FR, PARIS, NOW, status=LeadStatus.DO_NOT_CALL)
    assert result.reasons == (Reason.DO_NOT_CALL,) and result.next_allowed is None


def test_given_several_rules_when_checked_then_every_reason_is_reported_and_the_latest_end_wins() -> None:
    history = [*FOUR_IN_JULY, attempt(R.REFUSED, "2026-07-10T11:00:00+02:00", agent_after_s=0.5)]
    result = verdict(FR, PARIS, "2026-07-18T11:00:00+02:00", history=history)  # a Saturday
    assert set(result.reasons) == {Reason.ATTEMPTS_CAP, Reason.REFUSAL_COOLOFF, Reason.OUTSIDE_WINDOW}
    assert result.next_allowed == at("2026-09-08T11:00:00+02:00")  # refusal + 60 days, a Tuesday


def test_given_a_naive_now_when_checked_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check(lead(), lead().numbers[0], [], FR, datetime(2026, 7, 15, 11))


# --- zones ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "explicit", "zones"),
    [
        (PARIS, None, ("Europe/Paris",)),
        (CASABLANCA, None, ("Africa/Casablanca",)),  # phonenumbers says Atlantic/Canary
        ("+596596123456", None, ("America/Martinique",)),  # phonenumbers says Etc/Unknown
        (REUNION, None, ("Indian/Reunion",)),
        (NEW_YORK, None, ("America/New_York",)),
        (PARIS, "America/Cayenne", ("America/Cayenne",)),  # an explicit zone column wins
    ],
)
def test_given_a_number_when_its_zone_is_derived_then_the_territory_zone_is_used(
    number: str, explicit: str | None, zones: tuple[str, ...]
) -> None:
    assert zones_for_number(number, explicit) == zones


def test_given_an_unknown_explicit_zone_when_a_number_is_built_then_the_error_names_it() -> None:
    with pytest.raises(UnknownZone, match="Mars/Olympus"):
        LeadNumber.for_e164(PARIS, zone="Mars/Olympus")


# --- rule set files and edits -------------------------------------------------------------------------


def test_given_the_shipped_rule_sets_when_loaded_then_they_carry_the_law() -> None:
    assert set(builtin_rule_sets()) >= {"FR-2023", "US-TCPA", "UK-Ofcom"}
    assert (FR.max_attempts, FR.attempts_period_days, FR.refusal_cooloff_days) == (4, 30, 60)
    assert str(FR.consent_required_from) == "2026-08-11"
    assert [str(w) for w in FR.windows["mon"]] == ["10:00-13:00", "14:00-20:00"]
    assert "sat" not in FR.windows and FR.no_calls_on_public_holidays
    assert (US.max_abandon_rate_percent, US.abandon_period_days, US.abandon_after_seconds) == (3.0, 30, 2)
    assert (UK.abandon_period_kind, UK.abandon_period_days, UK.drop_lockout_hours) == ("calendar_days", 1, 72)


def test_given_a_rule_set_when_dumped_and_parsed_then_it_round_trips() -> None:
    for rule_set in builtin_rule_sets().values():
        assert parse_rule_set(rule_set.to_data()) == rule_set


def test_given_a_clone_when_edited_then_the_original_is_unchanged() -> None:
    clone = clone_rule_set(FR, "FR-strict", {"max_attempts": 2})
    assert (clone.name, clone.max_attempts, FR.max_attempts) == ("FR-strict", 2, 4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_attempts": 0}, "rule set 'X': max_attempts: Input should be greater than or equal to 1"),
        ({"windows": {"mon": ["10:00-13:00", "10h-12h"]}}, "rule set 'X': windows.mon[1]: a calling window"),
        ({"windows": {"mon": ["14:00-13:00"]}}, "rule set 'X': windows.mon[0]: '14:00-13:00' ends before"),
        (
            {"windows": {"mon": ["10:00-14:00", "13:30-15:00"]}},
            "windows: mon: 13:30-15:00 overlaps 10:00-14:00",
        ),
        ({"windows": {"lun": ["10:00-13:00"]}}, "rule set 'X': windows.lun.[key]: Input should be 'mon'"),
        (
            {"reference_zone": "Europe/Pariss"},
            "rule set 'X': reference_zone: unknown time zone 'Europe/Pariss'",
        ),
        ({"max_attempt": 3}, "rule set 'X': max_attempt: Extra inputs are not permitted"),
        (
            {"consent_required_from": "11/08/2026"},
            "rule set 'X': consent_required_from: Input should be a valid date",
        ),
        (
            {"max_abandon_rate_percent": 300},
            "rule set 'X': max_abandon_rate_percent: Input should be less than",
        ),
    ],
)
def test_given_an_invalid_edit_when_validated_then_the_error_names_the_field(changes, message: str) -> None:
    with pytest.raises(ContentError) as caught:
        clone_rule_set(FR, "X", changes)
    assert any(line.startswith(message) or message in line for line in caught.value.errors), (
        caught.value.errors
    )


@pytest.mark.parametrize(
    ("file_name", "text", "message"),
    [
        ("FR-2023.yaml", "name: FR-2023\nwindows: [oops\n", "FR-2023.yaml: line 3, column 1: invalid YAML"),
        ("mine.yaml", "name: other\n", "mine.yaml: name: 'other' does not match the file name 'mine'"),
        ("mine.yaml", "- a list\n", "mine.yaml: (top level): a rule set is a mapping"),
    ],
)
def test_given_a_broken_rule_set_file_when_loaded_then_the_error_names_the_file(
    tmp_path: Path, file_name: str, text: str, message: str
) -> None:
    path = tmp_path / file_name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_rule_set(path)
    assert caught.value.errors[0].startswith(f"{tmp_path}/{message}"), caught.value.errors


# --- abandon rate ------------------------------------------------------------------------------------


def _calls(n: int, result: AttemptResult, started: str, **kw):
    return [
        attempt(
            result,
            started,
            lead_id=i,
            agent_after_s=kw.get("agent_after_s"),
            amd_machine=kw.get("amd", False),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("rule_set", "history", "now", "rate", "over"),
    [
        (
            US,
            _calls(97, R.CONTACT, "2026-07-10T12:00:00-04:00", agent_after_s=1)
            + _calls(3, R.DROPPED, "2026-07-10T12:00:00-04:00"),
            "2026-07-15T12:00:00-04:00",
            3.0,
            False,
        ),
        (
            US,
            _calls(96, R.CONTACT, "2026-07-10T12:00:00-04:00", agent_after_s=1)
            + _calls(4, R.DROPPED, "2026-07-10T12:00:00-04:00"),
            "2026-07-15T12:00:00-04:00",
            4.0,
            True,
        ),
        # an agent reached after 2.5 s is an abandoned call under the 2-second rule
        (
            US,
            _calls(96, R.CONTACT, "2026-07-10T12:00:00-04:00", agent_after_s=1)
            + _calls(4, R.CONTACT, "2026-07-10T12:00:00-04:00", agent_after_s=2.5),
            "2026-07-15T12:00:00-04:00",
            4.0,
            True,
        ),
        # more than 30 days ago: out of the rolling period
        (
            US,
            _calls(10, R.DROPPED, "2026-06-01T12:00:00-04:00")
            + _calls(10, R.CONTACT, "2026-07-10T12:00:00-04:00", agent_after_s=1),
            "2026-07-15T12:00:00-04:00",
            0.0,
            False,
        ),
        # Ofcom: calendar day in London; yesterday's drops do not count today
        (
            UK,
            _calls(10, R.DROPPED, "2026-07-14T23:59:00+01:00")
            + _calls(50, R.CONTACT, "2026-07-15T00:00:00+01:00", agent_after_s=1),
            "2026-07-15T12:00:00+01:00",
            0.0,
            False,
        ),
        # Ofcom: 10 % of 20 AMD hang-ups are counted as abandoned live calls: (1 + 2) / (49 + 2)
        (
            UK,
            _calls(48, R.CONTACT, "2026-07-15T10:00:00+01:00", agent_after_s=1)
            + _calls(1, R.DROPPED, "2026-07-15T10:00:00+01:00")
            + _calls(20, R.MACHINE, "2026-07-15T10:00:00+01:00", amd=True),
            "2026-07-15T12:00:00+01:00",
            300 / 51,
            True,
        ),
    ],
)
def test_given_a_campaign_history_when_the_abandon_rate_is_measured_then_the_rule_set_definition_applies(
    rule_set: RuleSet, history, now: str, rate: float, over: bool
) -> None:
    stats = abandon_stats(history, rule_set, at(now))
    assert stats.rate_percent == pytest.approx(rate)
    assert stats.over_limit is over
