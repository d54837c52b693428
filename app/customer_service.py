"""Customer look-ups the API and the pages share: search, one contact with its numbers, one account."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.customers import find_callers
from core.errors import NotFound
from core.models import Account, Contact


def like(q: str) -> str:
    """`q` as a LIKE prefix, its wildcards escaped."""
    return q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search_accounts(db: AsyncSession, q: str | None, limit: int) -> list[Account]:
    stmt = select(Account).order_by(Account.name, Account.id).limit(limit)
    if q:
        stmt = stmt.where(func.lower(Account.name).like(like(q), escape="\\"))
    return list(await db.scalars(stmt))


async def account(db: AsyncSession, account_id: int) -> Account:
    acc = await db.get(Account, account_id)
    if acc is None:
        raise NotFound("no such account")
    return acc


async def contact(db: AsyncSession, contact_id: int) -> Contact:
    """The contact with its numbers loaded."""
    c = await db.get(Contact, contact_id, options=[selectinload(Contact.numbers)])
    if c is None:
        raise NotFound("no such contact")
    return c


async def search_contacts(db: AsyncSession, q: str | None, limit: int, region: str) -> list[Contact]:
    """Search by name, company or a number in any format (numbers use the indexed keys, never LIKE)."""
    if q and sum(c.isdigit() for c in q) >= 6:
        return [m.contact for m in await find_callers(db, q, region)][:limit]
    stmt = select(Contact).outerjoin(Account).order_by(Contact.last_name, Contact.id).limit(limit)
    if q:
        pattern = like(q)
        stmt = stmt.where(
            or_(
                func.lower(Contact.last_name).like(pattern, escape="\\"),
                func.lower(Contact.first_name).like(pattern, escape="\\"),
                func.lower(Account.name).like(pattern, escape="\\"),
            )
        )
    return list((await db.scalars(stmt)).unique())
