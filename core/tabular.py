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
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO

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
