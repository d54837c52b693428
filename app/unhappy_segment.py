"""The unhappy-customers file from the database: the facts app/unhappy.py needs, read for the customers
that can match at all (open complaints, recent calls and abandons, recent survey answers, recent losses),
then its rules.

A customer is an account, a contact without an account, or, for callers nobody matched, their number.
Each member comes with what a call list needs: a name, the account's name, a number to call (the contact's
first; an account's: its first contact's with a number) and a reference (`account-12`, `contact-7`,
`number-+33612345678`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import unhappy
from app.care_report import customer_key
from core.db import Database
from core.models import (
    Account,
    Call,
    CallDirection,
    Complaint,
    ComplaintStatus,
    Contact,
    PhoneNumber,
    SurveyAnswer,
    Tier,
    UnhappyRule,
    utcnow,
)

log = logging.getLogger(__name__)

OPEN = (ComplaintStatus.open, ComplaintStatus.in_progress)


@dataclass(slots=True)
class Member:
    kind: str  # account | contact | number
    ref: str
    id: int | None
    name: str
    company: str | None
    first_name: str | None
    last_name: str | None
    tier: str | None
    number: str | None
    reasons: list[unhappy.Reason] = field(default_factory=list)


async def rules(db: AsyncSession) -> tuple[unhappy.Rule, ...]:
    """The admin's rules, or the defaults while none is stored."""
    stored = list(await db.scalars(select(UnhappyRule).order_by(UnhappyRule.id)))
    if not stored:
        return unhappy.DEFAULT_RULES
    out = []
    for r in stored:
        try:
            out.append(unhappy.Rule(r.code, r.enabled, r.count, r.days, r.threshold))  # type: ignore[arg-type]
        except ValueError:  # a row the code no longer knows must not take the file down
            continue
    return tuple(out)


def _days(rs: tuple[unhappy.Rule, ...], code: unhappy.RuleCode) -> int:
    return max((r.days for r in rs if r.enabled and r.code is code), default=0)


async def facts(
    db: AsyncSession, rs: tuple[unhappy.Rule, ...], now: datetime
) -> dict[Hashable, unhappy.CustomerFacts]:
    out: dict[Hashable, unhappy.CustomerFacts] = {}

    def of(key: Hashable | None) -> unhappy.CustomerFacts | None:
        return None if key is None else out.setdefault(key, unhappy.CustomerFacts())

    if any(r.enabled and r.code is unhappy.RuleCode.open_complaint for r in rs):
        stmt = (
            select(Complaint.contact_id, Contact.account_id, func.count())
            .join(Contact, Contact.id == Complaint.contact_id)
            .where(Complaint.status.in_(OPEN))
            .group_by(Complaint.contact_id, Contact.account_id)
        )
        for contact_id, account_id, n in await db.execute(stmt):
            f = of(customer_key(account_id, contact_id, None))
            if f is not None:
                f.open_complaints += n
    call_days = max(_days(rs, unhappy.RuleCode.repeat_calls), _days(rs, unhappy.RuleCode.abandoned_calls))
    if call_days:
        stmt = (
            select(Call.offered_at, Call.outcome, Call.contact_id, Contact.account_id, Call.caller_number)
            .outerjoin(Contact, Contact.id == Call.contact_id)
            .where(
                Call.direction == CallDirection.inbound, Call.offered_at >= now - timedelta(days=call_days)
            )
        )
        for at, outcome, contact_id, account_id, number in await db.execute(stmt):
            f = of(customer_key(account_id, contact_id, number))
            if f is None:
                continue
            f.calls.append(at)
            if outcome == "abandoned":
                f.abandons.append(at)
    csat_days = _days(rs, unhappy.RuleCode.low_csat)
    if csat_days:  # the post-call survey's answers (app/surveys.py)
        stmt = (
            select(
                SurveyAnswer.answered_at,
                SurveyAnswer.csat,
                SurveyAnswer.contact_id,
                Contact.account_id,
                SurveyAnswer.caller_number,
            )
            .outerjoin(Contact, Contact.id == SurveyAnswer.contact_id)
            .where(
                SurveyAnswer.csat.is_not(None), SurveyAnswer.answered_at >= now - timedelta(days=csat_days)
            )
        )
        for at, csat, contact_id, account_id, number in await db.execute(stmt):
            f = of(customer_key(account_id, contact_id, number))
            if f is not None:
                f.csat.append((at, csat))
    lost_days = _days(rs, unhappy.RuleCode.lost)
    if lost_days:
        since = now - timedelta(days=lost_days)
        for model, kind in ((Account, "account"), (Contact, "contact")):
            stmt = select(model.id, model.lost_at).where(model.care_status == "lost", model.lost_at >= since)
            if model is Contact:
                stmt = stmt.where(Contact.account_id.is_(None))
            for id_, lost_at in await db.execute(stmt):
                f = of((kind, id_))
                if f is not None:
                    f.lost_at = lost_at
    return out


async def members(db: AsyncSession, now: datetime) -> list[Member]:
    """Everyone in the file now, with their reasons, the most reasons first, then by name."""
    rs = await rules(db)
    matched = {k: why for k, f in (await facts(db, rs, now)).items() if (why := unhappy.reasons(f, rs, now))}
    accounts = [k[1] for k in matched if k[0] == "account"]
    contacts = [k[1] for k in matched if k[0] == "contact"]
    out: list[Member] = []
    if accounts:
        firsts: dict[int, Any] = {}
        stmt = (
            select(Contact.account_id, Contact.first_name, Contact.last_name, PhoneNumber.e164)
            .join(PhoneNumber, PhoneNumber.contact_id == Contact.id)
            .where(Contact.account_id.in_(accounts))
            .order_by(Contact.id, PhoneNumber.id)
        )
        for account_id, first, last, e164 in await db.execute(stmt):
            firsts.setdefault(account_id, (first, last, e164))
        for a in await db.scalars(select(Account).where(Account.id.in_(accounts))):
            first, last, e164 = firsts.get(a.id, (None, None, None))
            out.append(
                Member(
                    "account",
                    f"account-{a.id}",
                    a.id,
                    a.name,
                    a.name,
                    first,
                    last,
                    a.tier.value,
                    e164,
                    matched[("account", a.id)],
                )
            )
    if contacts:
        for c in await db.scalars(select(Contact).where(Contact.id.in_(contacts))):
            name = f"{c.first_name} {c.last_name}".strip()
            number = c.numbers[0].e164 if c.numbers else None
            out.append(
                Member(
                    "contact",
                    f"contact-{c.id}",
                    c.id,
                    name,
                    None,
                    c.first_name,
                    c.last_name,
                    c.tier.value,
                    number,
                    matched[("contact", c.id)],
                )
            )
    for key, why in matched.items():
        if key[0] == "number":
            out.append(
                Member(
                    "number",
                    f"number-{key[1]}",
                    None,
                    key[1],
                    None,
                    None,
                    None,
                    Tier.standard.value,
                    key[1],
                    why,
                )
            )
    out.sort(key=lambda m: (-len(m.reasons), m.name.casefold(), m.ref))
    return out


class SegmentCache:
    """The file as last computed, for the pop (which must not scan tables while a phone rings): refreshed
    every `interval_s` by `run()` and whenever someone reads the file through the API or the page."""

    def __init__(self) -> None:
        self.by_ref: dict[str, list[unhappy.Reason]] = {}
        self.at: datetime | None = None

    def store(self, found: list[Member], at: datetime) -> None:
        self.by_ref = {m.ref: m.reasons for m in found}
        self.at = at

    def reasons(
        self, *, account_id: int | None, contact_id: int | None, number: str | None
    ) -> list[unhappy.Reason]:
        key = customer_key(account_id, contact_id, number)
        return self.by_ref.get(f"{key[0]}-{key[1]}", []) if key is not None else []

    async def refresh(self, db: Database) -> None:
        now = utcnow()
        async with db.session() as s:
            self.store(await members(s, now), now)

    async def run(self, db: Database, interval_s: float = 30.0) -> None:
        while True:
            try:
                await self.refresh(db)
            except Exception:  # the database away for a moment: the pop keeps the last picture
                log.exception("unhappy: the file could not be refreshed")
            await asyncio.sleep(interval_s)
