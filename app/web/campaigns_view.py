"""The campaigns page: call lists with the upload (preview, column mapping, progress, report) and the
campaigns with their state. The page reads through the same query code as /api/v1; uploads and changes
go through the API from the page's script (web/static/js/list_upload.js)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role
from app.security import Identity, get_db
from app.web.pages import page, roles
from app.web.render import N_, gettext
from dialer.campaigns import TRANSITIONS
from dialer.list_import import STANDARD_FIELDS
from dialer.models import CallList, Campaign, ImportJob, MappingTemplate

router = APIRouter(include_in_schema=False)
STATE_LABELS = {
    "draft": N_("Draft"),
    "running": N_("Running"),
    "paused": N_("Paused"),
    "stopped": N_("Stopped"),
    "finished": N_("Finished"),
}
ACTION_LABELS = {
    "running": N_("Start / resume"),
    "paused": N_("Pause"),
    "stopped": N_("Stop"),
    "finished": N_("Mark finished"),
}


@router.get("/campaigns")
async def campaigns_page(
    request: Request, ident: Identity = Depends(roles(Role.manager)), db: AsyncSession = Depends(get_db)
) -> Any:
    lists = list(await db.scalars(select(CallList).order_by(CallList.name)))
    campaigns = list(await db.scalars(select(Campaign).order_by(Campaign.name)))
    templates = list(await db.scalars(select(MappingTemplate).order_by(MappingTemplate.name)))
    jobs = list(await db.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(10)))
    fields = [*STANDARD_FIELDS, "number", "number:mobile", "number:landline", "number:work", "ignore"]
    return page(
        request,
        "campaigns.html",
        ident,
        active="campaigns",
        lists=lists,
        campaigns=campaigns,
        templates=templates,
        jobs=jobs,
        list_names={cl.id: cl.name for cl in lists},
        fields=fields,
        transitions={
            state: sorted(targets, key=list(TRANSITIONS).index) for state, targets in TRANSITIONS.items()
        },
        state_labels={k: gettext(v) for k, v in STATE_LABELS.items()},
        action_labels={k: gettext(v) for k, v in ACTION_LABELS.items()},
    )
