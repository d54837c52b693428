"""CSV export, the one helper every export in Plateau uses.

Spreadsheets execute a cell that starts with `=`, `+`, `-` or `@` (and, in some, TAB or CR) as a formula:
a caller name such as `=HYPERLINK(...)` or `@SUM(...)` typed into a CRM would run on a manager's PC
(CSV/formula injection, OWASP). Every text cell is neutralised by prefixing a single quote, which
spreadsheets show as text; numbers we format ourselves are left alone. The dialect follows the reader's
language the way Excel expects it: `;` and a decimal comma in French, `,` and a point in English, UTF-8
with a BOM so that accents survive Excel.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from babel.numbers import format_decimal
from fastapi.responses import Response

# The rule itself lives with the spreadsheet reading code, so that import and export cannot drift apart.
from core.tabular import FORMULA_PREFIXES, neutralise

__all__ = ["FORMULA_PREFIXES", "cell", "csv_response", "neutralise", "to_csv"]
BOM = "\ufeff"


def cell(value: Any, lang: str = "fr") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_decimal(round(value, 3), "0.###", locale=lang)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return neutralise(str(value))


def delimiter(lang: str) -> str:
    return "," if lang == "en" else ";"


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], lang: str = "fr") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter(lang), lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow([neutralise(h) for h in header])
    for row in rows:
        w.writerow([cell(v, lang) for v in row])
    return BOM + buf.getvalue()


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]], lang: str = "fr"
) -> Response:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename) or "export.csv"
    return Response(
        to_csv(header, rows, lang).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(safe)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
