"""Contact and account timelines (keyset-paginated), notes and dispositions, and calls by role."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import reporting
from app.errors import unprocessable
from app.models import (
    Account,
    Call,
    CallDirection,
    Contact,
    DispositionCode,
    Interaction,
    InteractionKind,
    Role,
    User,
)
from app.routes.complaint_reasons import usable_reason
from app.routes.report_params import check_instants
from app.schemas import CallOut, InteractionOut, Limit, NoteIn, Page, PathId
from app.security import ANY_ROLE, Identity, get_db, require
from app.surveys import answers_by_linkedid
from core.errors import NotFound

router = APIRouter(tags=["history"])
MAX_ID = 2**63 - 1  # the largest BIGINT, on both engines
any_role = require(*ANY_ROLE)


def encode_cursor(at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (instant, id) a page ends at. A cursor is opaque but comes back from the client: a forged one
    (an id no column holds, an instant outside the calendar) is as malformed as garbage."""
    try:
        at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        parsed, number = datetime.fromisoformat(at), int(row_id)
        reporting.check_instant(parsed, "cursor")
        if not 0 < number <= MAX_ID:
            raise ValueError
        return parsed, number
    except (ValueError, UnicodeDecodeError):
        raise unprocessable("cursor", "malformed cursor", "query") from None


Cursor = Query(default=None, max_length=200)


async def _timeline(
    db: AsyncSession, where: ColumnElement[bool], cursor: str | None, limit: int, kind: InteractionKind | None
) -> Page[InteractionOut]:
    # Newest first on (at, id): a row inserted while someone pages is never shown twice or skipped.
    stmt = select(Interaction).where(where)
    if kind is not None:
        stmt = stmt.where(Interaction.kind == kind)
    if cursor:
        at, row_id = decode_cursor(cursor)
        stmt = stmt.where(or_(Interaction.at < at, and_(Interaction.at == at, Interaction.id < row_id)))
    rows = list(
        await db.scalars(stmt.order_by(Interaction.at.desc(), Interaction.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[InteractionOut.model_validate(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].at, rows[-1].id) if more and rows else None,
    )


@router.get("/contacts/{contact_id}/timeline", response_model=Page[InteractionOut])
async def contact_timeline(
    contact_id: PathId,
    cursor: str | None = Cursor,
    limit: Limit = 50,
    kind: InteractionKind | None = None,
    _: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    if await db.get(Contact, contact_id) is None:
        raise NotFound("no such contact")
    return await _timeline(db, Interaction.contact_id == contact_id, cursor, limit, kind)


@router.get("/accounts/{account_id}/timeline", response_model=Page[InteractionOut])
async def account_timeline(
    account_id: PathId,
    cursor: str | None = Cursor,
    limit: Limit = 50,
    kind: InteractionKind | None = None,
    _: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    if await db.get(Account, account_id) is None:
        raise NotFound("no such account")
    # An account's timeline includes its contacts' interactions.
    contact_ids = select(Contact.id).where(Contact.account_id == account_id)
    where = or_(Interaction.account_id == account_id, Interaction.contact_id.in_(contact_ids))
    return await _timeline(db, where, cursor, limit, kind)


@router.post("/contacts/{contact_id}/timeline", response_model=InteractionOut, status_code=201)
async def add_note(
    contact_id: PathId, body: NoteIn, ident: Identity = Depends(any_role), db: AsyncSession = Depends(get_db)
) -> Any:
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


def agent_scope(ident: Identity, agent_column: Any) -> ColumnElement[bool] | None:
    """Agents see their own calls (and recordings), supervisors their team's, managers and admins all."""
    if ident.role is Role.agent:
        return agent_column == ident.user.id
    if ident.role is Role.supervisor:
        team = select(User.id).where(User.team_id == ident.user.team_id) if ident.user.team_id else None
        return agent_column.in_(team) if team is not None else agent_column == ident.user.id
    return None


def _call_scope(ident: Identity) -> ColumnElement[bool] | None:
    return agent_scope(ident, Call.agent_id)


async def check_call_visible(db: AsyncSession, ident: Identity, call_id: int | None) -> None:
    """A call referred to (a note's, a complaint's) must be one the caller may see; one out of their scope
    answers exactly like one that does not exist, so that call ids do not leak."""
    if call_id is None:
        return
    stmt = select(Call.id).where(Call.id == call_id)
    scope = _call_scope(ident)
    if await db.scalar(stmt if scope is None else stmt.where(scope)) is None:
        raise NotFound("call_id: no such call")


async def visible_call_ids(db: AsyncSession, ident: Identity, call_ids: set[int]) -> set[int]:
    """Those of these calls the user may open (the pages link only to those)."""
    if not call_ids:
        return set()
    stmt = select(Call.id).where(Call.id.in_(call_ids))
    scope = _call_scope(ident)
    return set(await db.scalars(stmt if scope is None else stmt.where(scope)))


@router.get("/calls", response_model=Page[CallOut])
async def list_calls(
    request: Request,
    cursor: str | None = Cursor,
    limit: Limit = 50,
    since: datetime | None = None,
    until: datetime | None = None,
    queue: str | None = Query(default=None, max_length=80),
    outcome: str | None = Query(default=None, max_length=32),
    direction: CallDirection | None = None,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    stmt = select(Call)
    scope = _call_scope(ident)
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
async def get_call(
    call_id: PathId, ident: Identity = Depends(any_role), db: AsyncSession = Depends(get_db)
) -> Any:
    stmt = select(Call).where(Call.id == call_id)
    scope = _call_scope(ident)
    if scope is not None:
        stmt = stmt.where(scope)
    call = await db.scalar(stmt)
    if call is None:
        raise NotFound("no such call")
    answers = await answers_by_linkedid(db, [call.linkedid])
    return CallOut.model_validate(call).model_copy(update=answers.get(call.linkedid, {}))
