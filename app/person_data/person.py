"""A person as data rights see them, what an erasure carries, and the `Source` registry of what holds them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.recording_store import RecordingStore
from cti.numbers import InvalidNumber, parse, suffix_key

ERASED = "(erased)"  # what an anonymised name or text reads
MAX_EMAIL = 254
EMAIL_PATTERN = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,189}$")


class PersonNotFound(LookupError):
    pass


class BadQuery(ValueError):
    """The number, e-mail or id cannot name a person; `field` and `reason` say why (a 422)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class Person:
    contact_ids: frozenset[int]
    numbers: frozenset[str]  # E.164
    emails: frozenset[str]  # lower case
    region: str = "FR"

    @property
    def suffixes(self) -> frozenset[str]:
        return frozenset(suffix_key(n) for n in self.numbers)

    def has_number(self, raw: str | None) -> bool:
        """Whether a number as stored (E.164 or what a trunk sent) is one of theirs."""
        if not raw or suffix_key(raw) not in self.suffixes:
            return False
        try:
            return parse(raw, self.region).e164 in self.numbers
        except InvalidNumber:
            return True  # their last digits in a shape that does not parse: erase rather than keep


@dataclass(frozen=True)
class Kept:
    """Records of a source that an erasure leaves in place, and why: a legal hold (GDPR art. 17(3)(e)), by
    the complaints not closed that need them. Said in the erasure's answer and its audit entry."""

    source: str
    ids: tuple[int, ...]
    complaints: tuple[int, ...]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "count": len(self.ids),
            "ids": list(self.ids),
            "complaints": list(self.complaints),
            "reason": self.reason,
        }


@dataclass
class Erasure:
    """What an erasure needs beside the database: its time, the recording store, and what it collects there:
    the keys of the files to delete once the transaction is committed (a rolled back erasure keeps them),
    the files it cannot reach (kept, said in the answer), and what it keeps on legal hold."""

    now: datetime
    store: RecordingStore
    keys: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    """One kind of record about a person. `find` returns its rows as plain dicts (what the export holds);
    `erase` anonymises or deletes them in the caller's transaction and returns how many rows it touched;
    `files` names the files its rows bring into the export (a recording's audio) as (name in the ZIP, key in
    the recording store)."""

    name: str
    find: Callable[[AsyncSession, Person], Awaitable[list[dict[str, Any]]]]
    erase: Callable[[AsyncSession, Person, Erasure], Awaitable[int]]
    files: Callable[[list[dict[str, Any]], RecordingStore], list[tuple[str, str]]] | None = None


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    SOURCES[source.name] = source
    return source
