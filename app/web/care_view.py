"""The unhappy-customers page: the file with its reasons, filters, the CSV export and, for managers, the
"make a call list" action (web/static/js/unhappy.js posts to /api/v1/unhappy/call-list)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import unhappy
from app import unhappy_service as unhappy_api
from app.security import Identity, get_db
from app.web.pages import page, roles
from app.web.render import N_, gettext
from core.dialer_tables import Campaign
from core.models import Role

router = APIRouter(include_in_schema=False)
REASON_LABELS = {
    "open_complaint": N_("Open complaint"),
    "low_csat": N_("Low satisfaction (CSAT)"),
    "repeat_calls": N_("Repeated calls"),
    "abandoned_calls": N_("Abandoned calls"),
    "lost": N_("Lost customer"),
}
KIND_LABELS = {"account": N_("Account"), "contact": N_("Contact"), "number": N_("Unknown caller")}


@router.get("/unhappy")
async def unhappy_page(
    request: Request,
    reason: str | None = Query(default=None, max_length=40),
    kind: str | None = Query(default=None, max_length=20),
    ident: Identity = Depends(roles(Role.supervisor, Role.manager)),
    db: AsyncSession = Depends(get_db),
) -> Any:
    reason_ = unhappy.RuleCode(reason) if reason in unhappy.RuleCode.__members__ else None
    kind_ = kind if kind in KIND_LABELS else None
    found = await unhappy_api.filtered(db, request, reason_, kind_)  # type: ignore[arg-type]
    manager = ident.role in (Role.manager, Role.admin)
    campaigns = list(await db.scalars(select(Campaign).order_by(Campaign.name))) if manager else []
    return page(
        request,
        "unhappy.html",
        ident,
        active="unhappy",
        members=found,
        reason=reason_.value if reason_ else None,
        kind=kind_,
        reason_labels={k: gettext(v) for k, v in REASON_LABELS.items()},
        kind_labels={k: gettext(v) for k, v in KIND_LABELS.items()},
        manager=manager,
        campaigns=campaigns,
    )
