"""Reports for supervisors and managers (the wallboard and campaign reports build on these)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import case, func, select

from app import reporting
from app.deps import Db, Supervisor, state_of
from app.report_params import CSV_CONTENT, Format, check_instants, csv_or_json, report_period
from app.report_service import (
    AgentStateRow,
    Interval,
    IntervalAgentRow,
    IntervalQueueRow,
    KpiWindowRow,
    QueueReport,
    agent_row,
    agent_state_rows,
    kpi_windows,
    live_facts,
    pbx_id_prefix,
    queue_row,
)
from app.security import require
from core.models import Call, Role, utcnow
from core.settings import PBX_NAME

router = APIRouter(prefix="/reports", tags=["reports"])
# one Asterisk server's calls only (a name of PLATEAU_PBX_SERVERS)
PbxName = Annotated[str | None, Query(pattern=PBX_NAME, description="one Asterisk server's calls only")]


staff = require(Role.supervisor, Role.manager)


@router.get("/queues", response_model=list[QueueReport])
async def queues(
    request: Request,
    _: Supervisor,
    db: Db,
    since: datetime | None = None,
    until: datetime | None = None,
    pbx: PbxName = None,
) -> Any:
    check_instants(since=since, until=until)
    until = until or utcnow()
    since = since or until - timedelta(days=1)
    prefix = pbx_id_prefix(request, pbx)
    of_server = [Call.linkedid.startswith(prefix, autoescape=True)] if prefix is not None else []
    rows = await db.execute(
        select(
            Call.queue,
            func.count(),
            func.sum(case((Call.answered_at.is_not(None), 1), else_=0)),
            func.sum(case((Call.outcome == "abandoned", 1), else_=0)),
            func.avg(Call.wait_s),
            func.avg(Call.talk_s),
        )
        .where(Call.offered_at >= since, Call.offered_at < until, *of_server)
        .group_by(Call.queue)
        .order_by(Call.queue)
    )
    return [
        QueueReport(queue=q, offered=o, answered=a or 0, abandoned=ab or 0, avg_wait_s=w, avg_talk_s=t)
        for q, o, a, ab, w, t in rows
    ]


# --- interval reports, agent state time and KPI windows --------------------------------------
# Every figure comes from app/kpi.py over per-call facts (app/reporting.py); format=csv gives the same
# columns as the JSON keys, through the one CSV helper (formula cells neutralised).


@router.get(
    "/intervals", response_model=list[IntervalQueueRow] | list[IntervalAgentRow], responses=CSV_CONTENT
)
async def intervals(
    request: Request,
    ident: Supervisor,
    db: Db,
    since: datetime | None = None,
    until: datetime | None = None,
    interval: Interval = "30",
    by: Literal["queue", "agent"] = "queue",
    queue: str | None = Query(default=None, min_length=1, max_length=80),
    format: Format = "json",
) -> Any:
    """15/30/60-minute intervals per queue (service level with the queue's own variant) or per agent."""
    since, until = report_period(request, since, until)
    zone = state_of(request).settings.timezone
    facts = await reporting.call_facts(db, since, until, queue)
    rows: list[Any]
    if by == "queue":
        configs = await reporting.queue_configs(db)
        rows = [queue_row(r) for r in reporting.queue_intervals(facts, configs, int(interval), zone)]
    else:
        agent_rows = reporting.agent_intervals(facts, int(interval), zone)
        names = await reporting.user_names(db, {r.agent_id for r in agent_rows})
        rows = [agent_row(r, names) for r in agent_rows]
    return csv_or_json(format, f"intervals-{by}-{interval}min.csv", rows, ident.user.language)


@router.get("/agent-states", response_model=list[AgentStateRow], responses=CSV_CONTENT)
async def agent_states(
    request: Request,
    ident: Supervisor,
    db: Db,
    since: datetime | None = None,
    until: datetime | None = None,
    format: Format = "json",
) -> Any:
    """Time per agent in each state (login, ready, talk, hold, wrap, pause by reason) and occupancy."""
    since, until = report_period(request, since, until)
    rows = await agent_state_rows(db, since, until)
    return csv_or_json(format, "agent-states.csv", rows, ident.user.language)


@router.get("/kpi", response_model=list[KpiWindowRow])
async def kpi_by_window(request: Request, _: Supervisor, db: Db, pbx: PbxName = None) -> Any:
    """Per-queue KPIs for today and the last 15, 30 and 60 minutes: the call history and, while the PBX
    link runs here, the calls in progress (offered once queued, answered once an agent answered);
    `pbx`: one Asterisk server's calls only."""
    prefix = pbx_id_prefix(request, pbx)
    return await kpi_windows(db, state_of(request).settings.timezone, live_facts(request), prefix)
