"""Phone number parsing: what people type, what spreadsheets hold and what trunks send."""

from __future__ import annotations

import pytest

from cti.numbers import InvalidNumber, lookup_keys, parse, suffix_key
from dialer.bulk_numbers import Normaliser

VALID = [
    # French mobiles and landlines, every common way of writing them
    ("06 12 34 56 78", "FR", "+33612345678", None),
    ("06.12.34.56.78", "FR", "+33612345678", None),
    ("06-12-34-56-78", "FR", "+33612345678", None),
    ("0612345678", "FR", "+33612345678", None),
    ("+33 6 12 34 56 78", "FR", "+33612345678", None),
    ("+33612345678", "FR", "+33612345678", None),
    ("0033612345678", "FR", "+33612345678", None),
    ("00 33 6 12 34 56 78", "FR", "+33612345678", None),
    ("+33 (0)6 12 34 56 78", "FR", "+33612345678", None),
    ("+33(0)612345678", "FR", "+33612345678", None),
    ("33612345678", "FR", "+33612345678", None),
    ("(0)6 12 34 56 78", "FR", "+33612345678", None),
    ("06\u00a012\u00a034\u00a056\u00a078", "FR", "+33612345678", None),  # Excel's non-breaking spaces
    ("  06 12 34 56 78  ", "FR", "+33612345678", None),
    ("07 81 23 45 67", "FR", "+33781234567", None),
    ("01 23 45 67 89", "FR", "+33123456789", None),
    ("09 72 12 34 56", "FR", "+33972123456", None),
    ("08 00 12 34 56", "FR", "+33800123456", None),
    # extensions
    ("01 23 45 67 89 poste 12", "FR", "+33123456789", "12"),
    ("+33 1 23 45 67 89 ext. 4321", "FR", "+33123456789", "4321"),
    ("01.23.45.67.89 p. 7", "FR", "+33123456789", "7"),
    # overseas departments
    ("+262 692 12 34 56", "FR", "+262692123456", None),
    ("0692 12 34 56", "RE", "+262692123456", None),
    ("+596 696 12 34 56", "FR", "+596696123456", None),
    ("0696 12 34 56", "MQ", "+596696123456", None),
    # Morocco
    ("+212 6 61 23 45 67", "FR", "+212661234567", None),
    ("0661234567", "MA", "+212661234567", None),
    ("06 61 23 45 67", "MA", "+212661234567", None),
    ("00212661234567", "FR", "+212661234567", None),
    ("+212 522 12 34 56", "FR", "+212522123456", None),
    ("0522123456", "MA", "+212522123456", None),
    # Algeria
    ("+213 550 12 34 56", "FR", "+213550123456", None),
    ("0550 12 34 56", "DZ", "+213550123456", None),
    ("021 23 45 67", "DZ", "+21321234567", None),
    # Tunisia
    ("+216 71 234 567", "FR", "+21671234567", None),
    ("71 234 567", "TN", "+21671234567", None),
    ("20 123 456", "TN", "+21620123456", None),
    # Belgium, Switzerland, UK, US
    ("+32 2 550 12 11", "FR", "+3225501211", None),
    ("+32 470 12 34 56", "FR", "+32470123456", None),
    ("+41 22 123 45 67", "FR", "+41221234567", None),
    ("+44 20 7946 0958", "FR", "+442079460958", None),
    ("+1 (212) 555-0199", "FR", "+12125550199", None),
]

INVALID = [
    ("", "empty"),
    ("   ", "empty"),
    ("12", "wrong number of digits"),
    ("0800", "wrong number of digits"),
    ("06 12 34 56 7", "not a number in use"),
    ("06 12 34 56 78 90 12", "wrong number of digits"),
    ("+999 123456", "unknown country code"),
    ("abc", "not a phone number"),
    ("+", "not a phone number"),
    ("00", "too short after the international prefix"),
    ("anonymous", "not a phone number"),
    ("06 12 34 56 78\r\nEvent: AgentConnect", "characters that are not part of a phone number"),
    ("06\x0012345678", "characters that are not part of a phone number"),
    ("06 12 34 56 78<script>", "characters that are not part of a phone number"),
    ("6" * 500, "longer than 64 characters"),
]


# Overseas France written nationally, as in any French file: the territory's own country code, never +33.
OVERSEAS_WRITTEN_IN_FRANCE = [
    ("0692 12 34 56", "+262692123456", "RE"),  # Réunion mobile
    ("06 93 10 12 34", "+262693101234", "RE"),
    ("0262 12 34 56", "+262262123456", "RE"),  # Réunion fixed line
    ("0639 01 23 45", "+262639012345", "YT"),  # Mayotte mobile
    ("0269 61 23 45", "+262269612345", "YT"),  # Mayotte fixed line (FR metadata alone reads +33 2 69…)
    ("0690 12 34 56", "+590690123456", "GP"),  # Guadeloupe mobile
    ("0691 30 12 34", "+590691301234", "GP"),
    ("0590 12 34 56", "+590590123456", "GP"),  # Guadeloupe fixed line
    ("0590 27 12 34", "+590590271234", "BL"),  # Saint-Barthélemy
    ("0590 87 12 34", "+590590871234", "BL"),
    ("0694 12 34 56", "+594694123456", "GF"),  # Guyane mobile
    ("0594 12 34 56", "+594594123456", "GF"),  # Guyane fixed line
    ("0696 12 34 56", "+596696123456", "MQ"),  # Martinique mobile
    ("0697 12 34 56", "+596697123456", "MQ"),
    ("0596 61 23 45", "+596596612345", "MQ"),  # Martinique fixed line (FR metadata alone reads +33 5 96…)
    ("0508 41 23 45", "+508412345", "PM"),  # Saint-Pierre-et-Miquelon: its code after the 0
    ("0508 55 12 34", "+508551234", "PM"),
    ("06.92.12.34.56 poste 12", "+262692123456", "RE"),  # the slow path (an extension) says the same
    # still metropolitan: numbers FR knows as mobiles or non-geographic, and fixed lines no territory has
    ("06 12 34 56 78", "+33612345678", "FR"),
    ("0596 12 34 56", "+33596123456", "FR"),
    ("08 06 12 34 56", "+33806123456", "FR"),
    ("05 56 12 34 56", "+33556123456", "FR"),
    ("01 42 68 53 00", "+33142685300", "FR"),
    # written with +33 or 0033, the writer chose France: not remapped
    ("+33 6 92 12 34 56", None, None),
    ("0033 692 12 34 56", None, None),
]


@pytest.mark.parametrize(("raw", "e164", "where"), OVERSEAS_WRITTEN_IN_FRANCE)
def test_given_an_overseas_number_written_nationally_when_parsed_with_fr_then_its_own_country_code(
    raw: str, e164: str | None, where: str | None
) -> None:
    bulk = Normaliser("FR")
    if e164 is None:
        with pytest.raises(InvalidNumber, match="not a number in use in FR"):
            parse(raw, "FR")
        with pytest.raises(InvalidNumber):
            bulk(raw)
        return
    parsed = parse(raw, "FR")
    assert (parsed.e164, parsed.region) == (e164, where)
    if parsed.extension is None:
        assert bulk(raw).e164 == e164  # the import's fast path agrees


@pytest.mark.parametrize(
    ("raw", "letters"),
    [
        ("06-XX-34-56-78", "'XX'"),
        ("06 12 34 56 7A", "'A'"),
        ("06 12 34 56 78 ext 1a", "'exta'"),
    ],
)
def test_given_letters_in_the_digits_when_parsed_then_the_reason_says_it_holds_letters(
    raw: str, letters: str
) -> None:
    with pytest.raises(InvalidNumber) as info:
        parse(raw, "FR")
    assert info.value.reason.startswith(f"contains letters ({letters})"), info.value.reason


@pytest.mark.parametrize(("raw", "region", "e164", "extension"), VALID)
def test_given_a_real_world_format_when_parsed_then_e164_and_extension(
    raw: str, region: str, e164: str, extension: str | None
) -> None:
    parsed = parse(raw, region)
    assert (parsed.e164, parsed.extension) == (e164, extension)
    assert parsed.suffix_key == e164[-9:]


@pytest.mark.parametrize(("raw", "reason"), INVALID)
def test_given_an_invalid_input_when_parsed_then_a_clear_error_never_a_guess(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        parse(raw, "FR")
    assert reason in info.value.reason


def test_given_the_table_when_counted_then_it_covers_at_least_forty_formats() -> None:
    assert len(VALID) + len(INVALID) >= 40


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("06 12 34 56 78", ("+33612345678", "612345678")),
        ("anonymous", (None, None)),
        ("Restricted", (None, None)),
        ("", (None, None)),
        ("<unknown>", (None, None)),
        ("00661234567", (None, "661234567")),  # unparseable as given, but the last digits still match
        ("1234", (None, None)),  # too few digits to match anyone safely
    ],
)
def test_given_a_caller_id_when_making_lookup_keys_then_exact_and_suffix(raw: str, expected: tuple) -> None:
    assert lookup_keys(raw, "FR") == expected


def test_given_formatted_digits_when_suffix_key_then_only_the_last_nine_digits() -> None:
    assert suffix_key("+33 6 12 34 56 78") == "612345678"


def test_given_many_numbers_when_parsed_fast_then_the_result_is_phonenumbers_own():
    """The fast path (digits and separators) must agree with phonenumbers' generic parse and validation."""
    import random

    from cti.numbers import _fast_parse, _generic_parse, _prepare

    rnd = random.Random(7)
    shapes = [
        ("FR", lambda: "0" + rnd.choice("123456789") + "".join(rnd.choice("0123456789") for _ in range(8))),
        ("FR", lambda: "+33 " + rnd.choice("67") + " " + "".join(rnd.choice("0123456789") for _ in range(8))),
        ("MA", lambda: "0" + rnd.choice("5678") + "".join(rnd.choice("0123456789") for _ in range(8))),
        ("DZ", lambda: "0" + rnd.choice("5679") + "".join(rnd.choice("0123456789") for _ in range(8))),
        ("TN", lambda: "+216" + "".join(rnd.choice("0123456789") for _ in range(8))),
        ("FR", lambda: "+1 " + "".join(rnd.choice("0123456789") for _ in range(10))),
        ("FR", lambda: "+44 7" + "".join(rnd.choice("0123456789") for _ in range(9))),
    ]
    fast_hits = 0
    for _ in range(3000):
        region, make = rnd.choice(shapes)
        raw = make()
        prepared = _prepare(raw)
        fast = _fast_parse(prepared, region)
        try:
            generic = _generic_parse(raw, prepared, region)
        except InvalidNumber:
            generic = None
        if fast is not None:
            fast_hits += 1
            assert generic is not None and fast.e164 == generic.e164, raw
        # when the fast path declines, the generic path decides (and explains)
    assert fast_hits > 500
