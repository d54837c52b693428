"""The unhappy-customers file as the API and the pages present it: its members, filtered, and its rules."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app import unhappy
from app import unhappy_segment as segment
from app.deps import state_of
from app.schemas import Id, Name, Text
from core.models import utcnow

Kind = Literal["account", "contact", "number"]


class ReasonOut(BaseModel):
    code: unhappy.RuleCode
    count: int
    last_at: datetime | None


class MemberOut(BaseModel):
    ref: str
    kind: str
    id: int | None
    name: str
    company: str | None
    tier: str | None
    number: str | None
    reasons: list[ReasonOut]


class MemberRow(BaseModel):
    """The CSV's row: the reasons as `code×count`, separated by `, `."""

    ref: str
    kind: str
    name: str
    company: str | None
    tier: str | None
    number: str | None
    reasons: str


def reasons_text(m: segment.Member) -> str:
    return ", ".join(f"{r.code.value}×{r.count}" for r in m.reasons)


async def filtered(
    db: AsyncSession, request: Request, reason: unhappy.RuleCode | None, kind: Kind | None
) -> list[segment.Member]:
    now = utcnow()
    found = await segment.members(db, now)
    cache = state_of(request).unhappy
    if cache is not None:
        cache.store(found, now)  # the pops see what the page shows
    return [
        m
        for m in found
        if (reason is None or any(r.code is reason for r in m.reasons)) and (kind is None or m.kind == kind)
    ]


class RuleIO(BaseModel):
    code: unhappy.RuleCode
    enabled: bool = True
    count: int = Field(default=1, ge=1, le=1000)
    days: int = Field(default=0, ge=0, le=366)
    threshold: int | None = Field(default=None, ge=0, le=10)


class CallListIn(BaseModel):
    name: Name  # type: ignore[valid-type]
    description: Text(2000) | None = None  # type: ignore[valid-type]
    reason: unhappy.RuleCode | None = None  # only those in the file for this reason
    kind: Kind | None = None
    campaign_id: Id | None = None  # type: ignore[valid-type]  # its rule set and DNC lists apply


CSV_HEADER = ["reference", "prenom", "nom", "societe", "telephone", "motif"]


def call_list_csv(found: list[segment.Member]) -> bytes:
    """The segment as the list import reads any uploaded file (its French headers map automatically)."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";")
    w.writerow(CSV_HEADER)
    for m in found:
        first = m.first_name or ""
        last = m.last_name or (m.name if m.kind != "account" else "")
        w.writerow([m.ref, first, last, m.company or "", m.number or "", reasons_text(m)])
    return out.getvalue().encode("utf-8")
