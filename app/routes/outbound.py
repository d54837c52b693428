"""Outbound API: call lists, imports, templates, DNC, campaigns, rule sets, callbacks, and the
CROC script of an agent's call."""

from __future__ import annotations

from fastapi import APIRouter

from app.routes import agent_script, callbacks, campaigns, dnc_lists, list_templates, lists, rule_sets

router = APIRouter()
router.include_router(lists.router)
router.include_router(list_templates.router)
router.include_router(dnc_lists.router)
router.include_router(campaigns.router)
router.include_router(rule_sets.router)
router.include_router(callbacks.router)
router.include_router(agent_script.router)
