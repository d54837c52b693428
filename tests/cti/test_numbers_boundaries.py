"""Numbers at their edges: the suffix key of numbers that do not parse, default regions, each error."""

from __future__ import annotations

import pytest

from cti.numbers import InvalidNumber, lookup_keys, parse, try_parse


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        ("12345678", (None, None)),  # 8 digits: too few to stand for a number
        ("123456789", (None, "123456789")),  # 9 digits: the suffix key is all of them
        ("1234567890", (None, "234567890")),  # 10: the LAST nine, not the first
        ("12-34-56-78-90-1", (None, "345678901")),  # only the digits count
    ],
)
def test_given_a_number_that_does_not_parse_when_keyed_then_its_last_nine_digits_are_the_suffix_key(
    raw: str, keys: tuple[str | None, str | None]
) -> None:
    assert lookup_keys(raw, "ZZ") == keys  # no such region: nothing parses


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        ("0612345678", ("+33612345678", "612345678")),
        ("06 12 34 56 78", ("+33612345678", "612345678")),
        ("anonymous", (None, None)),
        ("", (None, None)),
    ],
)
def test_given_no_region_when_keyed_then_french_numbers_parse(raw: str, keys: tuple) -> None:
    assert lookup_keys(raw) == keys


def test_given_a_region_when_keyed_or_parsed_then_it_is_the_default_for_national_forms() -> None:
    assert lookup_keys("012 34 56 78", "BE") == ("+3212345678", "212345678")
    parsed = try_parse("012 34 56 78", "BE")
    assert parsed is not None and parsed.e164 == "+3212345678"
    assert parse("012 34 56 78", "be").e164 == "+3212345678", "the region in any case"


@pytest.mark.parametrize("raw", [None, "", "  ", "anonymous", "Restricted", "0012"])
def test_given_a_withheld_or_bad_caller_id_when_tried_then_none(raw: str | None) -> None:
    assert try_parse(raw) is None


def test_given_no_region_when_tried_then_french_national_forms_parse() -> None:
    parsed = try_parse("0612345678")
    assert parsed is not None
    assert (parsed.e164, parsed.extension, parsed.number.national_number) == ("+33612345678", None, 612345678)
    assert parse("0612345678").number.country_code == 33


def test_given_a_parsed_number_when_formatted_then_national_and_international_forms() -> None:
    parsed = parse("0612345678")
    assert parsed.international() == "+33 6 12 34 56 78"
    assert parsed.national() == "06 12 34 56 78"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("+999 123", "unknown country code"),
        ("abc", "not a phone number"),
        ("0012", "too short after the international prefix"),
        ("+33 6", "too short"),
        ("0112345678901234567", "too long"),
        ("06", "wrong number of digits for FR"),
        ("+44 20", "wrong number of digits for +44"),
        ("+33 7 00 00 00 00", "not a number in use in FR"),
        ("+1 555 000 0000", "not a number in use in +1"),
    ],
)
def test_given_a_bad_number_when_parsed_then_the_error_keeps_the_input_and_says_why(
    raw: str, reason: str
) -> None:
    with pytest.raises(InvalidNumber) as error:
        parse(raw)
    assert (error.value.raw, error.value.reason) == (raw, reason)
    assert str(error.value) == f"invalid phone number {raw!r}: {reason}"
