"""The contact history: timelines of a contact or an account (paged by cursor), calls and who may see
them. The API and the pages share these."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import reporting
from app.errors import unprocessable
from app.schemas import CallOut, InteractionOut, Page
from app.security import Identity
from app.surveys import answers_by_linkedid
from core.errors import NotFound
from core.models import (
    Account,
    Call,
    Contact,
    Interaction,
    InteractionKind,
    Role,
    User,
)

MAX_ID = 2**63 - 1  # the largest BIGINT, on both engines


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


async def timeline_page(
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


def agent_scope(ident: Identity, agent_column: Any) -> ColumnElement[bool] | None:
    """Agents see their own calls (and recordings), supervisors their team's, managers and admins all."""
    if ident.role is Role.agent:
        return agent_column == ident.user.id
    if ident.role is Role.supervisor:
        team = select(User.id).where(User.team_id == ident.user.team_id) if ident.user.team_id else None
        return agent_column.in_(team) if team is not None else agent_column == ident.user.id
    return None


def call_scope(ident: Identity) -> ColumnElement[bool] | None:
    return agent_scope(ident, Call.agent_id)


async def check_call_visible(db: AsyncSession, ident: Identity, call_id: int | None) -> None:
    """A call referred to (a note's, a complaint's) must be one the caller may see; one out of their scope
    answers exactly like one that does not exist, so that call ids do not leak."""
    if call_id is None:
        return
    stmt = select(Call.id).where(Call.id == call_id)
    scope = call_scope(ident)
    if await db.scalar(stmt if scope is None else stmt.where(scope)) is None:
        raise NotFound("call_id: no such call")


async def visible_call_ids(db: AsyncSession, ident: Identity, call_ids: set[int]) -> set[int]:
    """Those of these calls the user may open (the pages link only to those)."""
    if not call_ids:
        return set()
    stmt = select(Call.id).where(Call.id.in_(call_ids))
    scope = call_scope(ident)
    return set(await db.scalars(stmt if scope is None else stmt.where(scope)))


async def contact_timeline(
    db: AsyncSession, contact_id: int, cursor: str | None, limit: int, kind: InteractionKind | None
) -> Page[InteractionOut]:
    if await db.get(Contact, contact_id) is None:
        raise NotFound("no such contact")
    return await timeline_page(db, Interaction.contact_id == contact_id, cursor, limit, kind)


async def account_timeline(
    db: AsyncSession, account_id: int, cursor: str | None, limit: int, kind: InteractionKind | None
) -> Page[InteractionOut]:
    if await db.get(Account, account_id) is None:
        raise NotFound("no such account")
    # An account's timeline includes its contacts' interactions.
    contact_ids = select(Contact.id).where(Contact.account_id == account_id)
    where = or_(Interaction.account_id == account_id, Interaction.contact_id.in_(contact_ids))
    return await timeline_page(db, where, cursor, limit, kind)


async def visible_call(db: AsyncSession, ident: Identity, call_id: int) -> CallOut:
    """The call, with its survey answers; NotFound when out of this user's scope too."""
    stmt = select(Call).where(Call.id == call_id)
    scope = call_scope(ident)
    if scope is not None:
        stmt = stmt.where(scope)
    call = await db.scalar(stmt)
    if call is None:
        raise NotFound("no such call")
    answers = await answers_by_linkedid(db, [call.linkedid])
    return CallOut.model_validate(call).model_copy(update=answers.get(call.linkedid, {}))
