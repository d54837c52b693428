"""Tombstones: what stays of an erased person so that an old list cannot bring them back.

Each number (E.164) and e-mail (lower-case) is kept as HMAC-SHA256 under a key held outside the database
(`Settings.tombstone_key`): a phone number has too few possible values for a plain hash to hide it, while
without the key a stolen database says nothing. List and customer imports hash each number and e-mail of a
line and skip the line when the hash is a tombstone.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import dialect_insert
from core.models import Tombstone, utcnow

# what an import's report says of a skipped line (without the value: it is not written again, even there)
ERASED_REASON = "this person's data was erased at their request"


def key_hash(key: bytes, kind: str, value: str) -> str:
    """The tombstone of one value: `kind` is `number` (an E.164) or `email` (compared in lower case)."""
    norm = value.strip().lower() if kind == "email" else value
    # one-shot (C): an import hashes every number of its file
    return hmac.digest(key, f"{kind}:{norm}".encode(), "sha256").hex()


@dataclass(frozen=True)
class Tombstones:
    """The tombstones as an import sees them: one set lookup per value (erasures are few)."""

    key: bytes
    hashes: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def number(self, e164: str) -> bool:
        return bool(self.hashes) and key_hash(self.key, "number", e164) in self.hashes

    def email(self, email: str | None) -> bool:
        return bool(self.hashes and email) and key_hash(self.key, "email", email or "") in self.hashes


async def load(session: AsyncSession, key: bytes) -> Tombstones:
    return Tombstones(key, frozenset(await session.scalars(select(Tombstone.key_hash))))


async def bury(session: AsyncSession, key: bytes, numbers: Iterable[str], emails: Iterable[str]) -> list[str]:
    """Add the tombstones of these values (in the caller's transaction); returns their hashes."""
    rows = [{"kind": "number", "key_hash": key_hash(key, "number", n)} for n in sorted(set(numbers))]
    rows += [{"kind": "email", "key_hash": key_hash(key, "email", e)} for e in sorted(set(emails))]
    if rows:
        now = utcnow()
        ins = dialect_insert(session, Tombstone)
        await session.execute(
            ins.on_conflict_do_nothing(index_elements=["key_hash"]), [r | {"erased_at": now} for r in rows]
        )
    return [r["key_hash"] for r in rows]
