"""Number normalisation for call-list imports: `cti.numbers.parse` semantics at bulk speed, plus zones.

A million-row list spends most of its time on numbers. The savings, none of which skips a check:

- **The fast path of `cti.numbers`** (`classify`): a cell of digits and separators in the region's
  national form or in `+` form is split directly and validated by phonenumbers' own region and type
  algorithms, one regex per region and length. Anything else goes through `cti.numbers.parse`, so
  errors read the same as everywhere else.
- **Zones memoised by number prefix.** phonenumbers finds a geographic number's zones by its longest
  prefix in `TIMEZONE_DATA`; every key a number can meet there is at most `_tz_digits(cc)` digits long,
  so the answer for the first `_tz_digits(cc)` digits is the answer for every number that starts with
  them. Non-geographic types (mobiles…) get the country's zones. The territory correction of
  `dialer.compliance_zones` is cached per (region, zones).
- A bounded cache keyed by the separator-free text absorbs duplicate numbers.

Tests compare every result with `cti.numbers.parse` + `LeadNumber.for_e164` (phonenumbers itself).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import holidays
import phonenumbers
from babel.core import get_global
from phonenumbers import PhoneNumber, phonenumberutil
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

from cti.numbers import MAX_INPUT_LEN, SEPARATORS, InvalidNumber, classify, number_type, parse
from dialer.compliance_zones import zones_for_number

__all__ = ["CACHE_SIZE", "Normaliser", "NumberInfo", "number_type"]

CACHE_SIZE = 50_000

_UNKNOWN_ZONE = "Etc/Unknown"


class NumberInfo(NamedTuple):
    e164: str
    zones: tuple[str, ...]  # where it rings (an explicit zone column overrides this at import)
    country: str | None  # whose public holidays apply


@lru_cache(maxsize=4096)
def _place(region: str | None, cc: int, zones: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """Territory-corrected zones and holiday country, as `LeadNumber.for_e164` derives them."""
    territory = tuple(get_global("territory_zones").get(region or "", ()))
    candidates = tuple(z for z in zones if z != _UNKNOWN_ZONE)
    if territory:
        inside = tuple(z for z in candidates if z in territory)
        candidates = inside or territory
    supported = holidays.list_supported_countries()
    main = phonenumbers.region_code_for_country_code(cc)
    country = region if region in supported else (main if main in supported else region)
    return candidates, country


@lru_cache(maxsize=1024)
def _tz_digits(cc: int) -> int:
    """How many leading E.164 digits decide a geographic number's zones: a key of `TIMEZONE_DATA` that
    prefixes such a number is either a prefix of the country code or starts with it."""
    code = str(cc)
    return max([len(code), *(len(k) for k in TIMEZONE_DATA if k.startswith(code))])


_GEO_ZONES: dict[str, tuple[str, ...]] = {}  # E.164 digits prefix → phonenumbers' zones
_COUNTRY_ZONES: dict[int, tuple[str, ...]] = {}


def _raw_zones(e164: str, cc: int, kind: int) -> tuple[str, ...]:
    """`phonenumbers.timezone.time_zones_for_number` for a valid fast-path number (no leading zero) of
    type `kind`."""
    if phonenumberutil.is_number_type_geographical(kind, cc):
        key = e164[1 : 1 + _tz_digits(cc)]
        zones = _GEO_ZONES.get(key)
        if zones is None:
            num = PhoneNumber(country_code=cc, national_number=int(e164[1 + len(str(cc)) :]))
            zones = _GEO_ZONES[key] = tuple(pn_timezone.time_zones_for_geographical_number(num))
        return zones
    zones = _COUNTRY_ZONES.get(cc)
    if zones is None:  # the country's zones, whichever non-geographic number asks first
        num = PhoneNumber(country_code=cc, national_number=int(e164[1 + len(str(cc)) :]))
        zones = _COUNTRY_ZONES[cc] = tuple(pn_timezone.time_zones_for_number(num))
    return zones


class Normaliser:
    def __init__(self, region: str = "FR", cache_size: int = CACHE_SIZE) -> None:
        self.region = region.upper()
        # Plain tuples, which the collector stops tracking once it has seen them: a NumberInfo (a tuple
        # subclass) stays tracked for life, and a full cache is 50,000 objects every full collection walks.
        self._cache: dict[str, tuple[str, tuple[str, ...], str | None] | InvalidNumber] = {}
        self._cache_size = cache_size
        self.fast = self.slow = 0  # how many numbers took each path (for the bench)

    def __call__(self, raw: str) -> NumberInfo:
        return NumberInfo._make(self.plain(raw))

    def plain(self, raw: str) -> tuple[str, tuple[str, ...], str | None]:
        """What `__call__` gives, as a plain tuple (e164, zones, country): for bulk callers that keep many."""
        compact = raw.translate(SEPARATORS)  # strips the surrounding blanks too
        hit = self._cache.get(compact)
        if hit is None:
            hit = self._compute(raw.strip(), compact)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()  # bounded memory; duplicates are usually close together
            self._cache[compact] = hit
        if hit.__class__ is tuple:
            return hit  # type: ignore[return-value]
        raise InvalidNumber(raw, hit.reason)  # type: ignore[union-attr]

    def _compute(
        self, stripped: str, compact: str
    ) -> tuple[str, tuple[str, ...], str | None] | InvalidNumber:
        found = classify(compact, self.region) if len(stripped) <= MAX_INPUT_LEN and compact else None
        if found is not None:
            self.fast += 1
            e164, cc, region, kind = found
            raw_zones = _raw_zones(e164, cc, kind)
        else:
            self.slow += 1
            try:
                parsed = parse(stripped, self.region)
            except InvalidNumber as exc:
                return exc
            if parsed.extension:
                return InvalidNumber(stripped, "an extension cannot be dialled by the dialer")
            e164, num = parsed.e164, parsed.number
            cc, region = num.country_code, phonenumbers.region_code_for_number(num)
            raw_zones = tuple(pn_timezone.time_zones_for_number(num))
        zones, country = _place(region, cc, raw_zones)
        if not zones:  # the shared derivation raises the error that names the number
            zones = zones_for_number(e164)
        return (e164, tuple(zones), country)
