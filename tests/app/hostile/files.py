"""Hostile input files, generated (streamed to disk, never committed): floods, bombs, broken XML, quotes.

Each workbook is written part by part with zipfile, so a test controls every byte openpyxl would read;
large parts are deflated as a stream (a 1 GiB part costs a few megabytes on disk and a second or two).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

MiB = 2**20
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADER = "Nom;Portable"

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
STRINGS_TYPE = (
    '<Override PartName="/xl/sharedStrings.xml"'
    ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml"'
    ' Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    "</Relationships>"
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<workbook xmlns="{NS}"'
    ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Liste" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml"'
    ' Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
    '<Relationship Id="rId2" Target="sharedStrings.xml"'
    ' Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>'
    "</Relationships>"
)
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _row(n: int, cells: Iterable[str]) -> str:
    return f'<row r="{n}">{"".join(cells)}</row>'


def sheet(rows: Iterable[str], *, dimension: str = "", prolog: str = "") -> Iterable[bytes]:
    yield (XML_HEAD + prolog + f'<worksheet xmlns="{NS}">').encode()
    if dimension:
        yield f'<dimension ref="{dimension}"/>'.encode()
    yield b"<sheetData>"
    batch: list[str] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= 1000:
            yield "".join(batch).encode()
            batch = []
    yield ("".join(batch) + "</sheetData></worksheet>").encode()


def lead_rows(n: int, first_row: int = 2) -> Iterable[str]:
    for i in range(n):
        r = first_row + i
        yield _row(r, [_inline(f"A{r}", f"Client {i}"), _inline(f"B{r}", f"06{i % 100_000_000:08d}")])


HEADER_ROW = _row(1, [_inline("A1", "Nom"), _inline("B1", "Portable")])


def workbook(
    path: Path,
    sheet_xml: Iterable[bytes],
    *,
    strings: Iterable[bytes] | None = None,
    workbook_xml: str = WORKBOOK,
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        types = (
            CONTENT_TYPES if strings is None else CONTENT_TYPES.replace("</Types>", STRINGS_TYPE + "</Types>")
        )
        z.writestr("[Content_Types].xml", types)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", workbook_xml)
        z.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            for part in sheet_xml:
                out.write(part)
        if strings is not None:
            with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
                for part in strings:
                    out.write(part)
    return path


def _repeat(piece: bytes, size: int) -> Iterable[bytes]:
    block = piece * max(1, MiB // len(piece))
    for _ in range(size // len(block)):
        yield block


# --- CSV --------------------------------------------------------------------------------------------


def blank_flood(path: Path, mb: int, *, rows_after: int = 1) -> Path:
    """A header, `mb` MiB of blank lines, then a few real rows (Excel's "empty" rows saved as CSV)."""
    with open(path, "wb") as f:
        f.write(f"{HEADER}\r\n".encode())
        for block in _repeat(b"\r\n", mb * MiB):
            f.write(block)
        for i in range(rows_after):
            f.write(f"Martin {i};06{12_000_000 + i:08d}\r\n".encode())
    return path


def blank_only(path: Path, mb: int) -> Path:
    with open(path, "wb") as f:
        for block in _repeat(b"\n", mb * MiB):
            f.write(block)
    return path


def single_line(path: Path, mb: int) -> Path:
    """`mb` MiB without a line break (a dump that is not a table)."""
    with open(path, "wb") as f:
        f.write(b"Nom;Portable;")
        for block in _repeat(b"x;0612345678;", mb * MiB):
            f.write(block)
    return path


def long_line_after_header(path: Path, mb: int) -> Path:
    with open(path, "wb") as f:
        f.write(f"{HEADER}\r\n".encode())
        for block in _repeat(b"y", mb * MiB):
            f.write(block)
    return path


def stray_quote(path: Path, rows: int = 60, at: int = 3, *, header: str = HEADER) -> Path:
    """`rows` data rows; the one on file line `at` opens a quote it never closes (Excel: `"Dupont`)."""
    lines = [header]
    for i in range(rows):
        name = f"Client {i}"
        if len(lines) + 1 == at:
            name = '"' + name
        lines.append(f"{name};06{34_000_000 + i:08d}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


# --- XLSX -------------------------------------------------------------------------------------------


def wide_dimension(path: Path, rows: int = 20_000) -> Path:
    """1-2 KB on disk, a sheet that declares columns up to XFD (16,384) on every row: legitimate data."""
    return workbook(path, sheet([HEADER_ROW, *lead_rows(rows)], dimension=f"A1:XFD{rows + 1}"))


def wide_value(path: Path) -> Path:
    """A header with a value in column XFD: a row 16,384 cells wide."""
    header = _row(1, [_inline("A1", "Nom"), _inline("B1", "Portable"), _inline("XFD1", "far away")])
    return workbook(path, sheet([header, *lead_rows(10)]))


def strings_bomb(path: Path, mb: int) -> Path:
    """A shared-strings part of `mb` MiB unzipped (a megabyte or so zipped)."""
    head = (XML_HEAD + f'<sst xmlns="{NS}">').encode()

    def parts() -> Iterable[bytes]:
        yield head
        yield from _repeat(b"<si><t>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</t></si>", mb * MiB)
        yield b"</sst>"

    return workbook(path, sheet([HEADER_ROW, *lead_rows(3)]), strings=parts())


def strings_count_bomb(path: Path, count: int) -> Path:
    """`count` tiny shared strings: small in bytes, many in number (each one a Python object)."""
    head = (XML_HEAD + f'<sst xmlns="{NS}">').encode()

    def parts() -> Iterable[bytes]:
        yield head
        for start in range(0, count, 10_000):
            yield b"".join(b"<si><t>%d</t></si>" % i for i in range(start, min(count, start + 10_000)))
        yield b"</sst>"

    return workbook(path, sheet([HEADER_ROW, *lead_rows(3)]), strings=parts())


def zip_bomb(path: Path, mb: int) -> Path:
    """A sheet of `mb` MiB unzipped: a header row, then empty rows."""

    def parts() -> Iterable[bytes]:
        yield (XML_HEAD + f'<worksheet xmlns="{NS}"><sheetData>' + HEADER_ROW).encode()
        yield from _repeat(b"<row/>", mb * MiB)
        yield b"</sheetData></worksheet>"

    return workbook(path, parts())


def dtd(path: Path) -> Path:
    return workbook(
        path, sheet([HEADER_ROW, *lead_rows(3)], prolog="<!DOCTYPE worksheet [<!ELEMENT worksheet ANY>]>")
    )


def xxe(path: Path) -> Path:
    """An external entity in the shared strings, used by a cell (it would read /etc/passwd)."""
    strings = (
        XML_HEAD + '<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f'<sst xmlns="{NS}"><si><t>&xxe;</t></si></sst>'
    ).encode()
    rows = [HEADER_ROW, _row(2, ['<c r="A2" t="s"><v>0</v></c>', _inline("B2", "0612345678")])]
    return workbook(path, sheet(rows), strings=[strings])


def laughs(path: Path) -> Path:
    """The billion laughs in workbook.xml."""
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10)
    )
    wb = WORKBOOK.replace(XML_HEAD, XML_HEAD + f"<!DOCTYPE workbook [{entities}]>").replace(
        'name="Liste"', 'name="&lol9;"'
    )
    return workbook(path, sheet([HEADER_ROW]), workbook_xml=wb)


def bad_xml(path: Path) -> Path:
    rows = [HEADER_ROW, '<row r="2"><c r="A2" t="inlineStr"><is><t>Martin</is></c></row>']
    return workbook(path, sheet(rows))


def empty_sheet(path: Path) -> Path:
    return workbook(path, sheet([]))


def not_a_zip(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    return path
