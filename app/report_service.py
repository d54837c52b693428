"""Queue and agent reports as the API and the pages present them: interval rows, agent states, KPI windows
and the calls in progress."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from fastapi import Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app import kpi, reporting
from app.deps import state_of
from app.live_facts import service_live_facts
from core.errors import Unavailable
from core.models import utcnow


class QueueReport(BaseModel):
    queue: str | None
    offered: int
    answered: int
    abandoned: int
    avg_wait_s: float | None
    avg_talk_s: float | None


class IntervalQueueRow(BaseModel):
    queue: str
    start: datetime | None
    offered: int
    answered: int
    answered_in_t: int
    abandoned: int
    abandoned_in_t: int
    short_abandoned: int
    service_level: float | None
    sl_variant: str
    sl_threshold_s: float
    sl_target_pct: float
    asa_s: float | None
    aht_s: float | None
    abandon_rate: float | None
    longest_wait_s: float | None


class IntervalAgentRow(BaseModel):
    agent_id: int
    agent: str
    start: datetime | None
    answered: int
    handled: int
    talk_s: float
    hold_s: float
    wrap_s: float
    aht_s: float | None


class AgentStateRow(BaseModel):
    agent_id: int
    agent: str
    logged_in_s: float
    ready_s: float
    talk_s: float
    hold_s: float
    wrap_s: float
    pause_s: float
    pause_by_reason: dict[str, float]
    occupancy: float | None


class KpiWindowRow(BaseModel):
    window: str
    since: datetime
    until: datetime
    queues: list[IntervalQueueRow]


def queue_row(r: reporting.QueueRow) -> IntervalQueueRow:
    k, c, cfg = r.kpis, r.kpis.counts, r.kpis.config
    return IntervalQueueRow(
        queue=r.queue,
        start=r.start,
        offered=c.offered,
        answered=c.answered,
        answered_in_t=c.answered_in_t,
        abandoned=c.abandoned,
        abandoned_in_t=c.abandoned_in_t,
        short_abandoned=c.short_abandoned,
        service_level=k.service_level,
        sl_variant=cfg.sl_variant.value,
        sl_threshold_s=cfg.sl_threshold_s,
        sl_target_pct=cfg.sl_target_pct,
        asa_s=k.asa_s,
        aht_s=k.aht_s,
        abandon_rate=k.abandon_rate,
        longest_wait_s=c.longest_wait_s,
    )


Interval = Literal["15", "30", "60"]


def agent_row(r: reporting.AgentRow, names: dict[int, str]) -> IntervalAgentRow:
    c = r.counts
    return IntervalAgentRow(
        agent_id=r.agent_id,
        agent=names.get(r.agent_id, f"#{r.agent_id}"),
        start=r.start,
        answered=c.answered,
        handled=c.handled,
        talk_s=c.talk_s,
        hold_s=c.hold_s,
        wrap_s=c.wrap_s,
        aht_s=r.aht_s,
    )


async def agent_state_rows(db: AsyncSession, since: datetime, until: datetime) -> list[AgentStateRow]:
    now = utcnow()
    times = kpi.state_time(await reporting.state_periods(db, since, until), since, until, now)
    names = await reporting.user_names(db, set(times))
    out = []
    for uid in sorted(times, key=lambda u: names.get(u, "")):
        st = times[uid]
        out.append(
            AgentStateRow(
                agent_id=uid,
                agent=names.get(uid, f"#{uid}"),
                logged_in_s=kpi.logged_in_s(st),
                ready_s=st.total(kpi.READY),
                talk_s=st.total(kpi.TALK) + st.total(kpi.RINGING),
                hold_s=st.total(kpi.HOLD),
                wrap_s=st.total(kpi.WRAP),
                pause_s=st.total(kpi.PAUSE),
                pause_by_reason={
                    (reason or "-"): s
                    for (state, reason), s in sorted(st.seconds.items(), key=str)
                    if state == kpi.PAUSE
                },
                occupancy=kpi.state_occupancy(st),
            )
        )
    return out


async def kpi_windows(
    db: AsyncSession, zone: str, live: list[kpi.CallFact] | None = None, id_prefix: str | None = None
) -> list[KpiWindowRow]:
    """`live`: calls the history does not hold yet (in progress, or ended and not yet written); `id_prefix`:
    only the calls of the server whose call ids start so (`?pbx=`, CtiService.id_prefix_of)."""
    now = utcnow()
    since_today, _ = kpi.window_bounds(kpi.Window.today, now, zone)
    earliest = min(since_today, now - timedelta(minutes=60))
    facts = await reporting.call_facts(db, earliest, now + timedelta(microseconds=1))
    facts = reporting.with_live(facts, live or [])
    if id_prefix is not None:
        facts = reporting.of_server(facts, id_prefix)
    configs = await reporting.queue_configs(db)
    out = []
    for w in kpi.Window:
        since, until = kpi.window_bounds(w, now, zone)
        in_w = kpi.in_window(facts, since, until + timedelta(microseconds=1))
        rows = [queue_row(r) for r in reporting.queue_totals(in_w, configs)]
        out.append(KpiWindowRow(window=w.value, since=since, until=until, queues=rows))
    return out


def pbx_id_prefix(request: Request, pbx: str | None) -> str | None:
    """`?pbx=NAME`: the prefix of that server's call ids (None: every server)."""
    if pbx is None:
        return None
    service = state_of(request).cti
    if service is None:
        raise Unavailable("pbx: the CTI does not run in this process")
    return service.id_prefix_of(pbx)


def live_facts(request: Request) -> list[kpi.CallFact]:
    """The calls in progress, from the CTI service when it runs in this process (none otherwise)."""
    service = state_of(request).cti
    return service_live_facts(service) if service is not None else []
