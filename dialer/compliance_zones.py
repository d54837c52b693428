"""Where a number rings: its time zone(s) and the country whose public holidays apply.

`phonenumbers.timezone` is the source, corrected with the CLDR territory→zone table that babel ships:
phonenumbers answers `Etc/Unknown` for some overseas ranges (e.g. Martinique fixed lines) and a zone of
another territory for others (Morocco → `Atlantic/Canary`). A number that may ring in several zones
keeps all of them; compliance then requires every one of them to be inside the window.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from babel.core import get_global
from phonenumbers import timezone as pn_timezone

_UNKNOWN = "Etc/Unknown"


class UnknownZone(ValueError):
    """No usable time zone for a number: the lead needs an explicit zone column."""


def zone_info(key: str) -> ZoneInfo:
    try:
        return _zone(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(f"unknown time zone {key!r}") from None


@lru_cache(maxsize=512)
def _zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


def region_of(e164: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return None


def zones_for_number(e164: str, explicit: str | None = None) -> tuple[str, ...]:
    """The IANA zones `e164` may ring in; an explicit zone (a column of the list) wins."""
    if explicit:
        zone_info(explicit)
        return (explicit,)
    try:
        num = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        raise UnknownZone(f"{e164!r} is not a phone number") from None
    region = phonenumbers.region_code_for_number(num)
    territory = tuple(get_global("territory_zones").get(region or "", ()))
    candidates = tuple(z for z in pn_timezone.time_zones_for_number(num) if z != _UNKNOWN)
    if territory:
        inside = tuple(z for z in candidates if z in territory)
        candidates = inside or territory
    if not candidates:
        raise UnknownZone(f"no time zone known for {e164}; give the lead an explicit zone")
    return candidates


def holiday_country_for(e164: str) -> str | None:
    """The country whose public holidays apply to `e164` (overseas territories have their own)."""
    region = region_of(e164)
    if region and region in holidays.list_supported_countries():
        return region
    try:
        main = phonenumbers.region_code_for_country_code(phonenumbers.parse(e164).country_code)
    except phonenumbers.NumberParseException:
        return None
    return main if main in holidays.list_supported_countries() else None


@lru_cache(maxsize=256)
def holiday_calendar(country: str, subdivision: str | None) -> holidays.HolidayBase:
    """Public holidays of a country (years are filled lazily by `holidays` as dates are looked up)."""
    return holidays.country_holidays(country, subdiv=subdivision)
