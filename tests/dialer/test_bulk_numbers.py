"""The bulk normaliser gives exactly what `cti.numbers.parse` + `LeadNumber.for_e164` give, only faster."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from cti.numbers import InvalidNumber, parse
from dialer.bulk_numbers import Normaliser, number_type
from dialer.leads_model import LeadNumber


def reference(raw: str, region: str = "FR") -> tuple[object, ...]:
    try:
        p = parse(raw, region)
    except InvalidNumber as exc:
        return ("invalid", exc.reason)
    if p.extension:
        return ("invalid", "an extension cannot be dialled by the dialer")
    n = LeadNumber.for_e164(p.e164)
    return (p.e164, n.zones, n.country)


def bulk(normalise: Normaliser, raw: str) -> tuple[object, ...]:
    try:
        info = normalise(raw)
    except InvalidNumber as exc:
        return ("invalid", exc.reason)
    return (info.e164, info.zones, info.country)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("06 12 34 56 78", ("+33612345678", ("Europe/Paris",), "FR")),
        ("06.12.34.56.78", ("+33612345678", ("Europe/Paris",), "FR")),
        ("+33 (0)6 12 34 56 78", ("+33612345678", ("Europe/Paris",), "FR")),
        ("0033 1 42 68 53 00", ("+33142685300", ("Europe/Paris",), "FR")),
        ("+262 692 12 34 56", ("+262692123456", ("Indian/Reunion",), "RE")),
        ("+596 696 12 34 56", ("+596696123456", ("America/Martinique",), "MQ")),
        ("+212 5 22 12 34 56", ("+212522123456", ("Africa/Casablanca",), "MA")),
        ("+1 212 555 1234", ("+12125551234", ("America/New_York",), "US")),
        ("06 12 34 56", ("invalid", "wrong number of digits for FR")),
        ("06 39 00 00 39", ("+262639000039", ("Indian/Mayotte",), "YT")),  # Mayotte, written in France
        ("06 39 80 00 00", ("invalid", "not a number in use in FR")),  # a range no one has
        ("01 42 68 53 00 poste 12", ("invalid", "an extension cannot be dialled by the dialer")),
        ("=1+2", ("invalid", "contains characters that are not part of a phone number")),
    ],
)
def test_given_written_numbers_when_normalised_in_bulk_then_the_shared_parser_agrees(
    raw: str, expected: tuple[object, ...]
) -> None:
    assert bulk(Normaliser("FR"), raw) == expected == reference(raw)


def test_given_thousands_of_random_inputs_when_normalised_then_fast_and_reference_paths_agree() -> None:
    rnd = random.Random(5)
    normalise = Normaliser("FR", cache_size=500)  # small: the cache is cleared and refilled on the way
    inputs = []
    for _ in range(600):
        d = (
            "0"
            + str(rnd.randrange(1, 10))
            + "".join(str(rnd.randrange(10)) for _ in range(rnd.choice([7, 8, 8, 9])))
        )
        pairs = " ".join(d[i : i + 2] for i in range(0, len(d), 2))
        inputs += [d, pairs, pairs.replace(" ", "."), "+33" + d[1:], "+33 " + pairs[1:], "0033" + d[1:]]
        inputs.append(f"+{rnd.randrange(1, 999)}{rnd.randrange(10**9)}")
    mismatches = [
        (raw, bulk(normalise, raw), reference(raw))
        for raw in inputs
        if bulk(normalise, raw) != reference(raw)
    ]
    assert mismatches == []
    assert normalise.fast > 500 and normalise.slow > 500  # both paths were exercised


def test_given_example_numbers_of_every_region_and_type_when_typed_then_phonenumbers_agrees() -> None:
    rnd = random.Random(7)
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (t for t in range(12) if t != PhoneNumberType.UNKNOWN):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            variants = [example]
            nsn = str(example.national_number)
            for _ in range(3):  # neighbours: often another type or invalid
                i = rnd.randrange(len(nsn))
                digits = nsn[:i] + str(rnd.randrange(10)) + nsn[i + 1 :]
                if digits[0] != "0":
                    variants.append(
                        phonenumbers.PhoneNumber(
                            country_code=example.country_code, national_number=int(digits)
                        )
                    )
            for num in variants:
                assert number_type(num) == phonenumbers.number_type(num), (region, num)
                checked += 1
    assert checked > 2000
