"""Opening-hours schedules over the API (admins): the rules and the audit are app/business_hours.py's,
shared with the /admin/hours page. IVR flows read a schedule by name at the start of each call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app import business_hours
from app.business_hours import HoursIn, HoursOut
from app.schemas import PathId
from app.security import Identity, get_db, require

router = APIRouter(tags=["hours"])
admin = require()  # a centre-wide setting: admins only, team leads included out


@router.get("/hours", response_model=list[HoursOut])
async def list_hours(_: Identity = Depends(admin), db: AsyncSession = Depends(get_db)) -> Any:
    return [HoursOut.of(r) for r in await business_hours.all_hours(db)]


@router.post("/hours", response_model=HoursOut, status_code=201)
async def create_hours(
    body: HoursIn, request: Request, ident: Identity = Depends(admin), db: AsyncSession = Depends(get_db)
) -> Any:
    """A named schedule; a flow whose hours node says `schedule_name: <name>` uses it from its next call."""
    return HoursOut.of(await business_hours.create(db, ident.user.id, body, request))


@router.put("/hours/{hours_id}", response_model=HoursOut)
async def replace_hours(
    hours_id: PathId,
    body: HoursIn,
    request: Request,
    ident: Identity = Depends(admin),
    db: AsyncSession = Depends(get_db),
) -> Any:
    return HoursOut.of(await business_hours.replace(db, ident.user.id, hours_id, body, request))


@router.delete("/hours/{hours_id}", status_code=204)
async def delete_hours(
    hours_id: PathId, request: Request, ident: Identity = Depends(admin), db: AsyncSession = Depends(get_db)
) -> None:
    """The flows naming it fall back to the schedule written in their YAML."""
    await business_hours.delete(db, ident.user.id, hours_id, request)
