"""The import report: a CSV of the summary and the rejected lines, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from core.tabular import neutralise

REPORT_HEADER = ["line", "kind", "reason"]


def report_head(summary: dict[str, Any]) -> str:
    """The top of the import report: BOM (for Excel), summary lines, then the reject column names."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    buf.write("\ufeff")
    for key in (
        "filename",
        "status",
        "rows",
        "accepted",
        "duplicates",
        "dnc",
        "no_consent",
        "invalid",
        "erased",
        "error",
    ):
        value = summary.get(key)
        w.writerow([f"# {key}", neutralise("" if value is None else str(value))])
    w.writerow(REPORT_HEADER)
    return buf.getvalue()


def report_rows(rejects: Iterable[tuple[int, str, str]]) -> str:
    """Reject lines of the report; a reason quoting a cell cannot start a formula in a spreadsheet."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    for line, kind, reason in rejects:
        w.writerow([line, neutralise(kind), neutralise(reason)])
    return buf.getvalue()
