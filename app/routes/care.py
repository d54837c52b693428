"""Customer care: a customer's status (active or lost, with the date and the reason: the loss rate), the
care report (complaint rate, deadlines, time to resolve, FCR, repeat calls, loss and retention rates) and
the satisfaction report (CSAT, NPS and response rate of the post-call survey)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import care_ratios as cr
from app import care_report
from app.audit import audit
from app.errors import unprocessable
from app.models import Account, ComplaintReason, Contact, User, utcnow
from app.reason_service import all_reasons, labels
from app.routes.report_params import CSV_CONTENT, Format, csv_or_json, report_period
from app.routes.reports import staff
from app.satisfaction import CSAT_SCORES, NPS_SCORES, By, Satisfaction
from app.satisfaction_report import satisfaction_report
from app.schemas import Label, PathId
from app.security import ANY_ROLE, Identity, get_db, require
from core.errors import Conflict, NotFound
from dialer.models import Campaign

router = APIRouter(tags=["customer care"])
any_role = require(*ANY_ROLE)


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


async def _set_status(
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


@router.put("/accounts/{account_id}/care-status", response_model=CareStatusOut)
async def account_status(
    account_id: PathId,
    body: CareStatusIn,
    request: Request,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """Mark the customer (an account) lost, with the date and the reason, or active again."""
    account = await db.get(Account, account_id)
    if account is None:
        raise NotFound("no such account")
    return await _set_status(db, request, ident, account, body)


@router.put("/contacts/{contact_id}/care-status", response_model=CareStatusOut)
async def contact_status(
    contact_id: PathId,
    body: CareStatusIn,
    request: Request,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """The same for a contact without an account (a contact of an account: the account is the customer)."""
    contact = await db.get(Contact, contact_id)
    if contact is None:
        raise NotFound("no such contact")
    if contact.account_id is not None:
        raise Conflict(f"this contact belongs to account {contact.account_id}: the account is the customer")
    return await _set_status(db, request, ident, contact, body)


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
    zone = request.app.state.settings.timezone
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


@router.get("/reports/care", response_model=list[CareRowOut], responses=CSV_CONTENT)
async def care(
    request: Request,
    since: datetime | None = None,
    until: datetime | None = None,
    by: care_report.By = care_report.By.total,
    period: cr.Period = cr.Period.day,
    fcr_days: int = Query(default=7, ge=1, le=90, description="first-contact resolution window"),
    format: Format = "json",
    ident: Identity = Depends(staff),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """Complaint rate (and per 1,000 contacts), shares within the legal deadlines, median time to resolve,
    FCR and repeat-call rate per period and per queue, team, campaign or reason; loss and retention rates
    on `by=total`. Formulas in README.md ("Customer-care ratios"). Today by default, at most 31 days."""
    rows = await care_rows_out(db, request, since, until, by, period, fcr_days, ident.user.language)
    return csv_or_json(format, f"care-{by.value}-{period.value}.csv", rows, ident.user.language)


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


@router.get("/reports/satisfaction", response_model=list[SatisfactionRowOut], responses=CSV_CONTENT)
async def satisfaction(
    request: Request,
    since: datetime | None = None,
    until: datetime | None = None,
    by: By = By.total,
    format: Format = "json",
    ident: Identity = Depends(staff),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """The post-call survey: CSAT (mean, share of 4–5), NPS (% promoters 9–10 − % detractors 0–6, in
    points), response rate (calls answered / handled), and the distribution of the answers, in total or per
    agent, queue, campaign or reason. Formulas in README.md ("Satisfaction"). Today by default."""
    rows = await satisfaction_rows_out(db, request, since, until, by, ident.user.language)
    return csv_or_json(format, f"satisfaction-{by.value}.csv", rows, ident.user.language)
