"""GET /api/v1/campaigns/{id}/monitor: the live dialer's view of one campaign, for supervisors.

Dial level, calls in flight, agents by state, contacts, abandons today and over the rule set's period,
list penetration and the last pacing decisions with their inputs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role
from app.schemas import PathId
from app.security import Identity, get_db, require
from dialer.models import Campaign, CampaignList, Lead, LeadAttempt
from dialer.store import rule_set_named

router = APIRouter(tags=["campaigns"])
supervisor = require(Role.supervisor, Role.manager)


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
    now = dialer.clock() if dialer is not None else None
    if now is None:
        from dialer.engine import utc_now

        now = utc_now()
    rs = await rule_set_named(db, c.rule_set)
    zone = ZoneInfo(rs.reference_zone if rs else "UTC")
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    list_ids = select(CampaignList.list_id).where(CampaignList.campaign_id == c.id)
    total, reached = (
        await db.execute(
            select(func.count(), func.count().filter(Lead.attempts > 0)).where(Lead.list_id.in_(list_ids))
        )
    ).one()
    today = dict(
        (
            await db.execute(
                select(LeadAttempt.result, func.count())
                .where(LeadAttempt.campaign_id == c.id, LeadAttempt.started_at >= midnight - timedelta(0))
                .group_by(LeadAttempt.result)
            )
        ).all()
    )
    live = dialer.live_view(c.id) if dialer is not None else {"running": False}
    return {
        "campaign": {"id": c.id, "name": c.name, "state": c.state.value, "dial_mode": c.dial_mode.value},
        "at": now.isoformat(),
        **live,
        "attempts_today": sum(today.values()),
        "results_today": today,
        "contacts_today": today.get("contact", 0) + today.get("success", 0) + today.get("callback", 0),
        "list_penetration": {
            "leads": total,
            "dialled": reached,
            "percent": round(100 * reached / total, 2) if total else None,
        },
        "abandon_limit_percent": rs.max_abandon_rate_percent if rs else None,
    }
