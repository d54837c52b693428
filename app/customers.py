"""Customer store queries. Caller matching: exact E.164 first, then the suffix key; always every match.

A stored number's suffix key is derived from its E.164 (`cti.numbers.suffix_key`), so every exact match is
also a suffix match: one indexed query on the suffix key, ranked exact-first, answers both steps in one
round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import groupby
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy import Select, bindparam, case, func, select
from sqlalchemy.engine import Compiled
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Account, Contact, NumberKind, PhoneNumber, Tier
from cti.numbers import lookup_keys

MAX_MATCHES = 50  # a shared switchboard number can map to many contacts; a pop shows a chooser, not 10k rows


# Every call's pop runs this lookup: read-only snapshots built from one Core query cost a fraction of ORM
# entities (identity map, instrumentation, relationship loaders). They carry ContactOut's fields.
@dataclass(frozen=True, slots=True)
class AccountCard:
    id: int
    name: str
    tier: Tier
    segment: str | None
    external_id: str | None


@dataclass(frozen=True, slots=True)
class NumberCard:
    id: int
    kind: NumberKind
    e164: str
    extension: str | None
    raw: str | None


@dataclass(frozen=True, slots=True)
class ContactCard:
    id: int
    first_name: str
    last_name: str
    email: str | None
    job_title: str | None
    role: str | None
    tier: Tier
    segment: str | None
    language: str | None
    external_id: str | None
    account: AccountCard | None
    numbers: tuple[NumberCard, ...]


@dataclass(frozen=True, slots=True)
class CallerMatch:
    contact: ContactCard
    number: NumberCard
    how: Literal["exact", "suffix"]


def _fields(card: type) -> list[str]:
    return [f.name for f in fields(card) if f.name not in ("account", "numbers")]


# Column groups of the lookup's rows, named as the cards' fields.
_CONTACT, _ACCOUNT, _NUMBER = _fields(ContactCard), _fields(AccountCard), _fields(NumberCard)
_FIELDS = {ContactCard: _CONTACT, AccountCard: _ACCOUNT, NumberCard: _NUMBER}
_ENUMS: dict[str, type[Any]] = {"tier": Tier, "kind": NumberKind}
_C0 = 2  # hit number id, rank, then the contact's, account's and owned number's columns
_A0 = _C0 + len(_CONTACT)
_N0 = _A0 + len(_ACCOUNT)


def _hits() -> Select[Any]:
    """The numbers sharing the caller's suffix key, exact E.164 first: the candidates of every match."""
    numbers = PhoneNumber.__table__
    rank = case((numbers.c.e164 == bindparam("e164"), 0), else_=1)  # 0: exact, 1: suffix only
    return (
        select(numbers.c.id, numbers.c.contact_id, rank.label("rank"))
        .where(numbers.c.suffix_key == bindparam("suffix"))
        .order_by(rank, numbers.c.contact_id, numbers.c.id)
        .limit(MAX_MATCHES)
    )


def matched_contact_ids(limit: int) -> Select[Any]:
    """The ids `find_callers` would return (its first `limit`, same rule), as a subquery bound to the same
    `e164` and `suffix` parameters: a pop reads the matches' history in the same moment as the matches."""
    hits = _hits().subquery("hit")
    best = select(func.min(hits.c.rank)).scalar_subquery()
    return (
        select(hits.c.contact_id)
        .where(hits.c.rank == best)
        .group_by(hits.c.contact_id)
        .order_by(hits.c.contact_id)
        .limit(limit)
    )


def _lookup_statement() -> Select[Any]:
    numbers, contacts, accounts = PhoneNumber.__table__, Contact.__table__, Account.__table__
    hits = _hits().subquery("hit")
    own = numbers.alias("own")  # every number of a matched contact, for the pop
    return (
        select(
            hits.c.id,
            hits.c.rank,
            *(contacts.c[f] for f in _CONTACT),
            *(accounts.c[f] for f in _ACCOUNT),
            *(own.c[f] for f in _NUMBER),
        )
        .select_from(
            hits.join(contacts, contacts.c.id == hits.c.contact_id)
            .outerjoin(accounts, accounts.c.id == contacts.c.account_id)
            .join(own, own.c.contact_id == contacts.c.id)
        )
        .order_by(hits.c.rank, hits.c.contact_id, hits.c.id, own.c.id)
    )


_LOOKUP = _lookup_statement()
_COMPILED: dict[str, Compiled] = {}  # per dialect name


async def _lookup_rows(session: AsyncSession, e164: str | None, suffix: str) -> list[Any]:
    """Run the lookup on the session's own connection (its transaction, if any), straight on the driver.

    The statement is compiled once per dialect; each call is then one driver call: one thread hop for
    aiosqlite instead of four, one round trip on asyncpg's cached prepared statement. SQLAlchemy's execute
    path cost about three times the CPU of this (measured at 100k contacts on both engines).
    """
    conn = await session.connection()
    compiled = _COMPILED.get(conn.dialect.name)
    if compiled is None:
        compiled = _COMPILED.setdefault(conn.dialect.name, _LOOKUP.compile(dialect=conn.dialect))
    params = compiled.construct_params({"e164": e164, "suffix": suffix})
    args = [params[name] for name in compiled.positiontup or ()]
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    if conn.dialect.name == "sqlite":
        return list(await driver.execute_fetchall(compiled.string, args))
    return list(await driver.fetch(compiled.string, *args))


def lookup_statement(*, e164: str | None, suffix: str) -> Select[Any]:
    """The one query caller matching runs, with its parameters bound (tests read its plan)."""
    return _LOOKUP.params(e164=e164, suffix=suffix)


def _card(card: type[Any], values: Sequence[Any], **more: Any) -> Any:
    """A card from driver values: enum columns come back as their plain string value."""
    out = dict(zip(_FIELDS[card], values, strict=True), **more)
    for name in ("tier", "kind"):
        if name in out:
            out[name] = _ENUMS[name](out[name])
    return card(**out)


def _matches(rows: Sequence[Any]) -> list[CallerMatch]:
    """Rows are ranked exact-first, one per (hit number, number of the hit's contact)."""
    best = rows[0][1] if rows else 0
    seen: set[int] = set()
    out = []
    for (hit_id, rank), group in groupby(rows, key=itemgetter(0, 1)):
        if rank != best:
            break  # there were exact matches: suffix-only ones are not
        first, *more = group
        if first[_C0] in seen:
            continue  # one match per contact: its first matching number
        seen.add(first[_C0])
        account = _card(AccountCard, first[_A0:_N0]) if first[_A0] is not None else None
        own = tuple(_card(NumberCard, r[_N0:]) for r in (first, *more))
        contact = _card(ContactCard, first[_C0:_A0], account=account, numbers=own)
        number = next(n for n in own if n.id == hit_id)
        out.append(CallerMatch(contact, number, "exact" if rank == 0 else "suffix"))
    return out


async def find_callers(session: AsyncSession, raw: str | None, region: str) -> list[CallerMatch]:
    """Every contact whose number matches `raw`; [] for withheld or unusable caller IDs."""
    e164, suffix = lookup_keys(raw or "", region)
    if not suffix:
        return []
    return _matches(await _lookup_rows(session, e164, suffix))


async def find_contact_ids(session: AsyncSession, raws: list[str], region: str) -> dict[str, list[int]]:
    """`find_callers` for many numbers at once (the history writer's batches): contact ids only.

    Same rule, one indexed query for the whole batch: the suffix keys' numbers, exact E.164 ones first.
    """
    keys = {raw: lookup_keys(raw, region) for raw in set(raws) if raw}
    found: dict[str, list[int]] = {raw: [] for raw in keys}
    suffixes = {suffix for _e, suffix in keys.values() if suffix}
    if not suffixes:
        return found
    numbers = PhoneNumber.__table__
    by_suffix: dict[str, list[tuple[str, int]]] = {}
    for suffix, e164, contact_id in await session.execute(
        select(numbers.c.suffix_key, numbers.c.e164, numbers.c.contact_id)
        .where(numbers.c.suffix_key.in_(sorted(suffixes)))
        .order_by(numbers.c.contact_id, numbers.c.id)
    ):
        by_suffix.setdefault(suffix, []).append((e164, contact_id))
    for raw, (e164, suffix) in keys.items():
        candidates = by_suffix.get(suffix or "", [])
        exact = [cid for number, cid in candidates if number == e164]
        ids = found[raw]
        for cid in exact or [cid for _n, cid in candidates]:
            if cid not in ids and len(ids) < MAX_MATCHES:
                ids.append(cid)
    return found
