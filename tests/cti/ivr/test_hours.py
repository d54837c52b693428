"""Opening hours: weekly schedule in local time, public holidays, dated exceptions, DST. Pure tables."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from cti.ivr.hours import HoursStatus, Schedule, parse_range

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = {d: ["08:30-12:30", "13:30-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
SCHEDULE = Schedule(
    timezone="Europe/Paris",
    weekly={**WEEKDAYS, "sat": ["09:00-12:00"]},
    holidays_country="FR",
    exceptions=[
        {"date": "2026-12-24", "hours": ["08:30-12:00"], "reason": "veille de Noël"},
        {"date": "2026-12-28", "hours": [], "reason": "inventaire"},
        {"date": "2026-05-01", "hours": ["10:00-12:00"], "reason": "permanence"},
    ],
)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("when", "status", "why"),
    [
        (paris(2026, 11, 23, 8, 29), HoursStatus.CLOSED, ""),  # Monday, a minute before opening
        (paris(2026, 11, 23, 8, 30), HoursStatus.OPEN, ""),  # opening minute is open
        (paris(2026, 11, 23, 12, 30), HoursStatus.CLOSED, ""),  # the end of a range is closed
        (paris(2026, 11, 23, 13, 0), HoursStatus.CLOSED, ""),  # lunch break
        (paris(2026, 11, 23, 17, 59, 59), HoursStatus.OPEN, ""),
        (paris(2026, 11, 28, 10, 0), HoursStatus.OPEN, ""),  # Saturday morning
        (paris(2026, 11, 28, 14, 0), HoursStatus.CLOSED, ""),  # Saturday afternoon
        (paris(2026, 11, 29, 10, 0), HoursStatus.CLOSED, ""),  # Sunday: no entry means closed
        (paris(2026, 7, 14, 10, 0), HoursStatus.HOLIDAY, "National Day"),  # a Tuesday, Fête nationale
        (paris(2026, 4, 6, 10, 0), HoursStatus.HOLIDAY, "Easter Monday"),  # a movable feast
        (paris(2026, 12, 24, 11, 0), HoursStatus.EXCEPTION_OPEN, "veille de Noël"),  # short day, morning
        (paris(2026, 12, 24, 14, 0), HoursStatus.EXCEPTION_CLOSED, "veille de Noël"),  # short day, afternoon
        (paris(2026, 12, 28, 10, 0), HoursStatus.EXCEPTION_CLOSED, "inventaire"),  # a closure Monday
        (paris(2026, 5, 1, 11, 0), HoursStatus.EXCEPTION_OPEN, "permanence"),  # an exception beats a holiday
        (paris(2026, 5, 1, 15, 0), HoursStatus.EXCEPTION_CLOSED, "permanence"),
    ],
)
def test_given_french_schedule_when_judging_an_instant_then_status_and_reason_follow(
    when: datetime, status: HoursStatus, why: str
) -> None:
    assert SCHEDULE.status(when) == (status, why)


@pytest.mark.parametrize(
    ("utc", "status"),
    [
        # Summer (UTC+2): 06:29Z is 08:29 local, closed; 06:30Z is 08:30, open.
        (datetime(2026, 6, 15, 6, 29, tzinfo=UTC), HoursStatus.CLOSED),
        (datetime(2026, 6, 15, 6, 30, tzinfo=UTC), HoursStatus.OPEN),
        # Winter (UTC+1): the same UTC instant is an hour earlier locally.
        (datetime(2026, 1, 12, 6, 30, tzinfo=UTC), HoursStatus.CLOSED),
        (datetime(2026, 1, 12, 7, 30, tzinfo=UTC), HoursStatus.OPEN),
        # The week after the spring change (29 March 2026): local hours are unchanged.
        (datetime(2026, 3, 27, 7, 30, tzinfo=UTC), HoursStatus.OPEN),  # Friday 08:30 CET
        (datetime(2026, 3, 30, 6, 30, tzinfo=UTC), HoursStatus.OPEN),  # Monday 08:30 CEST
        (datetime(2026, 3, 30, 6, 29, tzinfo=UTC), HoursStatus.CLOSED),
        # After the autumn change (25 October 2026).
        (datetime(2026, 10, 26, 7, 29, tzinfo=UTC), HoursStatus.CLOSED),  # 08:29 CET
        (datetime(2026, 10, 26, 7, 30, tzinfo=UTC), HoursStatus.OPEN),
    ],
)
def test_given_utc_instants_around_dst_changes_when_judged_then_local_wall_clock_decides(
    utc: datetime, status: HoursStatus
) -> None:
    assert SCHEDULE.status(utc)[0] is status


@pytest.mark.parametrize(
    ("utc", "status"),
    [
        # Sunday 29 March 2026: 01:59 CET is 00:59Z, then the clock jumps from 02:00 to 03:00 (01:00Z).
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), HoursStatus.OPEN),  # 01:59 local, in 00:00-02:00
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), HoursStatus.OPEN),  # 03:00 local, in 03:00-24:00
        # Sunday 25 October 2026: 02:00-03:00 happens twice; both are inside 02:00-03:00.
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), HoursStatus.OPEN),  # 02:30 CEST
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), HoursStatus.OPEN),  # 02:30 CET
        (datetime(2026, 10, 25, 2, 30, tzinfo=UTC), HoursStatus.CLOSED),  # 03:30 CET
    ],
)
def test_given_night_line_when_the_clock_jumps_then_the_skipped_and_repeated_hours_behave(
    utc: datetime, status: HoursStatus
) -> None:
    night = Schedule(timezone="Europe/Paris", weekly={"sun": ["00:00-02:00", "02:00-03:00"]})
    if utc.month == 3:
        night = Schedule(timezone="Europe/Paris", weekly={"sun": ["00:00-02:00", "03:00-24:00"]})
    assert night.status(utc)[0] is status


@pytest.mark.parametrize(
    ("country", "subdivision", "when", "status"),
    [
        ("GB", "ENG", datetime(2026, 8, 31, 10, 0, tzinfo=ZoneInfo("Europe/London")), HoursStatus.HOLIDAY),
        ("GB", "SCT", datetime(2026, 8, 31, 10, 0, tzinfo=ZoneInfo("Europe/London")), HoursStatus.OPEN),
        ("MA", None, datetime(2026, 7, 30, 10, 0, tzinfo=ZoneInfo("Africa/Casablanca")), HoursStatus.HOLIDAY),
        (None, None, datetime(2026, 7, 14, 10, 0, tzinfo=PARIS), HoursStatus.OPEN),  # no country: no holidays
    ],
)
def test_given_a_country_when_its_holiday_comes_then_the_line_closes(
    country: str | None, subdivision: str | None, when: datetime, status: HoursStatus
) -> None:
    sched = Schedule(
        timezone=str(when.tzinfo),
        weekly={d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        holidays_country=country,
        holidays_subdivision=subdivision,
    )
    assert sched.status(when)[0] is status


@pytest.mark.parametrize(
    ("text", "expected"),
    [("08:30-12:00", ("08:30", "12:00")), ("00:00-24:00", ("00:00", None)), (" 9:00-10:00", None)],
)
def test_given_a_range_text_when_parsed_then_times_or_error(
    text: str, expected: tuple[str, str | None] | None
) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="08:30-12:00"):
            parse_range(text)
        return
    start, end = parse_range(text)
    assert start.strftime("%H:%M") == expected[0]
    assert (end.strftime("%H:%M") if end else None) == expected[1]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"weekly": {"lun": ["08:00-12:00"]}}, "unknown day 'lun'"),
        ({"weekly": {"mon": ["12:00-08:00"]}}, "ends before it starts"),
        ({"weekly": {"mon": ["08:00-12:00", "11:00-14:00"]}}, "overlap"),
        ({"weekly": {"mon": ["25:00-26:00"]}}, "impossible time"),
        ({"timezone": "Europe/Pariss"}, "unknown time zone"),
        ({"holidays_country": "XX"}, "holidays of 'XX' are not known"),
        ({"exceptions": [{"date": "2026-12-24"}, {"date": "2026-12-24"}]}, "same date"),
        ({"holidays_country": "FR", "holidays_language": "de"}, "'de' is not offered for FR; use one of"),
        ({"holidays_language": "fr"}, "holidays_language needs holidays_country"),
    ],
)
def test_given_a_bad_schedule_when_validated_then_the_error_says_what(schedule: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Schedule.model_validate(schedule)


def test_given_a_naive_datetime_when_judged_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        SCHEDULE.status(datetime(2026, 11, 23, 10, 0))


@pytest.mark.parametrize(("language", "name"), [("fr", "Fête nationale"), ("en_US", "National Day")])
def test_given_a_holidays_language_when_a_holiday_comes_then_its_name_is_in_that_language(
    language: str, name: str
) -> None:
    sched = Schedule(holidays_country="FR", holidays_language=language)
    assert sched.status(paris(2026, 7, 14, 10, 0)) == (HoursStatus.HOLIDAY, name)
