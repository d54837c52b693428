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
    if region.upper() == "FR" and num.country_code == 33 and _national(s):
        kind = phonenumbers.number_type(num) if phonenumbers.is_valid_number(num) else PhoneNumberType.UNKNOWN
        overseas = overseas_france(str(num.national_number)) if kind in _GEOGRAPHIC_OR_UNKNOWN else None
        if overseas is not None:
            num = PhoneNumber(
                country_code=overseas[0], national_number=int(overseas[1]), extension=num.extension
            )
    if not phonenumbers.is_possible_number(num):
        raise InvalidNumber(raw, _letters(s) or "wrong number of digits for " + _where(num))
    if not phonenumbers.is_valid_number(num):
        raise InvalidNumber(raw, _letters(s) or "not a number in use in " + _where(num))
    e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return ParsedNumber(e164, num.extension or None, num)


# --- the fast path -------------------------------------------------------------------------------------
# Most numbers are digits and separators in the region's national form (`06 12 34 56 78`) or in
# international form (`+33 6 12 34 56 78`). Those are split into country code and national number
# directly, then validated with phonenumbers' own algorithms (`region_code_for_number`, then
# `_number_type_helper`: same metadata, same order, same patterns), the type patterns of one region and
# length folded into one regex so a number costs one `fullmatch`. A known type is exactly what
# `is_valid_number` accepts, and it implies a possible length. Anything else (and any shape where
# phonenumbers' parser could read the digits differently) takes phonenumbers' generic path above.
# Imports of a million numbers spend their time here; tests compare both paths on many thousand inputs.

SEPARATORS = str.maketrans("", "", " .-/()\u00a0\u202f")  # what phonenumbers skips too (not TAB)

# (E.164, country calling code, the number's own region, PhoneNumberType) of a valid number.
Classified = tuple[str, int, str | None, int]


def classify(compact: str, region: str) -> Classified | None:
    """`compact` (separators removed, see SEPARATORS) when the fast path can decide it and it is valid;
    None means phonenumbers' generic parse decides (and explains a rejection)."""
    split = split_number(compact, region)
    if split is None:
        return None
    cc, nsn = split
    where, kind = _classifier(cc)(nsn)
    if kind in _GEOGRAPHIC_OR_UNKNOWN and region == "FR" and compact[1:2] != "0" and compact[:1] == "0":
        overseas = overseas_france(nsn)  # written nationally: a French overseas number?
        if overseas is not None:
            cc, nsn = overseas
            where, kind = _classifier(cc)(nsn)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    return f"+{cc}{nsn}", cc, where, kind


# --- French overseas numbers written nationally ----------------------------------------------------------
# In France, `0692 12 34 56` (a Réunion mobile) or `0590 12 34 56` (a Guadeloupe line) is dialled and written
# like any French number, but its E.164 form has the territory's own country code (+262 692 12 34 56).
# phonenumbers, given FR, either refuses such a number ("not in use") or takes some fixed-line ranges as
# metropolitan (+33 596…). So a French national number that FR metadata does not know, or knows only as a
# fixed line, is tried against the overseas territories' own fixed-line and mobile ranges, from
# phonenumbers' metadata; Saint-Pierre-et-Miquelon is written with its code after the 0 (0508 41 23 45).
OVERSEAS_FRANCE = ("RE", "YT", "GP", "BL", "MF", "GF", "MQ", "PM")
_GEOGRAPHIC_OR_UNKNOWN = frozenset(
    {PhoneNumberType.UNKNOWN, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
_LINES = frozenset({PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


@lru_cache(maxsize=1)
def _overseas_plan() -> tuple[re.Pattern[str], tuple[tuple[str, int, Callable[[str], int]], ...]]:
    """(a regex every overseas line number matches, a cheap first test; each territory's code and typer)."""
    alternatives, plan = [], []
    for code in OVERSEAS_FRANCE:
        md = phonenumberutil.PhoneMetadata.metadata_for_region(code)
        cc = md.country_code
        for desc in (md.fixed_line, md.mobile):
            if desc is not None and desc.national_number_pattern:
                alternatives += [
                    f"(?:{desc.national_number_pattern})",
                    f"{cc}(?:{desc.national_number_pattern})",
                ]
        plan.append((code, cc, _typer(cc, code)))
    return re.compile("|".join(alternatives)), tuple(plan)


def overseas_france(nsn: str) -> tuple[int, str] | None:
    """(country code, national number) of a French national number (`nsn`: the digits after the 0) that is
    a line of an overseas territory, else None."""
    candidates, plan = _overseas_plan()
    if not candidates.fullmatch(nsn):
        return None
    for _code, cc, typed in plan:
        local = str(cc)
        for number in (nsn, nsn[len(local) :] if nsn.startswith(local) else ""):
            if number and typed(number) in _LINES:
                return cc, number
    return None


def _fast_parse(prepared: str, region: str) -> ParsedNumber | None:
    found = classify(prepared.translate(SEPARATORS), region)
    if found is None:
        return None
    e164, cc, _, _ = found
    return ParsedNumber(
        e164, None, PhoneNumber(country_code=cc, national_number=int(e164[1 + len(str(cc)) :]))
    )


@lru_cache(maxsize=64)
def _national_form(region: str) -> tuple[int, str, re.Pattern[str] | None] | None:
    """(country code, national prefix, international prefix pattern) when the region's national prefix is
    a plain digit string that phonenumbers strips as it is (no transform rule, no alternatives)."""
    md = phonenumberutil.PhoneMetadata.metadata_for_region(region.upper())
    if md is None or not md.national_prefix or md.national_prefix_transform_rule:
        return None
    if (md.national_prefix_for_parsing or md.national_prefix) != md.national_prefix:
        return None
    if not md.national_prefix.isdigit() or str(md.country_code).startswith(md.national_prefix):
        return None  # phonenumbers may read a leading country code there
    idd = re.compile(md.international_prefix) if md.international_prefix else None
    return md.country_code, md.national_prefix, idd


@lru_cache(maxsize=512)
def _strippable(cc: int) -> re.Pattern[str] | None:
    """The national prefix phonenumbers would try to strip after `+cc` (from the code's main region)."""
    md = phonenumberutil.PhoneMetadata.metadata_for_region_or_calling_code(
        cc, phonenumbers.region_code_for_country_code(cc)
    )
    prefix = md.national_prefix_for_parsing if md is not None else None
    return re.compile(prefix) if prefix else None


def split_number(compact: str, region: str) -> tuple[int, str] | None:
    """(country code, national significant number) for the shapes the fast path takes, else None."""
    if compact[:1] == "+":
        digits = compact[1:]
        if not (digits.isascii() and digits.isdigit()):  # "²" and "６" are digits to str.isdigit
            return None
        return _split_international(digits)
    if not (compact.isascii() and compact.isdigit()):
        return None
    form = _national_form(region)
    if form is None or not compact.startswith(form[1]):
        return None
    if form[2] is not None:
        idd = form[2].match(compact)
        if idd is not None:
            # An international prefix (0033…): phonenumbers strips it unless a 0 follows (no country code
            # starts with 0), then reads the rest as it reads what follows a `+`.
            digits = compact[idd.end() :]
            return _split_international(digits) if digits[:1] not in ("", "0") else None
    nsn = compact[len(form[1]) :]
    return (form[0], nsn) if nsn and nsn[0] != "0" else None


def _split_international(digits: str) -> tuple[int, str] | None:
    """(country code, national significant number) of the ASCII digits after `+` (or after an IDD)."""
    for n in (1, 2, 3):
        cc = int(digits[:n])
        if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            nsn = digits[n:]
            if not nsn or nsn[0] == "0":
                return None
            strip = _strippable(cc)
            # phonenumbers would strip a national prefix written after the country code
            return None if strip is not None and strip.match(nsn) else (cc, nsn)
    return None


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


def _pattern_for(desc: Any, length: int) -> str | None:
    """`_is_number_matching_desc` for one length: the pattern to fullmatch, or None (cannot match)."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return f"(?:{desc.national_number_pattern})"


def _type_regex(md: Any, length: int) -> Callable[[str], int]:
    """`_number_type_helper(nsn, md)` for numbers of `length` digits, as one regex.

    The branches follow the helper's order and a fullmatch takes the first branch that matches whole,
    so the branch that matched names the type the helper returns (a branch's group closes last, whatever
    its pattern holds); the general description is a lookahead every type needs."""
    general = _pattern_for(md.general_desc, length)
    if general is None:
        return lambda _nsn: PhoneNumberType.UNKNOWN
    branches: list[tuple[int, str]] = []
    for name, kind in _SPECIAL_TYPES:
        pattern = _pattern_for(getattr(md, name), length)
        if pattern is not None:
            branches.append((kind, pattern))
    fixed, mobile = _pattern_for(md.fixed_line, length), _pattern_for(md.mobile, length)
    same = md.same_mobile_and_fixed_line_pattern
    if fixed is not None:
        if same:
            branches.append((PhoneNumberType.FIXED_LINE_OR_MOBILE, fixed))
        else:
            if mobile is not None:
                branches.append((PhoneNumberType.FIXED_LINE_OR_MOBILE, rf"(?=(?:{mobile})\Z){fixed}"))
            branches.append((PhoneNumberType.FIXED_LINE, fixed))
    if not same and mobile is not None:
        branches.append((PhoneNumberType.MOBILE, mobile))
    if not branches:
        return lambda _nsn: PhoneNumberType.UNKNOWN
    kinds = {f"t{i}": kind for i, (kind, _) in enumerate(branches)}
    alternatives = "|".join(f"(?P<t{i}>{p})" for i, (_, p) in enumerate(branches))
    fullmatch = re.compile(rf"(?={general}\Z)(?:{alternatives})").fullmatch

    def kind_of(nsn: str) -> int:
        m = fullmatch(nsn)
        return PhoneNumberType.UNKNOWN if m is None else kinds[m.lastgroup]  # type: ignore[index]

    return kind_of


@lru_cache(maxsize=1024)
def _typer(cc: int, region: str) -> Callable[[str], int]:
    """The type of a national significant number under one region's metadata (one regex per length)."""
    md = phonenumberutil.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    if md is None:
        return lambda _nsn: PhoneNumberType.UNKNOWN
    by_length: dict[int, Callable[[str], int]] = {}

    def kind_of(nsn: str) -> int:
        typed = by_length.get(len(nsn))
        if typed is None:
            typed = by_length[len(nsn)] = _type_regex(md, len(nsn))
        return typed(nsn)

    return kind_of


@lru_cache(maxsize=512)
def _classifier(cc: int) -> Callable[[str], tuple[str | None, int]]:
    """nsn → (`region_code_for_number`, `number_type`) for one country code, as phonenumbers derives them:
    the region first (the only one, or the first whose leading digits or type fit), then the type under
    that region's metadata."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc)
    if not regions:
        return lambda _nsn: (None, PhoneNumberType.UNKNOWN)
    if len(regions) == 1:
        typed, only = _typer(cc, regions[0]), regions[0]
        return lambda nsn: (only, typed(nsn))
    candidates = []
    for code in regions:
        md = phonenumberutil.PhoneMetadata.metadata_for_region(code.upper(), None)
        if md is not None:
            leading = re.compile(md.leading_digits) if md.leading_digits is not None else None
            candidates.append((code, leading, _typer(cc, code)))

    def region_and_kind(nsn: str) -> tuple[str | None, int]:
        for code, leading, typed in candidates:
            if leading is not None:
                if leading.match(nsn):
                    return code, typed(nsn)
            else:
                kind = typed(nsn)
                if kind != PhoneNumberType.UNKNOWN:
                    return code, kind
        return None, PhoneNumberType.UNKNOWN

    return region_and_kind


def number_type(num: PhoneNumber) -> int:
    """`phonenumbers.number_type(num)` through the fast path's classifier; tests compare both."""
    return _classifier(num.country_code)(phonenumberutil.national_significant_number(num))[1]


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


def _national(prepared: str) -> bool:
    """Written in national form: a 0 that is not an international prefix (00), no +."""
    compact = prepared.translate(SEPARATORS).lstrip()
    return compact[:1] == "0" and compact[1:2] != "0"


_EXTENSION_WORDS = re.compile(r"(?:ext\.?|extension|x|poste|post\.|p\.)\s*\d{1,8}\s*$", re.IGNORECASE)


def _letters(prepared: str) -> str | None:
    """Why a number holding letters (`06-XX-34-56-78`) is refused, else None: letters are allowed only to
    introduce an extension, and phonenumbers would otherwise just report a wrong length."""
    letters = re.sub(r"[^a-zA-Z]", "", _EXTENSION_WORDS.sub("", prepared))
    if not letters:
        return None
    return f"contains letters ({letters[:10]!r}): a phone number holds digits only"


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
