"""Customer store queries. Caller matching: exact E.164 first, then the suffix key; always every match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from app.models import Contact, PhoneNumber
from cti.numbers import lookup_keys

MAX_MATCHES = 50  # a shared switchboard number can map to many contacts; a pop shows a chooser, not 10k rows


@dataclass(frozen=True, slots=True)
class CallerMatch:
    contact: Contact
    number: PhoneNumber
    how: Literal["exact", "suffix"]


def lookup_statement(*, e164: str | None = None, suffix: str | None = None) -> Select[tuple[PhoneNumber]]:
    """The one query caller matching runs; each variant is served by an index (see tests/db)."""
    contact = joinedload(PhoneNumber.contact)
    stmt = select(PhoneNumber).options(
        contact.joinedload(Contact.account), contact.joinedload(Contact.numbers)  # one round trip
    )
    if e164 is not None:
        stmt = stmt.where(PhoneNumber.e164 == e164)
    elif suffix is not None:
        stmt = stmt.where(PhoneNumber.suffix_key == suffix)
    else:
        raise ValueError("lookup needs an E.164 number or a suffix key")
    return stmt.order_by(PhoneNumber.contact_id, PhoneNumber.id).limit(MAX_MATCHES)


async def find_callers(session: AsyncSession, raw: str | None, region: str) -> list[CallerMatch]:
    """Every contact whose number matches `raw`; [] for withheld or unusable caller IDs."""
    e164, suffix = lookup_keys(raw or "", region)
    for how, key in (("exact", {"e164": e164}), ("suffix", {"suffix": suffix})):
        if not any(key.values()):
            continue
        numbers = (await session.scalars(lookup_statement(**key))).unique().all()
        if numbers:
            seen: set[int] = set()
            matches = []
            for n in numbers:
                if n.contact_id not in seen:
                    seen.add(n.contact_id)
                    matches.append(CallerMatch(n.contact, n, how))  # type: ignore[arg-type]
            return matches
    return []


async def find_contact_ids(session: AsyncSession, raws: list[str], region: str) -> dict[str, list[int]]:
    """`find_callers` for many numbers at once (the history writer's batches): contact ids only.

    Same rule, two indexed queries for the whole batch: exact E.164 first, then the suffix key for the rest.
    """
    keys = {raw: lookup_keys(raw, region) for raw in set(raws) if raw}
    found: dict[str, list[int]] = {raw: [] for raw in keys}
    by_e164 = {e164: raw for raw, (e164, _s) in keys.items() if e164}
    if by_e164:
        rows = await session.execute(select(PhoneNumber.e164, PhoneNumber.contact_id)
                                     .where(PhoneNumber.e164.in_(list(by_e164))).order_by(PhoneNumber.contact_id))
        for e164, contact_id in rows:
            ids = found[by_e164[e164]]
            if contact_id not in ids and len(ids) < MAX_MATCHES:
                ids.append(contact_id)
    by_suffix: dict[str, list[str]] = {}
    for raw, (_e, suffix) in keys.items():
        if suffix and not found[raw]:
            by_suffix.setdefault(suffix, []).append(raw)
    if by_suffix:
        rows = await session.execute(select(PhoneNumber.suffix_key, PhoneNumber.contact_id)
                                     .where(PhoneNumber.suffix_key.in_(list(by_suffix)))
                                     .order_by(PhoneNumber.contact_id))
        for suffix, contact_id in rows:
            for raw in by_suffix[suffix]:
                if contact_id not in found[raw] and len(found[raw]) < MAX_MATCHES:
                    found[raw].append(contact_id)
    return found
