"""The opening-hours page (/admin/hours, admins): the schedules IVR flows name, one form each. The page
reads; its forms write through /api/v1/hours (web/static/js/api_form.js), so the page and the API share
app/business_hours.py's schema, errors and audit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app import business_hours
from app.security import Identity, get_db
from app.web.pages import page, roles
from cti.ivr.hours import DAYS, Schedule

router = APIRouter(include_in_schema=False)


def exceptions_text(schedule: Schedule) -> str:
    """The exceptions as the form's textarea shows them: `date; hours; reason`, one a line."""
    return "\n".join(f"{e.date.isoformat()}; {', '.join(e.hours)}; {e.reason}" for e in schedule.exceptions)


def _form(row: Any) -> dict[str, Any]:
    schedule = Schedule.model_validate(row.schedule)
    return {
        "id": row.id,
        "name": row.name,
        "schedule": schedule,
        "days": {d: ", ".join(schedule.weekly.get(d, [])) for d in DAYS},
        "exceptions": exceptions_text(schedule),
    }


@router.get("/admin/hours")
async def hours_page(
    request: Request, ident: Identity = Depends(roles()), db: AsyncSession = Depends(get_db)
) -> Any:
    rows = await business_hours.all_hours(db)
    return page(
        request,
        "admin_hours.html",
        ident,
        active="admin",
        schedules=[_form(r) for r in rows],
        days=DAYS,
        zone=request.app.state.settings.timezone,
    )
