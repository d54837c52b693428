"""The customer-care reports (first-contact resolution, repeat calls, loss and retention, satisfaction) as
the API and the pages present them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import care_ratios as cr
from app import care_report
from app.deps import state_of
from app.errors import unprocessable
from app.reason_service import all_reasons, labels
from app.report_params import report_period
from app.satisfaction import CSAT_SCORES, NPS_SCORES, By, Satisfaction
from app.satisfaction_report import satisfaction_report
from app.schemas import Label
from app.security import Identity
from core.audit import audit
from core.dialer_tables import Campaign
from core.models import Account, ComplaintReason, Contact, User, utcnow


class CareStatusIn(BaseModel):
    status: Literal["active", "lost"]
    at: datetime | None = None  # when the customer was lost (default: now)
    reason: Label | None = None  # type: ignore[valid-type]  # why (required for lost)

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-11-22T10:00:00+01:00)")
        if v is not None and not 1970 <= v.year <= 9000:
            raise ValueError("out of range")
        return v

    @model_validator(mode="after")
    def _reason(self) -> CareStatusIn:
        if self.status == "lost" and not self.reason:
            raise ValueError("reason: a lost customer needs a loss reason")
        return self


class CareStatusOut(BaseModel):
    customer: Literal["account", "contact"]
    id: int
    status: str
    lost_at: datetime | None
    loss_reason: str | None


async def set_status(
    db: AsyncSession, request: Request, ident: Identity, row: Account | Contact, body: CareStatusIn
) -> CareStatusOut:
    if body.at is not None and body.at > utcnow() + timedelta(minutes=5):
        raise unprocessable("at", "is in the future")
    kind: Literal["account", "contact"] = "account" if isinstance(row, Account) else "contact"
    row.care_status = body.status
    row.lost_at = (body.at or utcnow()).astimezone(UTC) if body.status == "lost" else None
    row.loss_reason = body.reason if body.status == "lost" else None
    audit(db, f"customer.{body.status}", user_id=ident.user.id, target_type=kind, target_id=row.id,
          detail={"reason": row.loss_reason}, request=request)  # fmt: skip
    await db.commit()
    return CareStatusOut(
        customer=kind, id=row.id, status=row.care_status, lost_at=row.lost_at, loss_reason=row.loss_reason
    )


class CareRowOut(BaseModel):
    period_start: datetime
    by: str
    key: str
    label: str
    contacts_handled: int
    complaints: int
    complaint_rate: float | None
    complaints_per_1000: float | None
    ack_within_deadline: float | None
    answer_within_deadline: float | None
    median_resolve_s: float | None
    fcr: float | None
    repeat_rate: float | None
    lost: int | None
    customers_at_start: int | None
    loss_rate: float | None
    retention_rate: float | None


async def care_rows_out(
    db: AsyncSession,
    request: Request,
    since: datetime | None,
    until: datetime | None,
    by: care_report.By,
    period: cr.Period,
    fcr_days: int,
    lang: str,
) -> list[CareRowOut]:
    since, until = report_period(request, since, until)
    zone = state_of(request).settings.timezone
    rows = await care_report.care_report(
        db, since, until, by, period, zone, utcnow(), timedelta(days=fcr_days)
    )
    names: dict[str, str] = {}
    if by is care_report.By.reason:
        reasons: list[ComplaintReason] = await all_reasons(db)
        names = {str(k): v for k, v in labels(reasons, lang).items()}
    return [
        CareRowOut(
            by=by.value, label=names.get(r.key, r.key), **{f: getattr(r, f) for f in r.__dataclass_fields__}
        )
        for r in rows
    ]


class SatisfactionRowOut(BaseModel):
    by: str
    key: str
    label: str
    handled: int
    answered: int
    response_rate: float | None
    csat_answers: int
    csat_mean: float | None
    csat_satisfied: float | None
    nps_answers: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    csat_counts: dict[str, int]  # "1"…"5" → answers (one CSV column per score)
    nps_counts: dict[str, int]  # "0"…"10" → answers


async def _satisfaction_labels(db: AsyncSession, by: By, lang: str) -> dict[str, str]:
    if by is By.agent:
        return {str(i): n for i, n in await db.execute(select(User.id, User.display_name))}
    if by is By.campaign:
        return {str(i): n for i, n in await db.execute(select(Campaign.id, Campaign.name))}
    if by is By.reason:
        return {str(k): v for k, v in labels(await all_reasons(db), lang).items()}
    return {}


def satisfaction_out(r: Satisfaction, by: By, names: dict[str, str]) -> SatisfactionRowOut:
    fields = {f: getattr(r, f) for f in r.__dataclass_fields__ if not f.endswith("_counts")}
    return SatisfactionRowOut(
        by=by.value,
        label=names.get(r.key, r.key),
        **fields,
        csat_counts={str(s): n for s, n in zip(CSAT_SCORES, r.csat_counts, strict=True)},
        nps_counts={str(s): n for s, n in zip(NPS_SCORES, r.nps_counts, strict=True)},
    )


async def satisfaction_rows_out(
    db: AsyncSession, request: Request, since: datetime | None, until: datetime | None, by: By, lang: str
) -> list[SatisfactionRowOut]:
    since, until = report_period(request, since, until)
    names = await _satisfaction_labels(db, by, lang)
    return [satisfaction_out(r, by, names) for r in await satisfaction_report(db, since, until, by)]
