"""Opening a call-list file as a table, its preview for the mapping screen, the checks before an import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.tabular import CsvTable, Limits, Table, is_xlsx
from core.tabular import normalise_header as _norm
from core.tabular_xlsx import XlsxTable
from dialer.list_import.options import AUTO_MAPPING, STANDARD_FIELDS, ImportOptions
from dialer.list_import.rows import ColumnPlan


def open_table(
    path: Path | str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    limits: Limits = Limits(),
) -> Table:
    """A CSV or XLSX file as a table (blocking: a server calls it in a worker thread)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if is_xlsx(head):
        return XlsxTable(str(path), limits)
    stream = open(path, "rb")
    try:
        return CsvTable(stream, encoding=encoding, delimiter=delimiter, limits=limits)
    except BaseException:
        stream.close()
        raise


def preview(
    path: Path | str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    rows: int = 5,
    limits: Limits = Limits(),
) -> dict[str, Any]:
    """The first rows of a file and the mapping the importer would use, for the mapping screen (blocking:
    a server calls it in a worker thread)."""
    table = open_table(path, encoding=encoding, delimiter=delimiter, limits=limits)
    try:
        sample = []
        for cells in table:
            if any(c.strip() for c in cells):
                sample.append([c[:100] for c in cells[: len(table.header)]])
            if len(sample) >= rows:
                break
    finally:
        table.close()
    suggested = {
        h: AUTO_MAPPING.get(_norm(h)) or f"custom:{_norm(h).replace(' ', '_')[:40]}" for h in table.header
    }
    return {
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "header": table.header,
        "rows": sample,
        "suggested": suggested,
        "fields": [*STANDARD_FIELDS, "number", "number:mobile", "number:landline", "number:work", "ignore"],
    }


def check_file(path: Path | str, options: ImportOptions) -> None:
    """What can be known of a file before its import (blocking): it opens as a table within the limits
    (encoding, separator, a workbook's make-up) and its header fits the mapping. Raises MalformedFile or
    MappingError with the reason."""
    table = open_table(path, encoding=options.encoding, delimiter=options.delimiter, limits=options.limits)
    try:
        ColumnPlan.build(table.header, options.mapping, options.keep_unmapped)
    finally:
        table.close()
