"""Reading spreadsheet exports as streams: encoding detection, separator sniffing, XLSX rows.

Shared by the customer import (`app.customer_import`) and the call-list import (`dialer.list_import`).
Everything reads in chunks so memory stays bounded whatever the file size; a file that is not what it
claims (binary, undecodable, truncated) raises `MalformedFile` with a message a person can act on.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from typing import IO, Any

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
    """Decodes a binary stream incrementally; a decoding error names the line it happened on."""

    def __init__(self, stream: IO[bytes], encoding: str) -> None:
        self._stream, self._decoder = stream, codecs.getincrementaldecoder(encoding)(errors="strict")
        self.encoding, self.line, self.bytes_read = encoding, 0, 0
        self.unterminated = False  # the last line had no line break (a cut file, or a lax writer)

    def __iter__(self) -> Iterator[str]:
        pending = ""
        while True:
            chunk = self._stream.read(CHUNK)
            self.bytes_read += len(chunk)
            try:
                text = self._decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                before = pending + chunk[: exc.start].decode(self.encoding, errors="ignore")
                name = "UTF-8" if self.encoding.startswith("utf-8") else self.encoding
                raise MalformedFile(
                    f"line {self.line + before.count(chr(10)) + 1}: bytes that are not {name}; "
                    "choose the file's encoding (UTF-8 or Windows-1252)"
                ) from None
            if "\x00" in text:
                raise MalformedFile("this is not a text file (it contains NUL bytes)")
            pending += text
            lines = pending.split("\n")
            pending = lines.pop()
            for ln in lines:
                self.line += 1
                yield ln + "\n"
            if not chunk:
                if pending:
                    self.line += 1
                    self.unterminated = True
                    yield pending
                return


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
    ) -> None:
        head = stream.read(SNIFF_BYTES)
        if not head.strip(codecs.BOM_UTF8 + b" \r\n\t"):
            raise MalformedFile("the file is empty")
        self._stream = stream
        self.encoding = detect_encoding(head, encoding)
        sample = head.decode(self.encoding, errors="ignore")
        try:
            self.delimiter = sniff_delimiter(sample, delimiter)
        except MalformedFile:
            if not single_column:
                raise
            self.delimiter = ";"  # one column (a list of numbers): no separator to find
        self._lines = Lines(Chain(head, stream), self.encoding)
        self._reader = csv.reader(self._lines, delimiter=self.delimiter, strict=True)
        try:
            self.header = [h.strip() for h in next(self._reader)]
        except StopIteration:
            raise MalformedFile("the file is empty") from None
        except csv.Error as exc:
            raise MalformedFile(f"line 1: {exc}") from None

    @property
    def line(self) -> int:  # type: ignore[override]
        return self._lines.line

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def close(self) -> None:
        self._stream.close()

    def __iter__(self) -> Iterator[list[str]]:
        width = len(self.header)
        try:
            for cells in self._reader:
                if len(cells) > width and any(c.strip() for c in cells[width:]):
                    raise MalformedFile(
                        f"line {self._lines.line}: {len(cells)} columns where the header has {width}"
                    )
                if self._lines.unterminated and len(cells) < width:
                    # A last line that stops mid-row without a line break: the file was cut.
                    raise MalformedFile(
                        f"line {self._lines.line}: the file ends in the middle of a row (truncated?)"
                    )
                yield cells
        except csv.Error as exc:
            raise MalformedFile(f"line {self._lines.line}: {exc} (truncated or badly quoted file?)") from None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a number typed without a leading zero; the number parser decides
    return str(value)


class XlsxTable(Table):
    """The first sheet of a workbook, read with openpyxl's streaming reader. Formulas come as text."""

    def __init__(self, path: str) -> None:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        self._file = open(path, "rb")
        try:
            self._book = openpyxl.load_workbook(self._file, read_only=True, data_only=False)
            self._rows = self._book.worksheets[0].iter_rows(values_only=True)
            first = next(self._rows, None)
        except (
            zipfile.BadZipFile,
            InvalidFileException,
            KeyError,
            OSError,
            ValueError,
            IndexError,
            EOFError,
        ) as exc:
            self._file.close()
            raise MalformedFile(f"this is not a readable XLSX workbook ({type(exc).__name__})") from None
        if first is None:
            raise MalformedFile("the sheet is empty")
        self.header = [_cell(c).strip() for c in first]
        while self.header and not self.header[-1]:
            self.header.pop()
        if not self.header:
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
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
            raise MalformedFile(f"line {self.line}: the workbook is damaged ({type(exc).__name__})") from None
        finally:
            self.close()

    def close(self) -> None:
        self._book.close()
        self._file.close()


def is_xlsx(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04")


def neutralise(cell: str) -> str:
    """A cell made safe for a spreadsheet: text that would start a formula gets a leading quote."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell
