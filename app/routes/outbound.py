"""Outbound API (issue 5): call lists, imports, templates, DNC, campaigns, rule sets, callbacks."""

from __future__ import annotations

from fastapi import APIRouter

from app.routes import campaigns, lists

router = APIRouter()
router.include_router(lists.router)
router.include_router(campaigns.router)
