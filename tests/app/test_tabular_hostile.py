"""core/tabular.py against hostile files, without a server: lines capped and never re-split, blank-line
floods counted not yielded, quotes that swallow rows refused at their line, workbooks checked before
openpyxl reads them (bombs, DTDs, bad XML, rows padded to a declared width), openpyxl on defusedxml."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from core.tabular import CsvTable, Limits, MalformedFile
from core.tabular_xlsx import XlsxTable
from tests.app.hostile import files as F


def _csv(text: str, limits: Limits = Limits()) -> CsvTable:
    return CsvTable(io.BytesIO(text.encode()), limits=limits)


def test_given_a_line_longer_than_the_limit_when_read_then_refused_naming_the_line() -> None:
    table = _csv("Nom;Portable\r\n" + "x" * 300_000 + "\r\nA;1\r\n", Limits(max_line_chars=100_000))
    with pytest.raises(MalformedFile, match="line 2: longer than 100,000 characters"):
        list(table)
    with pytest.raises(MalformedFile, match="line 1: longer than 100,000 characters"):
        _csv("y" * 300_000, Limits(max_line_chars=100_000))


def test_given_a_flood_of_blank_lines_when_read_then_they_are_counted_not_yielded() -> None:
    table = _csv("Nom;Portable\r\n" + "\r\n" * 1_000_000 + "\n" * 1000 + "Martin;0612345678\r\n")
    rows = [(cells, table.line) for cells in table]
    assert rows == [(["Martin", "0612345678"], 1_001_002)]


def test_given_a_quoted_cell_with_blank_lines_when_read_then_they_stay_in_the_cell() -> None:
    table = _csv('Nom;Note\r\nA;"x\r\n\r\n\r\ny"\r\nB;z\r\n')
    assert list(table) == [["A", "x\r\n\r\n\r\ny"], ["B", "z"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('A;1\r\n"B;2\r\nC;3\r\nD;4\r\n', "line 3: a quote opened on this line is never closed"),
        ('A;1\r\n"B;2\r\nC;3\r\nD";4\r\nE;5\r\n', "line 3: a quote opens a cell that runs to line 5"),
        ('A;1\r\n"B"x;2\r\n', "line 3"),
    ],
    ids=["never closed", "closed rows later", "text after a closing quote"],
)
def test_given_a_stray_quote_when_read_then_the_file_is_refused_at_the_quotes_line(
    body: str, message: str
) -> None:
    with pytest.raises(MalformedFile, match=message):
        list(_csv("Nom;Portable\r\n" + body))


def test_given_more_cells_than_the_limit_when_read_then_refused() -> None:
    with pytest.raises(MalformedFile, match="line 1: 301 columns; at most 200"):
        _csv(";".join(["c"] * 301) + "\r\n")


def test_given_openpyxl_when_it_parses_xml_then_it_uses_defusedxml() -> None:
    import defusedxml.ElementTree
    import openpyxl.xml.functions

    assert openpyxl.xml.functions.iterparse is defusedxml.ElementTree.iterparse
    assert openpyxl.xml.functions.fromstring is defusedxml.ElementTree.fromstring


@pytest.mark.parametrize(
    ("make", "limits", "message"),
    [
        (F.wide_value, Limits(), "line 1: a value in column XFD; at most 200 columns are read"),
        (lambda p: F.strings_bomb(p, 130), Limits(), "xl/sharedStrings.xml unzips to 130 MiB; at most 128"),
        (lambda p: F.strings_count_bomb(p, 2000), Limits(max_shared_strings=1000), "more than 1,000 shared"),
        (lambda p: F.zip_bomb(p, 40), Limits(max_unzipped_bytes=32 * F.MiB), "the workbook unzips to 40 MiB"),
        (F.dtd, Limits(), "xl/worksheets/sheet1.xml declares a DTD"),
        (F.xxe, Limits(), "xl/sharedStrings.xml declares a DTD"),
        (F.laughs, Limits(), "xl/workbook.xml declares a DTD"),
        (F.bad_xml, Limits(), "its XML is malformed"),
        (F.empty_sheet, Limits(), "the sheet is empty"),
        (F.not_a_zip, Limits(), "not a readable XLSX workbook"),
    ],
    ids=[
        "wide value",
        "strings bytes",
        "strings count",
        "zip bomb",
        "dtd",
        "xxe",
        "laughs",
        "bad xml",
        "empty",
        "zip",
    ],
)
def test_given_a_hostile_workbook_when_opened_then_refused_naming_the_problem(
    tmp_path: Path,
    make: Callable[[Path], Path],
    limits: Limits,
    message: str,
) -> None:
    path = make(tmp_path / "hostile.xlsx")
    with pytest.raises(MalformedFile, match=message):
        list(XlsxTable(str(path), limits))


def test_given_a_sheet_declaring_16384_columns_when_read_then_rows_are_built_as_wide_as_their_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    built: list[int] = []  # the width of each row openpyxl builds (it padded them to the declared 16,384)
    original = ReadOnlyWorksheet._get_row

    def spy(self, row, *args):  # type: ignore[no-untyped-def]
        out = original(self, row, *args)
        built.append(len(out))
        return out

    monkeypatch.setattr(ReadOnlyWorksheet, "_get_row", spy)
    table = XlsxTable(str(F.wide_dimension(tmp_path / "wide.xlsx", rows=50)))
    rows = list(table)
    assert table.header == ["Nom", "Portable"] and len(rows) == 50 and rows[0] == ["Client 0", "0600000000"]
    assert set(built) == {2}
