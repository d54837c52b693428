"""Phone numbers: one parser for what people type, what CSV files hold and what trunks send.

Everything stores E.164 plus a suffix key (the last national digits) so that a number a trunk sent
in an odd shape still finds its contact through an index, never a scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

SUFFIX_DIGITS = 9  # a French national significant number; long enough to be near-unique
MAX_INPUT_LEN = 64

# Written forms that phonenumbers does not take as they are.
_TRUNK_PREFIX = re.compile(r"^\+(\d{1,3})\s*\(0\)")  # "+33 (0)6 ..." → "+33 6 ..."
_FR_EXTENSION = re.compile(r"\s*(?:poste|post\.|p\.)\s*(\d{1,8})\s*$", re.IGNORECASE)  # "poste 12"
# Letters stay for "ext"/"poste"; CR, LF and other controls never belong in a number (AMI injection).
_ALLOWED = re.compile(r"^[0-9+()\-./ \t\u00a0\u202f#*,;:a-zA-Z]*$")
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
    digits = "".join(c for c in digits_or_e164 if c.isdigit())
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
    s = _TRUNK_PREFIX.sub(r"+\1 ", s)
    s = _FR_EXTENSION.sub(r" ext. \1", s)
    # A trunk or a spreadsheet may give the international prefix as 00 (or lose the + entirely);
    # phonenumbers handles 00 only for regions whose IDD is 00, which is every region we default to.
    return s


def parse(raw: str, region: str = "FR") -> ParsedNumber:
    """Parse `raw` with `region` as the default; raise InvalidNumber instead of guessing."""
    if raw is None:
        raise InvalidNumber("", "empty")
    s = _prepare(str(raw))
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
