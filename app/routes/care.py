"""Customer care: a customer's status (active or lost, with the date and the reason: the loss rate), the
care report (complaint rate, deadlines, time to resolve, FCR, repeat calls, loss and retention rates) and
the satisfaction report (CSAT, NPS and response rate of the post-call survey)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request

from app import care_ratios as cr
from app import care_report
from app.care_service import (
    CareRowOut,
    CareStatusIn,
    CareStatusOut,
    SatisfactionRowOut,
    care_rows_out,
    satisfaction_rows_out,
    set_status,
)
from app.deps import AnyRole, Db, Supervisor
from app.report_params import CSV_CONTENT, Format, csv_or_json
from app.satisfaction import By
from app.schemas import PathId
from app.security import ANY_ROLE, require
from core.errors import Conflict, NotFound
from core.models import Account, Contact, Role

staff = require(Role.supervisor, Role.manager)
router = APIRouter(tags=["customer care"])


any_role = require(*ANY_ROLE)


@router.put("/accounts/{account_id}/care-status", response_model=CareStatusOut)
async def account_status(
    account_id: PathId,
    body: CareStatusIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    """Mark the customer (an account) lost, with the date and the reason, or active again."""
    account = await db.get(Account, account_id)
    if account is None:
        raise NotFound("no such account")
    return await set_status(db, request, ident, account, body)


@router.put("/contacts/{contact_id}/care-status", response_model=CareStatusOut)
async def contact_status(
    contact_id: PathId,
    body: CareStatusIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    """The same for a contact without an account (a contact of an account: the account is the customer)."""
    contact = await db.get(Contact, contact_id)
    if contact is None:
        raise NotFound("no such contact")
    if contact.account_id is not None:
        raise Conflict(f"this contact belongs to account {contact.account_id}: the account is the customer")
    return await set_status(db, request, ident, contact, body)


@router.get("/reports/care", response_model=list[CareRowOut], responses=CSV_CONTENT)
async def care(
    request: Request,
    ident: Supervisor,
    db: Db,
    since: datetime | None = None,
    until: datetime | None = None,
    by: care_report.By = care_report.By.total,
    period: cr.Period = cr.Period.day,
    fcr_days: int = Query(default=7, ge=1, le=90, description="first-contact resolution window"),
    format: Format = "json",
) -> Any:
    """Complaint rate (and per 1,000 contacts), shares within the legal deadlines, median time to resolve,
    FCR and repeat-call rate per period and per queue, team, campaign or reason; loss and retention rates
    on `by=total`. Formulas in README.md ("Customer-care ratios"). Today by default, at most 31 days."""
    rows = await care_rows_out(db, request, since, until, by, period, fcr_days, ident.user.language)
    return csv_or_json(format, f"care-{by.value}-{period.value}.csv", rows, ident.user.language)


@router.get("/reports/satisfaction", response_model=list[SatisfactionRowOut], responses=CSV_CONTENT)
async def satisfaction(
    request: Request,
    ident: Supervisor,
    db: Db,
    since: datetime | None = None,
    until: datetime | None = None,
    by: By = By.total,
    format: Format = "json",
) -> Any:
    """The post-call survey: CSAT (mean, share of 4–5), NPS (% promoters 9–10 − % detractors 0–6, in
    points), response rate (calls answered / handled), and the distribution of the answers, in total or per
    agent, queue, campaign or reason. Formulas in README.md ("Satisfaction"). Today by default."""
    rows = await satisfaction_rows_out(db, request, since, until, by, ident.user.language)
    return csv_or_json(format, f"satisfaction-{by.value}.csv", rows, ident.user.language)
