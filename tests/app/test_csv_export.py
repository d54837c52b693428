"""CSV export (app/csv_export.py): formula cells neutralised, dialect per language."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from app.csv_export import cell, neutralise, to_csv


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+33 6 12 34 56 78", "'+33 6 12 34 56 78"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Dupont = client", "Dupont = client"),  # only the first character matters
        ("Hélène", "Hélène"),
        ("", ""),
    ],
)
def test_given_a_text_cell_when_neutralised_then_a_spreadsheet_cannot_evaluate_it(
    raw: str, expected: str
) -> None:
    assert neutralise(raw) == expected


@pytest.mark.parametrize(
    ("value", "lang", "expected"),
    [
        (None, "fr", ""),
        (12, "fr", "12"),
        (-3, "fr", "-3"),  # numbers we produce stay numbers
        (12.5, "fr", "12,5"),
        (12.5, "en", "12.5"),
        (True, "en", "1"),
        (datetime(2026, 3, 10, 9, 0, tzinfo=UTC), "fr", "2026-03-10T09:00:00+00:00"),
        ("-1", "fr", "'-1"),  # but text that looks like one does not
    ],
)
def test_given_a_value_when_written_then_it_is_formatted_for_the_language(
    value: object, lang: str, expected: str
) -> None:
    assert cell(value, lang) == expected


@pytest.mark.parametrize(("lang", "sep"), [("fr", ";"), ("en", ",")])
def test_given_rows_when_exported_then_every_cell_reads_back_with_the_bom_and_separator(
    lang: str, sep: str
) -> None:
    text = to_csv(["queue", "=name"], [["support; niveau 1", "=cmd|' /C calc'!A0"], ["x\ny", 1.5]], lang)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=sep))
    assert rows == [
        ["queue", "'=name"],
        ["support; niveau 1", "'=cmd|' /C calc'!A0"],
        ["x\ny", "1,5" if lang == "fr" else "1.5"],
    ]
