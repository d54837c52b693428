"""The numbers fast path against phonenumbers itself, on many generated and real-world-shaped inputs.

`cti.numbers.classify` (and the bulk normaliser built on it) must give exactly what phonenumbers gives
— E.164, validity, the number's region, its type, its time zones — whenever it answers; when it
declines, phonenumbers' generic path decides. The reference below calls phonenumbers directly, never
our own parse (which takes the fast path).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import phonenumbers
import pytest
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, PhoneNumberType
from phonenumbers import timezone as pn_timezone

from cti.numbers import SEPARATORS, InvalidNumber, _prepare, classify, parse
from dialer.bulk_numbers import Normaliser, _raw_zones

Reference = tuple[str, str | None, int, tuple[str, ...], str] | None


OVERSEAS = ("RE", "YT", "GP", "BL", "MF", "GF", "MQ", "PM")
LINES = {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def overseas_rule(num: PhoneNumber, prepared: str, region: str) -> PhoneNumber:
    """The French rule, with phonenumbers' own validation per territory: a number written nationally that
    FR metadata refuses or knows only as a fixed line is a territory's line when one has it (Saint-Pierre's
    written with its code after the 0)."""
    compact = prepared.translate(SEPARATORS)
    if region != "FR" or num.country_code != 33 or compact[:1] != "0" or compact[1:2] == "0":
        return num
    if phonenumbers.is_valid_number(num) and phonenumbers.number_type(num) not in (
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return num
    nsn = str(num.national_number)
    for territory in OVERSEAS:
        cc = phonenumbers.country_code_for_region(territory)
        for digits in (nsn, nsn[len(str(cc)) :] if nsn.startswith(str(cc)) else ""):
            if digits[:1] in ("", "0"):
                continue
            there = PhoneNumber(country_code=cc, national_number=int(digits), extension=num.extension)
            if (
                phonenumbers.is_valid_number_for_region(there, territory)
                and phonenumbers.number_type(there) in LINES
            ):
                return there
    return num


def reference(raw: str, region: str) -> Reference:
    """phonenumbers' own answer (with the French overseas rule): None when it does not parse or is not a
    valid number."""
    try:
        prepared = _prepare(raw)
        num = overseas_rule(phonenumbers.parse(prepared, region), prepared, region)
    except (NumberParseException, InvalidNumber):
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return (
        phonenumbers.format_number(num, PhoneNumberFormat.E164),
        phonenumbers.region_code_for_number(num),
        phonenumbers.number_type(num),
        tuple(pn_timezone.time_zones_for_number(num)),
        num.extension or "",
    )


def fast(raw: str, region: str) -> Reference | str:
    """The fast path's answer, or "declined"."""
    try:
        prepared = _prepare(raw)
    except InvalidNumber:
        return "declined"
    found = classify(prepared.translate(SEPARATORS), region)
    if found is None:
        return "declined"
    e164, cc, where, kind = found
    return e164, where, kind, _raw_zones(e164, cc, kind), ""


def _digits(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice("0123456789") for _ in range(n))


def _written(rnd: random.Random, digits: str) -> str:
    """Digits as people and spreadsheets write them."""
    sep = rnd.choice([" ", ".", "-", "/", "", " ", "\u00a0", "\u202f", "\t", " - ", ". "])
    step = rnd.choice([2, 2, 3, 4, len(digits) or 1])
    return sep.join(digits[i : i + step] for i in range(0, len(digits), step))


def french_national(rnd: random.Random) -> tuple[str, str]:
    digits = "0" + rnd.choice("123456789") + _digits(rnd, rnd.choice([8, 8, 8, 8, 7, 9]))
    return _written(rnd, digits), "FR"


def french_international(rnd: random.Random) -> tuple[str, str]:
    nsn = rnd.choice("1234567890") + _digits(rnd, rnd.choice([8, 8, 8, 7, 9]))
    prefix = rnd.choice(["+33", "+33 ", "0033", "0033 ", "+33 (0)", "+33(0)", "+ 33 ", "33"])
    return prefix + _written(rnd, nsn), rnd.choice(["FR", "FR", "BE", "MA"])


def maghreb(rnd: random.Random) -> tuple[str, str]:
    cc, region, first = rnd.choice([("212", "MA", "5678"), ("213", "DZ", "235679"), ("216", "TN", "234579")])
    nsn = rnd.choice(first) + _digits(rnd, rnd.choice([8, 8, 7, 9]))
    if rnd.random() < 0.5:
        return "+" + cc + " " + _written(rnd, nsn), rnd.choice(["FR", region])
    return _written(rnd, ("0" if region != "TN" else "") + nsn), region


def overseas(rnd: random.Random) -> tuple[str, str]:
    cc, region, starts = rnd.choice(
        [
            ("262", "RE", ["262", "263", "269", "639", "692", "693"]),
            ("262", "YT", ["269", "639"]),
            ("590", "GP", ["590", "690", "691"]),
            ("594", "GF", ["594", "694"]),
            ("596", "MQ", ["596", "696", "697"]),
            ("508", "PM", ["41", "55"]),
            ("687", "NC", ["2", "7", "9"]),
            ("689", "PF", ["40", "87", "89"]),
            ("681", "WF", ["72", "82"]),
        ]
    )
    start = rnd.choice(starts)
    nsn = start + _digits(rnd, max(1, rnd.choice([9, 9, 8, 6]) - len(start)))
    shape = rnd.random()
    if shape < 0.4:
        return "+" + cc + " " + _written(rnd, nsn), "FR"
    if shape < 0.7:
        return _written(rnd, "0" + nsn), region
    return "00" + cc + _written(rnd, nsn), "FR"


def elsewhere(rnd: random.Random) -> tuple[str, str]:
    cc = rnd.choice(["1", "44", "7", "49", "32", "41", "39", "34", "351", "352", "377", "225", "221", "86"])
    nsn = _digits(rnd, rnd.randint(5, 12))
    return rnd.choice(["+", "00", "+", "+ "]) + cc + " " + _written(rnd, nsn), rnd.choice(
        ["FR", "FR", "US", "GB", "DE", "IT", "RU", "CH", "BE"]
    )


def national_elsewhere(rnd: random.Random) -> tuple[str, str]:
    region = rnd.choice(["GB", "DE", "BE", "CH", "US", "RU", "IT", "ES", "SN", "CI", "BR", "AR", "MX"])
    prefix = rnd.choice(["0", "0", "8", "1", "", "00", "810", "01"])
    return _written(rnd, prefix + _digits(rnd, rnd.randint(6, 11))), region


def odd(rnd: random.Random) -> tuple[str, str]:
    """Hostile and half-broken cells."""
    base = "06" + _digits(rnd, 8)
    return (
        rnd.choice(
            [
                "\uff10\uff16" + _digits(rnd, 8),  # fullwidth digits
                base[:-1] + "\u00b2",  # a superscript is a digit to str.isdigit
                base + " poste " + _digits(rnd, 2),
                base + " ext. 12",
                base + "#12",
                "(" + base[:2] + ") " + base[2:],
                base + ".",
                "." + base,
                "++33" + base[1:],
                "+-33" + base[1:],
                "+0" + base,
                "+330" + base[1:],
                "+33 " + base,
                "0" + base,
                base + "0",
                base[:6],
                "tel: " + base,
                "+" + _digits(rnd, rnd.randint(1, 20)),
                _digits(rnd, rnd.randint(1, 20)),
                " ".join(base) + "   " * 20,
                base.replace("6", "O", 1),
                "06 12 34 56 78\r",
            ]
        ),
        rnd.choice(["FR", "FR", "MA", "US"]),
    )


def example_numbers(rnd: random.Random) -> tuple[str, str]:
    """phonenumbers' example number of a random region and type, written nationally or with +."""
    region = rnd.choice(sorted(phonenumbers.SUPPORTED_REGIONS))
    num = phonenumbers.example_number_for_type(region, rnd.randrange(11))
    if num is None:
        num = phonenumbers.example_number(region)
    if num is None:
        return "+33612345678", "FR"
    fmt = rnd.choice([PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164])
    return phonenumbers.format_number(num, fmt), region if fmt == PhoneNumberFormat.NATIONAL else "FR"


SHAPES: list[Callable[[random.Random], tuple[str, str]]] = [
    french_national,
    french_national,
    french_international,
    maghreb,
    overseas,
    elsewhere,
    national_elsewhere,
    odd,
    example_numbers,
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_given_many_written_numbers_when_the_fast_path_answers_then_it_is_phonenumbers_answer(
    seed: int,
) -> None:
    rnd = random.Random(seed)
    answered = declined = 0
    wrong = []
    for _ in range(8000):
        raw, region = rnd.choice(SHAPES)(rnd)
        got, want = fast(raw, region), reference(raw, region)
        if got == "declined":
            declined += 1
            continue
        answered += 1
        if got != want:
            wrong.append((raw, region, got, want))
    assert wrong == []
    assert answered > 2000 and declined > 1000  # both paths are exercised


@pytest.mark.parametrize("region", ["FR", "MA", "DZ", "TN", "RE", "GP", "GB"])
def test_given_every_three_digit_national_prefix_when_classified_then_phonenumbers_agrees(
    region: str,
) -> None:
    """Types and zones hang on the leading digits: every leading triple, each with random tails."""
    rnd = random.Random(region)
    prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix or ""
    wrong = []
    for lead in range(1000):
        for length in rnd.sample((7, 8, 9, 10), 2):
            raw = prefix + f"{lead:03d}" + _digits(rnd, length - 3)
            for shape in (raw, "+" + str(phonenumbers.country_code_for_region(region)) + raw[len(prefix) :]):
                got, want = fast(shape, region), reference(shape, region)
                if got != "declined" and got != want:
                    wrong.append((shape, got, want))
    assert wrong == []


@pytest.mark.parametrize("seed", [4, 5])
def test_given_many_written_numbers_when_parsed_then_valid_exactly_when_phonenumbers_says_so(
    seed: int,
) -> None:
    """End to end: `parse` and the bulk normaliser accept what phonenumbers accepts, with its E.164."""
    rnd = random.Random(seed)
    normalisers: dict[str, Normaliser] = {}
    wrong = []
    for _ in range(5000):
        raw, region = rnd.choice(SHAPES)(rnd)
        want = reference(raw, region)
        try:
            got: str | None = parse(raw, region).e164
        except InvalidNumber:
            got = None
        if got != (want[0] if want else None):
            wrong.append(("parse", raw, region, got, want))
        normalise = normalisers.setdefault(region, Normaliser(region))
        try:
            info = normalise(raw)
        except InvalidNumber:
            info = None
        dialable = want is not None and not want[4]
        if (info is not None) != dialable or (info is not None and want and info.e164 != want[0]):
            wrong.append(("bulk", raw, region, info, want))
    assert wrong == []


@pytest.mark.parametrize("region", ["FR", "MA", "DZ", "RE"])
def test_given_numbers_after_the_international_prefix_when_classified_then_phonenumbers_answer_comes_fast(
    region: str,
) -> None:
    """`0033 6 12…` (and a 00 followed by any country code) is read like `+33 6 12…`, not left to the slow
    path; a 0 after the 00 is not a country code, so those stay phonenumbers' to decide."""
    rnd = random.Random("idd" + region)
    codes = ["33", "212", "44", "262", "590", "1", "49", "7", "0", "999"]
    answered, wrong = 0, []
    for _ in range(4000):
        raw = "00" + rnd.choice(codes) + rnd.choice("0123456789") + _digits(rnd, rnd.choice([6, 7, 8, 8, 9]))
        shape = _written(rnd, raw) if rnd.random() < 0.5 else raw
        got, want = fast(shape, region), reference(shape, region)
        if got == "declined":
            continue
        answered += 1
        if got != want:
            wrong.append((shape, got, want))
    assert wrong == []
    assert answered > 300  # all of them were declined before
