"""Named opening-hours schedules that IVR flows read at run time (`schedule_name` of an hours node), kept in
the table `business_hours` and edited at /admin/hours. One schema (`HoursIn`, a cti.ivr.hours.Schedule
with a name) for the API and the page; every write is audited. Deleting a schedule a flow names is allowed:
that flow falls back to the schedule written in its YAML (or hears "closed" when it has none)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import holidays
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import audit
from core.errors import Invalid, NotFound
from core.ivr_tables import BusinessHoursRow
from cti.ivr.hours import DAYS, Schedule
from cti.ivr.model import SCHEDULE_NAME

_SPLIT = re.compile(r"[,\s]+")


def _ranges(text: str) -> list[str]:
    """'08:30-12:00, 14:00-18:00' → ['08:30-12:00', '14:00-18:00'] (how the page's day fields read)."""
    return [r for r in _SPLIT.split(text.strip()) if r]


def _exception_lines(text: str) -> list[dict[str, Any]]:
    """The page's exceptions, one a line: `date; hours (empty: closed all day); reason`."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(";")]
        if len(parts) > 3:
            raise ValueError(f"{line.strip()!r}: use 'date; hours; reason'")
        parts += [""] * (3 - len(parts))
        out.append({"date": parts[0], "hours": _ranges(parts[1]), "reason": parts[2]})
    return out


class HoursIn(Schedule):
    """A named schedule as the API takes it. `weekly` values and `exceptions` may also be text, as the
    page's fields send them; the API's JSON lists are taken as they are."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=SCHEDULE_NAME)

    @model_validator(mode="before")
    @classmethod
    def _days(cls, data: Any) -> Any:
        # the page sends one field per day (mon … sun); the API sends `weekly`
        if isinstance(data, dict) and any(d in data for d in DAYS):
            data = dict(data)
            weekly = dict(data.get("weekly") or {})
            for d in DAYS:
                if d in data:
                    weekly[d] = data.pop(d)
            data["weekly"] = weekly
        return data

    @field_validator("weekly", mode="before")
    @classmethod
    def _weekly_text(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {d: _ranges(r) if isinstance(r, str) else r for d, r in v.items() if r not in ("", None)}
        return v

    @field_validator("exceptions", mode="before")
    @classmethod
    def _exceptions_text(cls, v: Any) -> Any:
        return _exception_lines(v) if isinstance(v, str) else v

    @field_validator("holidays_country")
    @classmethod
    def _known_country(cls, v: str | None) -> str | None:
        # here rather than in Schedule's model check, so the error is shown next to its field
        if v is not None and v not in holidays.list_supported_countries():
            raise ValueError(f"no public holidays known for {v!r}: an ISO code such as FR or GB")
        return v

    @field_validator("holidays_subdivision")
    @classmethod
    def _known_subdivision(cls, v: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("holidays_country")
        if v is not None and country is not None:
            known = holidays.list_supported_countries().get(country, [])
            if v not in known:
                raise ValueError(f"{country} has no subdivision {v!r}")
        return v

    def schedule(self) -> Schedule:
        return Schedule.model_validate(self.model_dump(exclude={"name"}))


class HoursOut(BaseModel):
    id: int
    name: str
    timezone: str
    weekly: dict[str, list[str]]
    holidays_country: str | None
    holidays_subdivision: str | None
    holidays_language: str | None
    exceptions: list[dict[str, Any]]
    updated_at: datetime

    @classmethod
    def of(cls, row: BusinessHoursRow) -> HoursOut:
        return cls(id=row.id, name=row.name, updated_at=row.updated_at, **_stored(row))


def _stored(row: BusinessHoursRow) -> dict[str, Any]:
    return Schedule.model_validate(row.schedule).model_dump(mode="json")


async def all_hours(db: AsyncSession) -> list[BusinessHoursRow]:
    return list(await db.scalars(select(BusinessHoursRow).order_by(BusinessHoursRow.name)))


async def _get(db: AsyncSession, hours_id: int) -> BusinessHoursRow:
    row = await db.get(BusinessHoursRow, hours_id)
    if row is None:
        raise NotFound("no such schedule", key="not_found")
    return row


async def _check_name(db: AsyncSession, name: str, hours_id: int | None) -> None:
    other = await db.scalar(select(BusinessHoursRow.id).where(BusinessHoursRow.name == name))
    if other is not None and other != hours_id:
        raise Invalid("this name is already used by another schedule", "name", key="taken")


async def create(
    db: AsyncSession, actor: int, body: HoursIn, request: Request | None = None
) -> BusinessHoursRow:
    await _check_name(db, body.name, None)
    row = BusinessHoursRow(name=body.name, schedule=body.schedule().model_dump(mode="json"))
    db.add(row)
    await db.flush()
    audit(db, "hours_created", user_id=actor, target_type="business_hours", target_id=row.id,
          detail={"name": row.name}, request=request)  # fmt: skip
    await db.commit()
    await db.refresh(row)
    return row


async def replace(
    db: AsyncSession, actor: int, hours_id: int, body: HoursIn, request: Request | None = None
) -> BusinessHoursRow:
    """The whole schedule is replaced (a form shows all of it); the audit keeps what it was."""
    row = await _get(db, hours_id)
    await _check_name(db, body.name, row.id)
    before = {"name": row.name, **row.schedule}
    row.name = body.name
    row.schedule = body.schedule().model_dump(mode="json")
    audit(db, "hours_updated", user_id=actor, target_type="business_hours", target_id=row.id,
          detail={"before": before}, request=request)  # fmt: skip
    await db.commit()
    await db.refresh(row)
    return row


async def delete(db: AsyncSession, actor: int, hours_id: int, request: Request | None = None) -> None:
    row = await _get(db, hours_id)
    audit(db, "hours_deleted", user_id=actor, target_type="business_hours", target_id=row.id,
          detail={"name": row.name, **row.schedule}, request=request)  # fmt: skip
    await db.delete(row)
    await db.commit()
