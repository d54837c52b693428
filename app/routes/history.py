"""Contact and account timelines (keyset-paginated), notes and dispositions, and calls by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import and_, or_, select

from app import history_service as svc
from app.deps import AnyRole, Db
from app.errors import unprocessable
from app.history_service import call_scope, check_call_visible, decode_cursor, encode_cursor
from app.reason_service import usable_reason
from app.report_params import check_instants
from app.schemas import CallOut, InteractionOut, Limit, NoteIn, Page, PathId
from app.security import ANY_ROLE, require
from app.surveys import answers_by_linkedid
from core.errors import NotFound
from core.models import (
    Call,
    CallDirection,
    Contact,
    DispositionCode,
    Interaction,
    InteractionKind,
)

router = APIRouter(tags=["history"])


any_role = require(*ANY_ROLE)


Cursor = Query(default=None, max_length=200)


@router.get("/contacts/{contact_id}/timeline", response_model=Page[InteractionOut])
async def contact_timeline(
    contact_id: PathId,
    _: AnyRole,
    db: Db,
    cursor: str | None = Cursor,
    limit: Limit = 50,
    kind: InteractionKind | None = None,
) -> Any:
    return await svc.contact_timeline(db, contact_id, cursor, limit, kind)


@router.get("/accounts/{account_id}/timeline", response_model=Page[InteractionOut])
async def account_timeline(
    account_id: PathId,
    _: AnyRole,
    db: Db,
    cursor: str | None = Cursor,
    limit: Limit = 50,
    kind: InteractionKind | None = None,
) -> Any:
    return await svc.account_timeline(db, account_id, cursor, limit, kind)


@router.post("/contacts/{contact_id}/timeline", response_model=InteractionOut, status_code=201)
async def add_note(contact_id: PathId, body: NoteIn, ident: AnyRole, db: Db) -> Any:
    contact = await db.get(Contact, contact_id)
    if contact is None:
        raise NotFound("no such contact")
    if body.disposition_code and not await db.scalar(
        select(DispositionCode.id).where(
            DispositionCode.code == body.disposition_code, DispositionCode.active
        )
    ):
        raise unprocessable("disposition_code", "unknown disposition code")
    await check_call_visible(db, ident, body.call_id)
    reason = await usable_reason(db, body.reason_id) if body.reason_id is not None else None
    row = Interaction(
        contact_id=contact_id,
        account_id=contact.account_id,
        agent_id=ident.user.id,
        kind=InteractionKind.disposition if body.disposition_code else InteractionKind.note,
        body=body.body,
        disposition_code=body.disposition_code,
        call_id=body.call_id,
        reason_id=reason.id if reason is not None else None,
    )
    db.add(row)
    await db.commit()
    return row


@router.get("/calls", response_model=Page[CallOut])
async def list_calls(
    request: Request,
    ident: AnyRole,
    db: Db,
    cursor: str | None = Cursor,
    limit: Limit = 50,
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = Query(default=None, max_length=80),
    outcome: str | None = Query(default=None, max_length=32),
    direction: CallDirection | None = None,
) -> Any:
    stmt = select(Call)
    scope = call_scope(ident)
    if scope is not None:
        stmt = stmt.where(scope)
    for value, cond in (
        (since, lambda v: Call.offered_at >= v),
        (until, lambda v: Call.offered_at < v),
        (queue, lambda v: Call.queue == v),
        (outcome, lambda v: Call.outcome == v),
        (direction, lambda v: Call.direction == v),
    ):
        if value is not None:
            stmt = stmt.where(cond(value))
    check_instants(since=since, until=until)
    if cursor:
        at, row_id = decode_cursor(cursor)
        stmt = stmt.where(or_(Call.offered_at < at, and_(Call.offered_at == at, Call.id < row_id)))
    rows = list(await db.scalars(stmt.order_by(Call.offered_at.desc(), Call.id.desc()).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    answers = await answers_by_linkedid(db, [r.linkedid for r in rows])
    return Page(
        items=[CallOut.model_validate(r).model_copy(update=answers.get(r.linkedid, {})) for r in rows],
        next_cursor=encode_cursor(rows[-1].offered_at, rows[-1].id) if more and rows else None,
    )


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: PathId, ident: AnyRole, db: Db) -> Any:
    return await svc.visible_call(db, ident, call_id)
