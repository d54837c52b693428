"""Campaign reports: loading the attempts (each with its pass, its rank in its lead's whole history, counted
by the database, and its list) that dialer.campaign_reports turns into figures. The API and the pages
share these."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import reporting
from app.csv_export import csv_response
from core.dialer_tables import CallList, Campaign, CampaignList, Lead, LeadAttempt
from dialer import campaign_reports as cr
from dialer.leads_model import Attempt, AttemptResult
from dialer.store import rule_set_named

By = Literal["campaign", "list", "agent", "pass"]


class ReportRow(BaseModel):
    campaign_id: int
    campaign: str
    list_id: int | None = None
    list: str | None = None
    agent_id: int | None = None
    agent: str | None = None
    pass_no: int | None = None  # 5 = fifth pass and later
    attempts: int
    leads: int | None
    leads_dialled: int
    penetration: float | None
    contacts: int
    contact_rate: float | None
    connected: int
    conversions: int
    conversion_rate: float | None
    answered: int
    machines: int
    abandons: int
    abandon_definition: str
    abandon_rate: float | None
    abandon_limit: float | None
    abandon_rate_live_answered: float | None
    abandon_rate_ofcom: float | None
    abandon_rate_all_answered: float | None
    results: dict[str, int]


def row(c: Campaign, f: cr.Figures, **key: Any) -> ReportRow:
    return ReportRow(
        campaign_id=c.id,
        campaign=c.name,
        **key,
        attempts=f.attempts,
        leads=f.leads,
        leads_dialled=f.leads_dialled,
        penetration=f.penetration,
        contacts=f.contacts,
        contact_rate=f.contact_rate,
        connected=f.connected,
        conversions=f.conversions,
        conversion_rate=f.conversion_rate,
        answered=f.answered,
        machines=f.machines,
        abandons=f.abandons,
        abandon_definition=f.abandon_definition,
        abandon_rate=f.abandon_rate,
        abandon_limit=f.abandon_limit,
        abandon_rate_live_answered=f.abandon_rates["live_answered"],
        abandon_rate_ofcom=f.abandon_rates["ofcom"],
        abandon_rate_all_answered=f.abandon_rates["all_answered"],
        results=f.results,
    )


# --- loading ----------------------------------------------------------------------------------------
async def load_attempts(
    db: AsyncSession,
    campaign_ids: Iterable[int],
    since: datetime,
    until: datetime,
    *,
    passes: bool = True,
) -> dict[int, list[cr.ReportAttempt]]:
    """The campaigns' attempts started in [since, until), by campaign, each with its list and (unless
    `passes=False`, for figures that do not need it: every attempt is then pass 1) its pass."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    a = LeadAttempt
    columns = (
        a.id,
        a.lead_id,
        a.campaign_id,
        a.e164,
        a.started_at,
        a.answered_at,
        a.agent_connected_at,
        a.result,
        a.amd_machine,
        a.agent_id,
    )
    in_period = (a.campaign_id.in_(ids), a.started_at >= since, a.started_at < until)
    if passes:
        leads = select(a.lead_id).where(*in_period).distinct()
        # the rank of each attempt in its lead's history up to the end of the period, whatever the campaign
        rank = func.row_number().over(partition_by=a.lead_id, order_by=(a.started_at, a.id))
        ranked = (
            select(*columns, rank.label("pass_no"))
            .where(a.lead_id.in_(leads), a.started_at < until)
            .subquery()
        )
        r = ranked.c
        stmt = select(ranked, Lead.list_id).where(r.campaign_id.in_(ids), r.started_at >= since)
    else:
        ranked = select(*columns, literal(1).label("pass_no")).where(*in_period).subquery()
        r = ranked.c
        stmt = select(ranked, Lead.list_id)
    rows = await db.execute(stmt.join(Lead, Lead.id == r.lead_id).order_by(r.started_at, r.id))
    out: dict[int, list[cr.ReportAttempt]] = {cid: [] for cid in ids}
    for x in rows:
        out[x.campaign_id].append(
            cr.ReportAttempt(
                Attempt(
                    lead_id=x.lead_id,
                    e164=x.e164,
                    started_at=x.started_at,
                    result=AttemptResult(x.result),
                    answered_at=x.answered_at,
                    agent_connected_at=x.agent_connected_at,
                    amd_machine=bool(x.amd_machine),
                    agent_id=x.agent_id,
                    campaign_id=x.campaign_id,
                ),
                list_id=x.list_id,
                pass_no=int(x.pass_no),
            )
        )
    return out


async def list_sizes(db: AsyncSession, campaign_id: int) -> dict[int, int]:
    """Leads per call list of the campaign (the lists it dials today)."""
    rows = await db.execute(
        select(CampaignList.list_id, func.count(Lead.id))
        .select_from(CampaignList)
        .outerjoin(Lead, Lead.list_id == CampaignList.list_id)
        .where(CampaignList.campaign_id == campaign_id)
        .group_by(CampaignList.list_id)
    )
    return {list_id: int(n) for list_id, n in rows.all()}


async def campaign_rows(
    db: AsyncSession, campaigns: list[Campaign], since: datetime, until: datetime
) -> list[ReportRow]:
    attempts = await load_attempts(db, [c.id for c in campaigns], since, until)
    out = []
    for c in campaigns:
        view = cr.RuleSetView(await rule_set_named(db, c.rule_set))
        size = sum((await list_sizes(db, c.id)).values())
        out.append(row(c, cr.figures(attempts.get(c.id, []), view, size)))
    return out


async def breakdown(
    db: AsyncSession, c: Campaign, by: By, since: datetime, until: datetime
) -> list[ReportRow]:
    if by == "campaign":
        return await campaign_rows(db, [c], since, until)
    rows = (await load_attempts(db, [c.id], since, until))[c.id]
    view = cr.RuleSetView(await rule_set_named(db, c.rule_set))
    sizes = await list_sizes(db, c.id)
    if by == "pass":
        return [row(c, f, pass_no=n) for n, f in cr.by_pass(rows, view, sum(sizes.values())).items()]
    if by == "list":
        per_list = cr.by_list(rows, view, sizes)
        names = dict(
            (
                await db.execute(select(CallList.id, CallList.name).where(CallList.id.in_(list(per_list))))
            ).all()
        )
        return [row(c, f, list_id=k, list=names.get(k)) for k, f in per_list.items()]
    per_agent = cr.by_agent(rows, view)
    names = await reporting.user_names(db, {k for k in per_agent if k is not None})
    return [
        row(c, f, agent_id=k, agent=None if k is None else names.get(k, f"#{k}"))
        for k, f in per_agent.items()
    ]


# --- CSV -----------------------------------------------------------------------------------------------
RESULT_COLUMNS = [r.value for r in AttemptResult]


def as_csv(name: str, rows: list[ReportRow], lang: str) -> Any:
    """The JSON columns in order, `results` spread over one column per attempt result."""
    fields = [f for f in ReportRow.model_fields if f != "results"]
    header = [*fields, *(f"results_{r}" for r in RESULT_COLUMNS)]
    body = [[getattr(r, f) for f in fields] + [r.results.get(res, 0) for res in RESULT_COLUMNS] for r in rows]
    return csv_response(name, header, body, lang)
