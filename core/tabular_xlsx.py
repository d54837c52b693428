"""Reading an XLSX workbook as a stream of rows, bounded: its unzipped size, its shared strings and each XML
part read whole are capped by `Limits`, a DTD is refused in any part, and openpyxl parses with defusedxml.
The CSV side and what both share (`Table`, `Limits`, `MalformedFile`) are core/tabular.py's."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from typing import IO, Any
from xml.etree.ElementTree import ParseError

from core.tabular import (
    MAX_PROLOG,
    MAX_ROW_XML,
    MAX_STRINGS_PART,
    MAX_XML_PART,
    Limits,
    MalformedFile,
    Table,
)


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
