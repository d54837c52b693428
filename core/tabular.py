"""Reading spreadsheet exports as streams: encoding detection, separator sniffing, XLSX rows.

Shared by the customer import (`app.customer_import`) and the call-list import (`dialer.list_import`).
Everything reads in chunks so memory stays bounded whatever the file size; a file that is not what it
claims (binary, undecodable, truncated, badly quoted, a zip or XML bomb) raises `MalformedFile` with a
message a person can act on. `Limits` caps what one file may cost: the length of a line, the width of a row,
and for a workbook its unzipped size, its shared strings and the size of each XML part read whole; every
XML part of a workbook is refused if it declares a DTD, and openpyxl parses with defusedxml.

A server reads a table through `row_batches`: the reading (decoding, splitting, unzipping, XML) runs in a
worker thread a batch at a time, so no file, however its lines are made, holds the event loop.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO, Any
from xml.etree.ElementTree import ParseError

SNIFF_BYTES = 64 * 1024
CHUNK = 256 * 1024
ENCODINGS = {
    "utf-8": "utf-8-sig",
    "utf8": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "iso-8859-15": "iso-8859-15",
}
_BINARY = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f]")  # never in a text export (ESC and FF aside)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_XML_PART = 16 * 2**20  # a workbook part openpyxl parses whole (styles, workbook, relations)
MAX_STRINGS_PART = 128 * 2**20  # the shared-strings part, parsed as a stream
MAX_ROW_XML = 2**20  # one worksheet row's XML, which the parser builds whole before it is read
MAX_PROLOG = 64 * 1024  # what may come before an XML part's root element


@dataclass(frozen=True)
class Limits:
    """What one file may cost to read (`PLATEAU_MAX_*` settings on the server)."""

    max_line_chars: int = 2**20  # a CSV line, before the separator splits it
    max_columns: int = 200  # cells in a row (CSV) or columns read (XLSX)
    max_unzipped_bytes: int = 2**30  # a workbook's parts, unzipped, all together
    max_shared_strings: int = 1_000_000  # a workbook's shared-strings table


class MalformedFile(ValueError):
    """The file as a whole cannot be imported; nothing was written."""


def normalise_header(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def detect_encoding(head: bytes, declared: str | None = None) -> str:
    """`declared` when given (UTF-8 always tolerates a BOM), else UTF-8 if the head decodes, else cp1252."""
    if declared:
        try:
            codecs.lookup(declared)
        except LookupError:
            raise MalformedFile(f"unknown encoding {declared!r}") from None
        return ENCODINGS.get(declared.lower().replace("_", "-"), declared)
    if b"\x00" in head:
        raise MalformedFile("this is not a text file (it contains NUL bytes): export the sheet as CSV")
    if _BINARY.search(head):
        raise MalformedFile("this is not a text file (it contains control bytes): export the sheet as CSV")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the sniff window, not bad UTF-8
            return "utf-8-sig"
    return "cp1252"


def sniff_delimiter(sample: str, declared: str | None = None) -> str:
    if declared:
        if declared in ("\\t", "tab"):
            return "\t"
        if len(declared) != 1:
            raise MalformedFile("the separator must be one character")
        return declared
    first = sample.splitlines()[0] if sample else ""
    counts = {d: first.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        try:
            return csv.Sniffer().sniff(sample, delimiters=";,\t").delimiter
        except csv.Error:
            raise MalformedFile(
                "cannot tell the separator: expected ';', ',' or tab between columns"
            ) from None
    return best


class Lines:
    """Decodes a binary stream incrementally; a decoding error names the line it happened on.

    Linear in the file whatever its lines: each chunk is split once, a line longer than a chunk is kept as
    pieces, and one longer than `max_chars` stops the read (a file with no line breaks is not a table).
    Blank lines between rows are counted but not yielded: a flood of them costs next to nothing."""

    def __init__(self, stream: IO[bytes], encoding: str, max_chars: int = Limits.max_line_chars) -> None:
        self._stream, self._decoder = stream, codecs.getincrementaldecoder(encoding)(errors="strict")
        self.encoding, self.line, self.bytes_read = encoding, 0, 0
        self.max_chars = max_chars
        self.unterminated = False  # the last line had no line break (a cut file, or a lax writer)

    def _too_long(self) -> MalformedFile:
        return MalformedFile(
            f"line {self.line + 1}: longer than {self.max_chars:,} characters"
            " (is it a table? a line break may be missing)"
        )

    def __iter__(self) -> Iterator[str]:
        pending: list[str] = []  # pieces of the line not finished yet
        size = 0
        # Inside a quoted cell (an odd number of quotes so far): there a blank line is part of the cell.
        # Outside, blank lines are skipped here (they are counted), not handed to the reader one by one.
        quoted = False
        while True:
            chunk = self._stream.read(CHUNK)
            self.bytes_read += len(chunk)
            try:
                text = self._decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                before = "".join(pending) + chunk[: exc.start].decode(self.encoding, errors="ignore")
                name = "UTF-8" if self.encoding.startswith("utf-8") else self.encoding
                raise MalformedFile(
                    f"line {self.line + before.count(chr(10)) + 1}: bytes that are not {name}; "
                    "choose the file's encoding (UTF-8 or Windows-1252)"
                ) from None
            if "\x00" in text:
                raise MalformedFile("this is not a text file (it contains NUL bytes)")
            if chunk and not pending and not quoted and not text.strip("\r\n"):
                self.line += text.count("\n")  # a flood of blank lines: counted, not split
                continue
            lines = text.split("\n")
            tail = lines.pop()
            if lines:
                if pending:
                    pending.append(lines[0])
                    lines[0] = "".join(pending)
                    pending, size = [], 0
                    if len(lines[0]) > self.max_chars:
                        raise self._too_long()
                for ln in lines:
                    self.line += 1
                    if not quoted and (not ln or ln == "\r"):
                        continue  # a blank line between rows, which the reader would give as []
                    if '"' in ln and ln.count('"') % 2:
                        quoted = not quoted
                    yield ln + "\n"
            if tail:
                pending.append(tail)
                size += len(tail)
                if size > self.max_chars:
                    raise self._too_long()
            if not chunk:
                if pending:
                    self.line += 1
                    self.unterminated = True
                    yield "".join(pending)
                return


def check_record(cells: list[str], first: int, last: int, delimiter: str) -> None:
    """A CSV record read from lines `first`..`last`: refused when a quote swallowed the lines after it.

    A quoted cell may hold a line break; one holding a line break *and* the separator is rows taken in by
    a stray `"` (each line it swallowed would otherwise be dropped as one bad row, or silently)."""
    if last > first and any("\n" in c and delimiter in c for c in cells):
        raise MalformedFile(
            f"line {first}: a quote opens a cell that runs to line {last}, taking {last - first} line(s)"
            " with it (a stray '\"'?): remove or close the quote"
        )


def quote_error(exc: csv.Error, first: int, last: int) -> MalformedFile:
    """csv's own error for a record that started on line `first`, as a message naming the line."""
    if "unexpected end of data" in str(exc):
        return MalformedFile(
            f"line {first}: a quote opened on this line is never closed, the file ends inside it"
            f" ({last - first + 1} line(s) taken in; a stray '\"'?)"
        )
    where = f"line {first}" if last <= first else f"line {first} (read up to line {last})"
    return MalformedFile(f"{where}: {exc} (a stray or unclosed '\"'?)")


class Chain(io.RawIOBase):
    """The sniffed head followed by the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = (
                (self._head, b"") if n < 0 or n >= len(self._head) else (self._head[:n], self._head[n:])
            )
            return out
        return self._rest.read(n)


class Table:
    """Rows of a CSV or XLSX file as lists of strings: `header`, then iterate; `line` is the file line."""

    header: list[str]
    line: int
    encoding: str = ""
    delimiter: str = ""

    def __iter__(self) -> Iterator[list[str]]:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def bytes_read(self) -> int:
        return 0

    def close(self) -> None:
        """Release the file (idempotent)."""


class CsvTable(Table):
    def __init__(
        self,
        stream: IO[bytes],
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        single_column: bool = True,
        limits: Limits = Limits(),
    ) -> None:
        head = stream.read(SNIFF_BYTES)
        if not head.strip(codecs.BOM_UTF8 + b" \r\n\t"):
            raise MalformedFile("the file is empty")
        self._stream = stream
        self._limits = limits
        self.encoding = detect_encoding(head, encoding)
        sample = head.decode(self.encoding, errors="ignore")
        try:
            self.delimiter = sniff_delimiter(sample, delimiter)
        except MalformedFile:
            if not single_column:
                raise
            self.delimiter = ";"  # one column (a list of numbers): no separator to find
        self._lines = Lines(Chain(head, stream), self.encoding, limits.max_line_chars)
        self._reader = csv.reader(self._lines, delimiter=self.delimiter, strict=True)
        try:
            self.header = [h.strip() for h in next(self._reader)]
        except StopIteration:
            raise MalformedFile("the file is empty") from None
        except csv.Error as exc:
            raise quote_error(exc, 1, self._lines.line) from None
        check_record(self.header, 1, self._lines.line, self.delimiter)
        if len(self.header) > limits.max_columns:
            raise MalformedFile(f"line 1: {len(self.header)} columns; at most {limits.max_columns}")

    @property
    def line(self) -> int:  # type: ignore[override]
        return self._lines.line

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def close(self) -> None:
        self._stream.close()

    def __iter__(self) -> Iterator[list[str]]:
        width, most, lines = len(self.header), self._limits.max_columns, self._lines
        last = lines.line
        try:
            for cells in self._reader:
                first, last = last + 1, lines.line
                if last > first:
                    check_record(cells, first, last, self.delimiter)
                if len(cells) > width and any(c.strip() for c in cells[width:]):
                    raise MalformedFile(f"line {last}: {len(cells)} columns where the header has {width}")
                if len(cells) > most:
                    raise MalformedFile(f"line {last}: {len(cells)} columns; at most {most}")
                if lines.unterminated and len(cells) < width:
                    # A last line that stops mid-row without a line break: the file was cut.
                    raise MalformedFile(f"line {last}: the file ends in the middle of a row (truncated?)")
                yield cells
        except csv.Error as exc:
            raise quote_error(exc, last + 1, lines.line) from None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a number typed without a leading zero; the number parser decides
    return str(value)


def _malformed_cause(exc: BaseException) -> MalformedFile | None:
    """Our own refusal, when openpyxl wrapped it in its "Unable to read workbook" ValueError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MalformedFile):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _xml_problem(exc: BaseException) -> str | None:
    """What is wrong with a workbook's XML, in words, or None when `exc` is not about its XML."""
    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DTDForbidden):
            return "its XML declares a DTD, which is refused"
        if isinstance(seen, EntitiesForbidden):
            return "its XML declares an entity, which is refused"
        if isinstance(seen, ExternalReferenceForbidden):
            return "its XML refers to an external resource, which is refused"
        if isinstance(seen, ParseError):
            return f"its XML is malformed ({seen})"
        seen = seen.__cause__ or seen.__context__
    return None


class _XmlPart(io.RawIOBase):
    """A workbook part as openpyxl reads it: its prolog checked for a DTD first, and for a worksheet each
    row's XML bounded (the parser builds a row whole before anything can look at it)."""

    _ROOT = re.compile(rb"<[A-Za-z_]")

    def __init__(self, raw: IO[bytes], name: str, sheet: bool) -> None:
        self._raw, self.name, self._sheet = raw, name, sheet
        self._head: bytes | None = b""  # None once the root element was seen
        self._since_row = 0
        self._tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if self._head is not None:
            self._prolog(data)
        if self._sheet and data:
            self._rows(data)
        return data

    def _prolog(self, data: bytes) -> None:
        assert self._head is not None
        head = self._head + data
        text = head
        if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:2] in (b"<\x00", b"\x00<"):
            encoding = (
                "utf-16"
                if head[:2] in (b"\xff\xfe", b"\xfe\xff")
                else ("utf-16-le" if head[:1] == b"<" else "utf-16-be")
            )
            text = head.decode(encoding, errors="ignore").encode("utf-8", errors="ignore")
        root = self._ROOT.search(text)
        prolog = text[: root.start()] if root else text
        if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
            raise MalformedFile(
                f"{self.name} declares a DTD (<!DOCTYPE>), which a workbook never needs: refused"
            )
        if root:
            self._head = None
        elif len(head) > MAX_PROLOG or not data:
            if data:
                raise MalformedFile(f"{self.name}: no XML element in its first {MAX_PROLOG // 1024} KiB")
            self._head = None  # an empty part: the parser says what is wrong with it
        else:
            self._head = head

    def _rows(self, data: bytes) -> None:
        seen = self._tail + data
        mark = max(seen.rfind(b"<row"), seen.rfind(b":row"))
        self._since_row = len(seen) - mark if mark >= 0 else self._since_row + len(data)
        self._tail = seen[-4:]
        if self._since_row > MAX_ROW_XML:
            raise MalformedFile(
                f"{self.name}: a row holds more than {MAX_ROW_XML // 2**20} MiB of XML (a sheet padded to"
                " thousands of columns?)"
            )

    def close(self) -> None:
        self._raw.close()
        super().close()


class _Workbook(zipfile.ZipFile):
    """The archive, checked before openpyxl reads it: its unzipped size, then each part's as it is opened."""

    def __init__(self, file: IO[bytes], limits: Limits) -> None:
        super().__init__(file)
        self.limits = limits
        infos = self.infolist()
        total = sum(i.file_size for i in infos)
        if total > limits.max_unzipped_bytes:
            raise MalformedFile(
                f"the workbook unzips to {total / 2**20:,.0f} MiB; at most"
                f" {limits.max_unzipped_bytes / 2**20:,.0f} MiB (a zip bomb, or save it as CSV)"
            )

    def open(self, name: Any, mode: str = "r", pwd: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        raw = super().open(name, mode, pwd, **kwargs)
        if mode != "r":
            return raw
        part = raw.name
        sheet = part.startswith("xl/worksheets/")
        if part.endswith("sharedStrings.xml"):
            cap = MAX_STRINGS_PART
        elif sheet:
            cap = self.limits.max_unzipped_bytes
        else:
            cap = MAX_XML_PART
        size = self.getinfo(part).file_size
        if size > cap:
            raw.close()
            raise MalformedFile(
                f"{part} unzips to {size / 2**20:,.0f} MiB; at most {cap / 2**20:,.0f} MiB (a zip bomb?)"
            )
        if part.endswith((".xml", ".rels")):
            return _XmlPart(raw, part, sheet)
        return raw


def _load_workbook(file: IO[bytes], limits: Limits) -> Any:
    """openpyxl's read-only workbook over the checked archive, with a bounded shared-strings table."""
    from openpyxl import DEFUSEDXML
    from openpyxl.cell.text import Text
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse  # defusedxml's (tests/app/hostile checks it)

    if not DEFUSEDXML:  # defusedxml missing, or OPENPYXL_DEFUSEDXML=False
        raise MalformedFile("workbooks are refused here: openpyxl runs without defusedxml; send a CSV")
    tag, plain = f"{{{SHEET_MAIN_NS}}}si", f"{{{SHEET_MAIN_NS}}}t"

    def strings(src: IO[bytes]) -> list[str]:
        out: list[str] = []
        root = None
        for event, node in iterparse(src, events=("start", "end")):
            if root is None:
                root = node
            elif event == "end" and node.tag == tag:
                if len(node) == 1 and node[0].tag == plain:  # plain text, most strings: a third faster
                    text = node[0].text or ""
                else:  # rich text runs, phonetic hints
                    text = Text.from_tree(node).content
                out.append(text.replace("x005F_", "") if "x005F_" in text else text)
                root.clear()  # what was read goes, so the tree never holds the table
                if len(out) > limits.max_shared_strings:
                    raise MalformedFile(
                        f"the workbook holds more than {limits.max_shared_strings:,} shared strings"
                        " (a bomb, or save it as CSV)"
                    )
        return out

    class Reader(ExcelReader):  # type: ignore[misc]
        def read_strings(self) -> None:
            ct = self.package.find(SHARED_STRINGS)
            if ct is not None:
                with self.archive.open(ct.PartName[1:]) as src:
                    self.shared_strings = strings(src)

    archive = _Workbook(file, limits)
    file.seek(0)
    reader = Reader(file, read_only=True, keep_links=False)
    reader.archive, reader.valid_files = archive, archive.namelist()
    reader.read()
    return reader.wb


def _bounded_row(get_row: Callable[..., Any], most: int, row: list[dict[str, Any]], *args: Any) -> Any:
    """openpyxl's row builder, given only the cells of the first `most` columns: a row is as wide as its
    cells, not as the sheet's declared dimension, and a value further right is refused."""
    if row and row[-1]["column"] > most:
        far = [c for c in row if c["column"] > most and c["value"] not in (None, "")]
        if far:
            from openpyxl.utils import get_column_letter

            raise MalformedFile(
                f"line {far[0]['row']}: a value in column {get_column_letter(far[0]['column'])};"
                f" at most {most} columns are read"
            )
        row = [c for c in row if c["column"] <= most]
    return get_row(row, *args)


_XLSX_ERRORS = (
    zipfile.BadZipFile,
    KeyError,
    OSError,
    ValueError,
    IndexError,
    EOFError,
    ParseError,
    TypeError,
    AttributeError,
)


class XlsxTable(Table):
    """The first sheet of a workbook, read with openpyxl's streaming reader. Formulas come as text."""

    def __init__(self, path: str, limits: Limits = Limits()) -> None:
        from openpyxl.utils.exceptions import InvalidFileException

        self._file = open(path, "rb")
        self._book: Any = None
        try:
            self._book = _load_workbook(self._file, limits)
            if not self._book.worksheets:
                raise MalformedFile("the workbook has no worksheet")
            sheet = self._book.worksheets[0]
            sheet.reset_dimensions()  # rows as wide as their cells, whatever width the sheet declares
            sheet._get_row = partial(_bounded_row, sheet._get_row, limits.max_columns)
            self._rows = sheet.iter_rows(values_only=True)
            first = next(self._rows, None)
        except (*_XLSX_ERRORS, InvalidFileException) as exc:
            self.close()
            own = _malformed_cause(exc)
            if own is not None:
                raise MalformedFile(str(own)) from None
            problem = _xml_problem(exc)
            if problem is not None:
                raise MalformedFile(f"this workbook cannot be read: {problem}") from None
            raise MalformedFile(f"this is not a readable XLSX workbook ({type(exc).__name__})") from None
        except BaseException:
            self.close()
            raise
        if first is None:
            self.close()
            raise MalformedFile("the sheet is empty")
        self.header = [_cell(c).strip() for c in first]
        while self.header and not self.header[-1]:
            self.header.pop()
        if not self.header:
            self.close()
            raise MalformedFile("the first row holds no column names")
        self.line = 1
        self.encoding, self.delimiter = "xlsx", ""

    def __iter__(self) -> Iterator[list[str]]:
        width = len(self.header)
        try:
            for row in self._rows:
                self.line += 1
                cells = [_cell(c) for c in row]
                if len(cells) > width and any(c.strip() for c in cells[width:]):
                    raise MalformedFile(f"line {self.line}: a value outside the named columns")
                yield cells[:width]
        except MalformedFile:
            raise
        except _XLSX_ERRORS as exc:
            problem = _xml_problem(exc) or f"the workbook is damaged ({type(exc).__name__})"
            raise MalformedFile(f"line {self.line}: {problem}") from None
        finally:
            self.close()

    def close(self) -> None:
        if self._book is not None:
            self._book.close()
        self._file.close()


async def row_batches(table: Table, size: int = 500) -> AsyncIterator[list[tuple[int, list[str]]]]:
    """The table's non-blank rows with their line numbers, `size` at a time, each batch read in a worker
    thread: decoding, splitting, unzipping and XML never hold the event loop, nor do blank lines."""
    rows = iter(table)

    def take() -> list[tuple[int, list[str]]]:
        out: list[tuple[int, list[str]]] = []
        for cells in rows:
            if any(c.strip() for c in cells):
                out.append((table.line, cells))
                if len(out) >= size:
                    break
        return out

    while batch := await asyncio.to_thread(take):
        yield batch


def is_xlsx(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04")


def neutralise(cell: str) -> str:
    """A cell made safe for a spreadsheet: text that would start a formula gets a leading quote."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell
