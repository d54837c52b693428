"""What every report route shares: the period a query asks for, and the answer as JSON or CSV."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Request

from app import kpi, reporting
from app.csv_export import csv_response
from app.deps import state_of
from core.models import utcnow

CSV_CONTENT = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
Format = Literal["json", "csv"]


def report_period(
    request: Request, since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    """Default: today in the centre's time zone. A refused bound is a PeriodError naming the parameter
    (422 by app/errors.py), never a 500."""
    zone = state_of(request).settings.timezone
    now = utcnow()
    if since is None and until is None:
        return kpi.window_bounds(kpi.Window.today, now, zone)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=ZoneInfo(zone))
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=ZoneInfo(zone))
    check_instants(since=since, until=until)
    until = until or now
    since = since or until - timedelta(days=1)
    reporting.check_period(since, until)
    return since, until


def check_instants(**instants: datetime | None) -> None:
    """Each given bound is an instant reports can hold (PeriodError naming the first that is not)."""
    for field, value in instants.items():
        if value is not None:
            reporting.check_instant(value, field)


def csv_or_json(fmt: str, name: str, rows: list[Any], lang: str) -> Any:
    if fmt != "csv":
        return rows
    fields = list(type(rows[0]).model_fields) if rows else []
    flat = []
    for r in rows:
        d = r.model_dump()
        flat.append(
            ["; ".join(f"{k}={v:g}" for k, v in x.items()) if isinstance(x, dict) else x for x in d.values()]
        )
    return csv_response(name, fields, flat, lang)
