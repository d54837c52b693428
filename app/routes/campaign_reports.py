"""Campaign reports for supervisors and managers: JSON, or CSV with the same columns (`format=csv`).

GET /api/v1/campaign-reports                       one row per campaign with attempts in the period
GET /api/v1/campaign-reports/{id}?by=list|agent|pass   one campaign, per call list, agent or pass 1..5

Every figure comes from `dialer.campaign_reports` (definitions there); this module only loads the
attempts, with each one's pass (its rank in its lead's whole history, counted by the database) and list.
The period is the interval reports' one (`app.routes.reports`): today by default, at most 31 days.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from app.campaign_report_service import By, ReportRow, as_csv, breakdown, campaign_rows
from app.deps import Db, Supervisor
from app.report_params import CSV_CONTENT, Format, report_period
from app.schemas import PathId
from app.security import require
from core.dialer_tables import Campaign, LeadAttempt
from core.errors import NotFound
from core.models import Role

router = APIRouter(prefix="/campaign-reports", tags=["campaigns"])


staff = require(Role.supervisor, Role.manager)  # admin always passes


# --- routes --------------------------------------------------------------------------------------------
@router.get("", response_model=list[ReportRow], responses=CSV_CONTENT)
async def all_campaigns(
    request: Request,
    ident: Supervisor,
    db: Db,
    since: datetime | None = None,
    until: datetime | None = None,
    format: Format = "json",
) -> Any:
    """Every campaign that dialled in the period: attempts, contacts, conversions, abandons by definition."""
    since, until = report_period(request, since, until)
    active = select(LeadAttempt.campaign_id).where(
        LeadAttempt.started_at >= since, LeadAttempt.started_at < until
    )
    campaigns = list(
        await db.scalars(select(Campaign).where(Campaign.id.in_(active)).order_by(Campaign.name))
    )
    rows = await campaign_rows(db, campaigns, since, until)
    return as_csv("campaigns.csv", rows, ident.user.language) if format == "csv" else rows


@router.get("/{campaign_id}", response_model=list[ReportRow], responses=CSV_CONTENT)
async def one_campaign(
    campaign_id: PathId,
    request: Request,
    ident: Supervisor,
    db: Db,
    by: By = "campaign",
    since: datetime | None = None,
    until: datetime | None = None,
    format: Format = "json",
) -> Any:
    """One campaign as a whole, or per call list, per agent (calls nobody took: agent null) or per pass."""
    c = await db.get(Campaign, campaign_id)
    if c is None:
        raise NotFound("no such campaign")
    since, until = report_period(request, since, until)
    rows = await breakdown(db, c, by, since, until)
    if format == "csv":
        return as_csv(f"campaign-{c.id}-{by}.csv", rows, ident.user.language)
    return rows
