"""The campaign monitor page: live figures (web/static/js/campaign_monitor.js polls the monitor API) and
the campaign's reports per pass, list and agent for a period, rendered from `app.campaign_report_service` (the
same rows the JSON and CSV exports give)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app import campaign_report_service as report_api
from app.schemas import PathId
from app.security import Identity, get_db
from app.web.campaigns_view import ACTION_LABELS, STATE_LABELS
from app.web.pages import page, roles
from app.web.render import gettext as _
from app.web.reports_view import day_period
from core.dialer_tables import Campaign, CampaignState
from core.errors import NotFound
from core.models import Role
from dialer.campaigns import TRANSITIONS
from dialer.store import rule_set_named

router = APIRouter(include_in_schema=False)
STAFF = (Role.supervisor, Role.manager)
# the monitor's buttons; "finished" stays on the campaigns page (it is not a live decision)
CONTROLS = (CampaignState.running, CampaignState.paused, CampaignState.stopped)


@router.get("/campaigns/{campaign_id}/monitor")
async def campaign_monitor_page(
    campaign_id: PathId,
    request: Request,
    start: str | None = Query(default=None, max_length=10),
    end: str | None = Query(default=None, max_length=10),
    ident: Identity = Depends(roles(*STAFF)),
    db: AsyncSession = Depends(get_db),
) -> Any:
    c = await db.get(Campaign, campaign_id)
    if c is None:
        raise NotFound("no such campaign")
    first, last, since, until, error = day_period(request, start, end)
    zone = since.tzinfo
    reports = {
        by: await report_api.breakdown(db, c, by, since, until)
        for by in ("campaign", "pass", "list", "agent")
    }
    base = {"since": since.isoformat(), "until": until.isoformat(), "format": "csv"}
    csv_links = {by: f"/api/v1/campaign-reports/{c.id}?" + urlencode({**base, "by": by}) for by in reports}
    rs = await rule_set_named(db, c.rule_set)
    can_control = ident.role in (Role.manager, Role.admin)  # the transition API's own rule
    return page(
        request,
        "campaign_monitor.html",
        ident,
        active="campaigns" if ident.role is not Role.supervisor else "wallboard",
        campaign=c,
        rule_set=rs,
        definition_labels={
            "live_answered": _("abandons / calls a person answered"),
            "ofcom": _("Ofcom: AMD false positives estimated"),
        },
        state_labels={k: _(v) for k, v in STATE_LABELS.items()},
        controls=[(s.value, _(ACTION_LABELS[s.value])) for s in CONTROLS] if can_control else [],
        transitions={k.value: sorted(v.value for v in vs) for k, vs in TRANSITIONS.items()},
        reports=reports,
        csv_links=csv_links,
        start=first.isoformat(),
        end=last.isoformat(),
        error=error,
        zone=zone,
    )
