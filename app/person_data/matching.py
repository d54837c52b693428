"""Matching a person's rows: by number suffix, leads and calls of theirs, and scrubbing their numbers and
e-mails out of free text.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.person_data.person import ERASED, Person
from core.dialer_tables import Lead, LeadNumber
from core.models import Call


# --- helpers ----------------------------------------------------------------------------------------------
def as_dict(obj: Any) -> dict[str, Any]:
    """A mapped row's columns, as JSON can hold them."""
    return {a.key: plain(getattr(obj, a.key)) for a in inspect(obj).mapper.column_attrs}


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def column_holds(column: Any, needles: frozenset[str]) -> Any:
    """Rows whose column (text or JSON, as text) holds one of the needles: a scan, fine for an erasure."""
    text = func.lower(cast(column, Text))
    return or_(*(text.contains(n.lower(), autoescape=True) for n in needles))


async def rows_by_number(
    db: AsyncSession, model: type[Any], columns: list[InstrumentedAttribute[Any]], person: Person
) -> list[Any]:
    """Rows of `model` where one of `columns` is one of the person's numbers, in whatever shape it was
    stored: the last digits narrow the scan, the parser decides."""
    if not person.numbers:
        return []
    where = or_(*(c.like(f"%{s}") for c in columns for s in person.suffixes))
    rows = (await db.scalars(select(model).where(where))).all()
    return [r for r in rows if any(person.has_number(getattr(r, c.key)) for c in columns)]


async def person_lead_ids(db: AsyncSession, person: Person) -> set[int]:
    ids: set[int] = set()
    if person.contact_ids:
        ids |= set(await db.scalars(select(Lead.id).where(Lead.contact_id.in_(person.contact_ids))))
    if person.numbers:
        ids |= set(await db.scalars(select(LeadNumber.lead_id).where(LeadNumber.e164.in_(person.numbers))))
    if person.emails:
        for lead in await db.scalars(select(Lead).where(column_holds(Lead.fields, person.emails))):
            if any(
                isinstance(v, str) and v.strip().lower() in person.emails
                for v in (lead.fields or {}).values()
            ):
                ids.add(lead.id)
    return ids


async def person_calls(db: AsyncSession, person: Person) -> list[Call]:
    found = {
        c.id: c for c in await rows_by_number(db, Call, [Call.caller_number, Call.called_number], person)
    }
    if person.contact_ids:
        for c in await db.scalars(select(Call).where(Call.contact_id.in_(person.contact_ids))):
            found[c.id] = c
    return sorted(found.values(), key=lambda c: c.id)


def scrubbed(value: Any, needles: frozenset[str]) -> Any:
    """A JSON value with every string that holds one of the needles replaced by ERASED."""
    if isinstance(value, str):
        low = value.lower()
        return ERASED if any(n.lower() in low for n in needles) else value
    if isinstance(value, dict):
        return {k: scrubbed(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v, needles) for v in value]
    return value


def person_needles(person: Person) -> frozenset[str]:
    """The strings that give the person away in free text: numbers (E.164 and last digits) and e-mails."""
    return frozenset(person.numbers) | person.suffixes | person.emails
