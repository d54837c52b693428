"""Phone numbers: one parser for what people type, what CSV files hold and what trunks send.

Everything stores E.164 plus a suffix key (the last national digits) so that a number a trunk sent
in an odd shape still finds its contact through an index, never a scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneNumber,
    PhoneNumberFormat,
    PhoneNumberType,
    phonenumberutil,
)

SUFFIX_DIGITS = 9  # a French national significant number; long enough to be near-unique
MAX_INPUT_LEN = 64

# Written forms that phonenumbers does not take as they are.
_TRUNK_PREFIX = re.compile(r"^\+(\d{1,3})\s*\(0\)")  # "+33 (0)6 ..." → "+33 6 ..."
_FR_EXTENSION = re.compile(r"\s*(?:poste|post\.|p\.)\s*(\d{1,8})\s*$", re.IGNORECASE)  # "poste 12"
# Letters stay for "ext"/"poste"; CR, LF and other controls never belong in a number (AMI injection).
_ALLOWED = re.compile(r"^[0-9+()\-./ \t\u00a0\u202f#*,;:a-zA-Z]*$")
_NON_DIGITS = re.compile(r"\D")
_WITHHELD = {"", "anonymous", "restricted", "unknown", "unavailable", "private", "withheld", "<unknown>"}


class InvalidNumber(ValueError):
    """The input is not a phone number we can store or dial; `reason` says why."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"invalid phone number {raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    e164: str
    extension: str | None
    number: phonenumbers.PhoneNumber = field(repr=False, compare=False)

    @property
    def suffix_key(self) -> str:
        return suffix_key(self.e164)

    @property
    def region(self) -> str | None:
        return phonenumbers.region_code_for_number(self.number)

    @property
    def kind(self) -> str:
        """mobile, landline, voip, tollfree, premium or other. Computed on demand: it costs as much as the
        validation itself, and bulk imports do not need it."""
        return _KINDS.get(phonenumbers.number_type(self.number), "other")

    def national(self) -> str:
        return phonenumbers.format_number(phonenumbers.parse(self.e164), PhoneNumberFormat.NATIONAL)

    def international(self) -> str:
        return phonenumbers.format_number(phonenumbers.parse(self.e164), PhoneNumberFormat.INTERNATIONAL)


_KINDS = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "landline",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "tollfree",
    PhoneNumberType.SHARED_COST: "other",
    PhoneNumberType.PREMIUM_RATE: "premium",
}


def suffix_key(digits_or_e164: str) -> str:
    digits = _NON_DIGITS.sub("", digits_or_e164)
    return digits[-SUFFIX_DIGITS:]


def is_withheld(raw: str | None) -> bool:
    return raw is None or raw.strip().lower() in _WITHHELD


def _prepare(raw: str) -> str:
    s = raw.strip()
    if len(s) > MAX_INPUT_LEN:
        raise InvalidNumber(raw[:MAX_INPUT_LEN] + "…", f"longer than {MAX_INPUT_LEN} characters")
    if not s:
        raise InvalidNumber(raw, "empty")
    if not _ALLOWED.match(s):
        raise InvalidNumber(raw, "contains characters that are not part of a phone number")
    s = s.replace("\u00a0", " ").replace("\u202f", " ")  # Excel's French number formats
    if "(" in s:  # guards: most inputs have neither form, and a regex pass costs more than a lookup
        s = _TRUNK_PREFIX.sub(r"+\1 ", s)
    if "p" in s or "P" in s:
        s = _FR_EXTENSION.sub(r" ext. \1", s)
    # A trunk or a spreadsheet may give the international prefix as 00 (or lose the + entirely);
    # phonenumbers handles 00 only for regions whose IDD is 00, which is every region we default to.
    return s


def parse(raw: str, region: str = "FR") -> ParsedNumber:
    """Parse `raw` with `region` as the default; raise InvalidNumber instead of guessing."""
    if raw is None:
        raise InvalidNumber("", "empty")
    s = _prepare(str(raw))
    return _fast_parse(s, region.upper()) or _generic_parse(raw, s, region)


def _generic_parse(raw: str, s: str, region: str) -> ParsedNumber:
    try:
        num = phonenumbers.parse(s, region.upper())
    except NumberParseException as exc:
        raise InvalidNumber(raw, _parse_error(exc)) from None
    if not phonenumbers.is_possible_number(num):
        raise InvalidNumber(raw, "wrong number of digits for " + _where(num))
    if not phonenumbers.is_valid_number(num):
        raise InvalidNumber(raw, "not a number in use in " + _where(num))
    e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return ParsedNumber(e164, num.extension or None, num)


# --- the fast path -------------------------------------------------------------------------------------
# Most numbers are digits and separators in the region's national form (`06 12 34 56 78`) or in
# international form (`+33 6 12 34 56 78`). Those are split into country code and national number
# directly, then validated with phonenumbers' own type algorithm (same metadata, same order, same
# patterns, compiled once per region): a known type is exactly what `is_valid_number` accepts, and it
# implies a possible length. Anything else takes phonenumbers' generic path above. Imports of a million
# numbers spend their time here; tests compare both paths.

SEPARATORS = str.maketrans("", "", " .-/()\u00a0\u202f\t")


def _fast_parse(prepared: str, region: str) -> ParsedNumber | None:
    split = split_number(prepared.translate(SEPARATORS), region)
    if split is None:
        return None
    num = PhoneNumber(country_code=split[0], national_number=int(split[1]))
    if number_type(num) == PhoneNumberType.UNKNOWN:
        return None  # the generic path gives the precise reason
    return ParsedNumber(phonenumbers.format_number(num, PhoneNumberFormat.E164), None, num)


@lru_cache(maxsize=64)
def _national_prefix(region: str) -> tuple[int, str] | None:
    """(country code, national prefix) when the region's prefix is a plain digit string to strip."""
    md = phonenumberutil.PhoneMetadata.metadata_for_region(region.upper())
    if md is None or not md.national_prefix or md.national_prefix_transform_rule:
        return None
    if (md.national_prefix_for_parsing or md.national_prefix) != md.national_prefix:
        return None
    return md.country_code, md.national_prefix


def split_number(compact: str, region: str) -> tuple[int, str] | None:
    """(country code, national significant number) for the shapes the fast path takes, else None."""
    if compact.startswith("+"):
        digits = compact[1:]
        if not digits.isdigit():
            return None
        for n in (1, 2, 3):
            cc = int(digits[:n])
            if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                nsn = digits[n:]
                return (cc, nsn) if nsn and nsn[0] != "0" else None
        return None
    if not compact.isdigit():
        return None
    prefix = _national_prefix(region)
    if prefix is None or not compact.startswith(prefix[1]):
        return None
    nsn = compact[len(prefix[1]) :]
    return (prefix[0], nsn) if nsn and nsn[0] != "0" else None


_SPECIAL_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)
_Desc = tuple[frozenset[int], re.Pattern[str]] | None


def _desc(desc: Any) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


def _matches(desc: _Desc, nsn: str) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None


@lru_cache(maxsize=512)
def _typer(cc: int, region: str | None) -> Callable[[str], int]:
    """phonenumbers' `_number_type_helper` for one region, its patterns compiled once."""
    md = phonenumberutil.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    if md is None:
        return lambda _nsn: PhoneNumberType.UNKNOWN
    general = _desc(md.general_desc)
    special = [(_desc(getattr(md, name)), kind) for name, kind in _SPECIAL_TYPES]
    fixed, mobile, same = _desc(md.fixed_line), _desc(md.mobile), md.same_mobile_and_fixed_line_pattern

    def kind_of(nsn: str) -> int:
        if not _matches(general, nsn):
            return PhoneNumberType.UNKNOWN
        for desc, kind in special:
            if _matches(desc, nsn):
                return kind
        if _matches(fixed, nsn):
            return (
                PhoneNumberType.FIXED_LINE_OR_MOBILE
                if same or _matches(mobile, nsn)
                else PhoneNumberType.FIXED_LINE
            )
        if not same and _matches(mobile, nsn):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN

    return kind_of


def number_type(num: PhoneNumber) -> int:
    """`phonenumbers.number_type(num)`, with the patterns compiled once per region; tests compare both."""
    region = phonenumbers.region_code_for_number(num)
    return _typer(num.country_code, region)(phonenumberutil.national_significant_number(num))


def try_parse(raw: str | None, region: str = "FR") -> ParsedNumber | None:
    if is_withheld(raw):
        return None
    try:
        return parse(raw or "", region)
    except InvalidNumber:
        return None


def lookup_keys(raw: str, region: str = "FR") -> tuple[str | None, str | None]:
    """(exact E.164 or None, suffix key or None) to look a caller up by.

    A caller ID that does not parse (a trunk prefix we do not know, a short national form) can still
    match on its last digits, so only the digits are required for the suffix key.
    """
    if is_withheld(raw):
        return None, None
    parsed = try_parse(raw, region)
    if parsed is not None:
        return parsed.e164, parsed.suffix_key
    digits = "".join(c for c in raw if c.isdigit())
    return None, (digits[-SUFFIX_DIGITS:] if len(digits) >= SUFFIX_DIGITS else None)


def _where(num: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_number(num)
    return region or f"+{num.country_code}"


def _parse_error(exc: NumberParseException) -> str:
    return {
        NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        NumberParseException.NOT_A_NUMBER: "not a phone number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
        NumberParseException.TOO_SHORT_NSN: "too short",
        NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, str(exc))
