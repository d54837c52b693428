"""GET /api/v1/campaigns/{id}/monitor: the live dialer's view of one campaign, for supervisors.

Dial level, calls in flight, agents by state, contacts, abandons today and over the rule set's period,
list penetration and the last pacing decisions with their inputs.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role
from app.schemas import PathId
from app.security import Identity, get_db, require
from dialer.compliance import AbandonStats
from dialer.engine import campaign_abandons, utc_now
from dialer.leads_model import LIVE_RESULTS, AttemptResult
from dialer.models import Campaign, CampaignList, Lead, LeadAttempt
from dialer.store import rule_set_named

router = APIRouter(tags=["campaigns"])
supervisor = require(Role.supervisor, Role.manager)
# a person was reached and talked to an agent (a drop is live but not a contact)
CONTACTS = frozenset(r.value for r in LIVE_RESULTS - {AttemptResult.DROPPED})


@router.get("/campaigns/{campaign_id}/monitor")
async def campaign_monitor(
    campaign_id: PathId,
    request: Request,
    _: Identity = Depends(supervisor),
    db: AsyncSession = Depends(get_db),
) -> dict[str, Any]:
    c = await db.get(Campaign, campaign_id)
    if c is None:
        raise HTTPException(404, "no such campaign")
    dialer = getattr(request.app.state, "dialer", None)
    now = dialer.clock() if dialer is not None else utc_now()
    rs = await rule_set_named(db, c.rule_set)
    zone = ZoneInfo(rs.reference_zone if rs else "UTC")
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    list_ids = select(CampaignList.list_id).where(CampaignList.campaign_id == c.id)
    total, reached = (
        await db.execute(
            select(func.count(), func.count().filter(Lead.attempts > 0)).where(Lead.list_id.in_(list_ids))
        )
    ).one()
    today = {
        result: n
        for result, n in (
            await db.execute(
                select(LeadAttempt.result, func.count())
                .where(LeadAttempt.campaign_id == c.id, LeadAttempt.started_at >= midnight)
                .group_by(LeadAttempt.result)
            )
        ).all()
    }
    abandons: dict[str, Any] = {"abandon_today": None, "abandon_period": None}
    if rs is not None:
        day, period = await campaign_abandons(db, c.id, rs, now)
        abandons = {"abandon_today": _stats(day), "abandon_period": _stats(period)}
    live = dialer.live_view(c.id) if dialer is not None else {"running": False, "decisions": []}
    return {
        "campaign": {"id": c.id, "name": c.name, "state": c.state.value, "dial_mode": c.dial_mode.value},
        "at": now.isoformat(),
        **live,
        **abandons,
        "attempts_today": sum(today.values()),
        "results_today": today,
        "contacts_today": sum(n for r, n in today.items() if r in CONTACTS),
        "list_penetration": {
            "leads": total,
            "dialled": reached,
            "percent": round(100 * reached / total, 2) if total else None,
        },
        "abandon_limit_percent": rs.max_abandon_rate_percent if rs else None,
        "abandon_period_days": rs.abandon_period_days if rs else None,
    }


def _stats(st: AbandonStats) -> dict[str, Any]:
    return {
        "abandoned": st.abandoned,
        "live": st.live,
        "rate_percent": None if st.rate_percent is None else round(st.rate_percent, 3),
        "since": st.since.isoformat(),
    }
