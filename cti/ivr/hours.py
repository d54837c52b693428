"""Opening hours: a weekly schedule in a local time zone, public holidays, dated exceptions. Pure.

Times are wall-clock times in the schedule's zone, so a DST change moves nothing: "08:30-18:00" stays
08:30-18:00 local on both sides of the change. The instant to judge is always an aware datetime.
"""

from __future__ import annotations

import enum
import itertools
import re
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class HoursStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # outside the weekly schedule
    HOLIDAY = "holiday"  # a public holiday of the configured country
    EXCEPTION_OPEN = "exception_open"  # a dated exception opens the line
    EXCEPTION_CLOSED = "exception_closed"  # a dated exception closes it (closure day, short day)

    @property
    def is_open(self) -> bool:
        return self in (HoursStatus.OPEN, HoursStatus.EXCEPTION_OPEN)


def parse_range(text: str) -> tuple[time, time | None]:
    """'08:30-12:00' → (08:30, 12:00); an end of '24:00' is returned as None (end of day)."""
    m = _RANGE.match(text.strip())
    if not m:
        raise ValueError(f"time range {text!r} must look like 08:30-12:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"time range {text!r} has an impossible time")
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end is not None and end <= start:
        raise ValueError(f"time range {text!r} ends before it starts (split a night range at 24:00)")
    return start, end


def _check_ranges(ranges: list[str]) -> list[str]:
    parsed = sorted((parse_range(r), r) for r in ranges)
    for (a, ra), (b, rb) in itertools.pairwise(parsed):
        if a[1] is None or a[1] > b[0]:
            raise ValueError(f"time ranges {ra} and {rb} overlap")
    return ranges


def _in_ranges(ranges: list[str], t: time) -> bool:
    for r in ranges:
        start, end = parse_range(r)
        if start <= t and (end is None or t < end):
            return True
    return False


class SpecialDay(BaseModel):
    """A dated exception: `hours: []` closes the whole day, a list of ranges replaces the weekly hours."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    date: date
    hours: list[str] = Field(default_factory=list)
    reason: str = ""

    @field_validator("hours")
    @classmethod
    def _ranges(cls, v: list[str]) -> list[str]:
        return _check_ranges(v)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    timezone: str = "Europe/Paris"
    weekly: dict[str, list[str]] = Field(default_factory=dict)
    # ISO 3166 country (and optional subdivision) whose public holidays close the line; none when unset
    holidays_country: str | None = None
    holidays_subdivision: str | None = None
    holidays_language: str | None = None  # names of the holidays in the history, e.g. fr: "Fête nationale"
    exceptions: list[SpecialDay] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in v.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
            try:
                _check_ranges(ranges)
            except ValueError as exc:
                raise ValueError(f"{day}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _country(self) -> Schedule:
        if self.holidays_country is not None:
            try:
                calendar = _holidays(self.holidays_country, self.holidays_subdivision, 2000, None)
            except NotImplementedError:
                raise ValueError(
                    f"holidays of {self.holidays_country!r}"
                    + (f" / {self.holidays_subdivision!r}" if self.holidays_subdivision else "")
                    + " are not known"
                ) from None
            languages = tuple(getattr(calendar, "supported_languages", ()))
            if self.holidays_language is not None and self.holidays_language not in languages:
                raise ValueError(
                    f"holidays_language {self.holidays_language!r} is not offered for "
                    f"{self.holidays_country}; use one of {', '.join(languages) or '(none)'}"
                )
        elif self.holidays_language is not None:
            raise ValueError("holidays_language needs holidays_country")
        dates = [e.date for e in self.exceptions]
        if len(set(dates)) != len(dates):
            raise ValueError("two exceptions for the same date")
        return self

    def status(self, now: datetime) -> tuple[HoursStatus, str]:
        """Whether the line is open at the instant `now` (aware), and why (holiday or exception name)."""
        if now.tzinfo is None:
            raise ValueError("opening hours need an aware datetime")
        local = now.astimezone(ZoneInfo(self.timezone))
        day, t = local.date(), local.time().replace(tzinfo=None)
        for exc in self.exceptions:
            if exc.date == day:
                if _in_ranges(exc.hours, t):
                    return HoursStatus.EXCEPTION_OPEN, exc.reason
                return HoursStatus.EXCEPTION_CLOSED, exc.reason
        if self.holidays_country is not None:
            calendar = _holidays(
                self.holidays_country, self.holidays_subdivision, day.year, self.holidays_language
            )
            name = calendar.get(day)
            if name is not None:
                return HoursStatus.HOLIDAY, str(name)
        if _in_ranges(self.weekly.get(DAYS[local.weekday()], []), t):
            return HoursStatus.OPEN, ""
        return HoursStatus.CLOSED, ""


@lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str | None, year: int, language: str | None) -> holidays.HolidayBase:
    # Built in memory from the package's rules: no I/O, so the interpreter stays pure.
    return holidays.country_holidays(country, subdiv=subdivision, years=year, language=language)
