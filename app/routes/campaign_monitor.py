"""GET /api/v1/campaigns/{id}/monitor: the live dialer's view of one campaign, for supervisors.

Dial level, calls in flight, agents by state, contacts, abandons today and over the rule set's period,
list penetration and the last pacing decisions with their inputs. Today's counts use the campaign
report definitions (`dialer.campaign_reports`), so the monitor and the reports cannot disagree.
GET /api/v1/campaign-tiles: the wallboard's campaign tiles as the feed last published them.
The campaign reports (`app.routes.campaign_reports`) are mounted with this router.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import campaign_report_service
from app.deps import AppState, Db, MaybeDialer, StateDep, Supervisor
from app.routes import campaign_reports as report_api
from app.schemas import PathId
from core.dialer_tables import Campaign, CampaignList, Lead
from core.errors import NotFound
from dialer import campaign_reports as cr
from dialer.campaign_feed import abandon_wire
from dialer.compliance import RuleSet
from dialer.engine import campaign_abandons, utc_now
from dialer.store import imported, rule_set_named

router = APIRouter(tags=["campaigns"])
router.include_router(report_api.router)


@router.get("/campaign-tiles")
async def campaign_tiles(state: StateDep, _: Supervisor) -> list[dict[str, Any]]:
    """The running campaigns' wallboard tiles (then follow the `campaign_tile` WebSocket messages)."""
    feed = state.campaign_feed
    return feed.current() if feed is not None else []


@router.get("/campaigns/{campaign_id}/monitor")
async def campaign_monitor(
    campaign_id: PathId, state: StateDep, dialer: MaybeDialer, _: Supervisor, db: Db
) -> dict[str, Any]:
    c = await db.get(Campaign, campaign_id)
    if c is None:
        raise NotFound("no such campaign")
    now = dialer.clock() if dialer is not None else utc_now()
    rs = await rule_set_named(db, c.rule_set)
    figures = await _db_figures(state, db, c, rs, now, getattr(dialer, "attempts_written", 0))
    live = dialer.live_view(c.id) if dialer is not None else {"running": False, "decisions": []}
    return {
        "campaign": {"id": c.id, "name": c.name, "state": c.state.value, "dial_mode": c.dial_mode.value},
        "at": now.isoformat(),
        **live,
        **figures,
        "abandon_limit_percent": rs.max_abandon_rate_percent if rs else None,
        "abandon_period_days": rs.abandon_period_days if rs else None,
        "abandon_definition": rs.abandon_definition if rs else None,
        "abandon_after_seconds": rs.abandon_after_seconds if rs else None,
    }


# What the monitor reads from the attempts is kept a moment per campaign: a poll a second by each open
# monitor must not re-read a busy campaign's day (and its 30-day abandon window) every second. It is read
# again once the dialer wrote an attempt (at most every FIGURES_MIN_AGE_S) and at least every
# FIGURES_MAX_AGE_S (midnight, the rolling period, attempts written by another process).
FIGURES_MIN_AGE_S = 2.0
FIGURES_MAX_AGE_S = 30.0


@dataclass
class _Figures:
    written: int
    at: float
    value: dict[str, Any]


async def _db_figures(
    state: AppState, db: AsyncSession, c: Campaign, rs: RuleSet | None, now: datetime, written: int
) -> dict[str, Any]:
    cache: dict[int, _Figures] = state.memo("campaign_monitor_figures", dict)
    hit = cache.get(c.id)
    age = time.monotonic() - hit.at if hit else math.inf
    if hit and (age < FIGURES_MIN_AGE_S or (hit.written == written and age < FIGURES_MAX_AGE_S)):
        return hit.value
    zone = ZoneInfo(rs.reference_zone if rs else "UTC")
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    list_ids = select(CampaignList.list_id).where(CampaignList.campaign_id == c.id)
    total, reached = (
        await db.execute(
            select(func.count(), func.count().filter(Lead.attempts > 0)).where(
                Lead.list_id.in_(list_ids), imported()
            )
        )
    ).one()
    day = now + timedelta(microseconds=1)
    attempts = (await campaign_report_service.load_attempts(db, [c.id], midnight, day, passes=False))[c.id]
    today = cr.figures(attempts, cr.RuleSetView(rs), total)
    value: dict[str, Any] = {"abandon_today": None, "abandon_period": None}
    if rs is not None:
        day_stats, period = await campaign_abandons(db, c.id, rs, now)
        value = {"abandon_today": abandon_wire(day_stats), "abandon_period": abandon_wire(period)}
    value |= {
        "attempts_today": today.attempts,
        "results_today": today.results,
        "contacts_today": today.contacts,  # a person answered (drops included)
        "connected_today": today.connected,
        "conversions_today": today.conversions,
        "contact_rate_today": today.contact_rate,
        "conversion_rate_today": today.conversion_rate,
        "list_penetration": {
            "leads": total,
            "dialled": reached,
            "percent": round(100 * reached / total, 2) if total else None,
        },
    }
    cache[c.id] = _Figures(written, time.monotonic(), value)
    return value
