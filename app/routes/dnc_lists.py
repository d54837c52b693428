"""Do-not-call lists over the API: create them, add, remove and import numbers (campaign managers and
admins)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import Db, Manager, state_of
from app.errors import unprocessable
from app.list_service import NoFields, commit_unique
from app.routes.uploads import multipart, receive_file
from app.schemas import ORM, Label, Name, PathId, Text
from app.security import require
from core.audit import audit
from core.dialer_tables import (
    Campaign,
    DncEntry,
    DncKind,
    DncList,
)
from core.errors import FieldError, Invalid, NotFound
from core.models import Role
from core.tabular import MalformedFile
from cti.numbers import InvalidNumber
from dialer.bulk_numbers import Normaliser

router = APIRouter(tags=["call lists"])
manager = require(Role.manager)


class DncListIn(BaseModel):
    name: Name  # type: ignore[valid-type]
    kind: DncKind
    campaign_id: int | None = Field(default=None, ge=1, le=2**62)
    source: Label | None = None  # type: ignore[valid-type]


class DncListOut(ORM):
    id: int
    name: str
    kind: DncKind
    campaign_id: int | None
    source: str | None
    entries: int = 0


class DncNumbersIn(BaseModel):
    numbers: list[Text(64, 1)] = Field(min_length=1, max_length=10_000)  # type: ignore[valid-type]
    reason: Label | None = None  # type: ignore[valid-type]


async def _dnc(db: AsyncSession, dnc_id: int) -> DncList:
    dl = await db.get(DncList, dnc_id)
    if dl is None:
        raise NotFound("no such do-not-call list")
    return dl


@router.post("/dnc-lists", response_model=DncListOut, status_code=201)
async def create_dnc_list(body: DncListIn, request: Request, ident: Manager, db: Db) -> Any:
    if (body.kind is DncKind.campaign) != (body.campaign_id is not None):
        raise unprocessable("campaign_id", "required for a campaign list and only for one")
    if body.campaign_id is not None and await db.get(Campaign, body.campaign_id) is None:
        raise unprocessable("campaign_id", "no such campaign")
    dl = DncList(name=body.name, kind=body.kind, campaign_id=body.campaign_id, source=body.source)
    db.add(dl)
    await commit_unique(db, f"do-not-call list {body.name!r}")
    audit(
        db,
        "dnc_list_created",
        user_id=ident.user.id,
        target_type="dnc_list",
        target_id=dl.id,
        detail={"kind": dl.kind.value},
        request=request,
    )
    await db.commit()
    return dl


@router.get("/dnc-lists", response_model=list[DncListOut])
async def list_dnc_lists(_: Manager, db: Db) -> Any:
    counts = dict(
        (await db.execute(select(DncEntry.dnc_list_id, func.count()).group_by(DncEntry.dnc_list_id))).all()
    )
    out = []
    for dl in await db.scalars(select(DncList).order_by(DncList.name)):
        item = DncListOut.model_validate(dl)
        item.entries = counts.get(dl.id, 0)
        out.append(item)
    return out


@router.post("/dnc-lists/{dnc_id}/entries")
async def add_dnc_numbers(
    dnc_id: PathId,
    body: DncNumbersIn,
    request: Request,
    ident: Manager,
    db: Db,
) -> Any:
    from dialer.dnc import add_numbers

    await _dnc(db, dnc_id)
    normalise = Normaliser(state_of(request).settings.default_region)
    numbers, errors = [], []
    for i, raw in enumerate(body.numbers):
        try:
            numbers.append(normalise(raw).e164)
        except InvalidNumber as exc:
            errors.append(FieldError(("body", "numbers", i), exc.reason))
    if errors:
        raise Invalid.fields(errors)
    added = await add_numbers(db, dnc_id, numbers, reason=body.reason, user_id=ident.user.id)
    audit(
        db,
        "dnc_numbers_added",
        user_id=ident.user.id,
        target_type="dnc_list",
        target_id=dnc_id,
        detail={"added": added, "given": len(numbers)},
        request=request,
    )
    await db.commit()
    return {"added": added, "numbers": numbers}


@router.delete("/dnc-lists/{dnc_id}/entries/{number}", status_code=204)
async def remove_dnc_number(
    dnc_id: PathId,
    ident: Manager,
    db: Db,
    number: Annotated[str, Path(min_length=1, max_length=64)],
    request: Request,
) -> None:
    await _dnc(db, dnc_id)
    try:
        e164 = Normaliser(state_of(request).settings.default_region)(number).e164
    except InvalidNumber as exc:
        raise unprocessable("number", exc.reason, "path") from None
    result = await db.execute(delete(DncEntry).where(DncEntry.dnc_list_id == dnc_id, DncEntry.e164 == e164))
    if not result.rowcount:
        raise NotFound(f"{e164} is not on this list")
    audit(
        db,
        "dnc_number_removed",
        user_id=ident.user.id,
        target_type="dnc_list",
        target_id=dnc_id,
        detail={"e164": e164},
        request=request,
    )
    await db.commit()


@router.post(
    "/dnc-lists/{dnc_id}/import",
    openapi_extra=multipart(NoFields, "one number per line, or a CSV with a phone column"),
)
async def import_dnc(
    dnc_id: PathId,
    request: Request,
    ident: Manager,
    db: Db,
) -> Any:
    from dialer.dnc import import_dnc_file

    dl = await _dnc(db, dnc_id)
    settings = state_of(request).settings
    path, size, _name, _form = await receive_file(request, NoFields, settings.max_upload_bytes)
    try:
        report = await import_dnc_file(
            db,
            dnc_id,
            path,
            region=settings.default_region,
            reason=dl.source,
            user_id=ident.user.id,
            limits=settings.table_limits(),
        )
    except MalformedFile as exc:
        await db.rollback()
        raise unprocessable("file", f"{exc}; nothing was imported", "form") from None
    finally:
        os.unlink(path)
    audit(
        db,
        "dnc_imported",
        user_id=ident.user.id,
        target_type="dnc_list",
        target_id=dnc_id,
        detail={"rows": report.rows, "added": report.added, "invalid": report.invalid_count, "bytes": size},
        request=request,
    )
    await db.commit()
    return {
        "lines": report.lines,
        "rows": report.rows,
        "added": report.added,
        "invalid": [{"line": ln, "reason": why} for ln, why in report.invalid[:1000]],
        "invalid_count": report.invalid_count,
    }
