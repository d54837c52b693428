"""The campaigns pages: call lists with the upload (preview, column mapping, progress, report), the
campaigns with their state, one campaign's settings (create and edit) with why it cannot dial now, and a
CROC script's preview as the agent will see it. The pages read through the same query code as /api/v1;
uploads and changes go through the API from the pages' scripts (list_upload.js, api_form.js), so a form
and the API share one schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import campaign_service
from app.script_service import script_variables
from app.security import Identity, get_db
from app.web.pages import page, path_id, roles
from app.web.render import N_, gettext
from core.dialer_tables import (
    CallList,
    Campaign,
    CampaignList,
    CustomRuleSet,
    DialMode,
    DncKind,
    DncList,
    ImportJob,
    Lead,
    MachineAction,
    MappingTemplate,
)
from core.errors import NotFound
from core.model_errors import ContentError
from core.models import Queue, Role, Team, utcnow
from dialer.campaign_readiness import dial_blockers
from dialer.campaigns import DEFAULT_RETRY_RULES, TRANSITIONS
from dialer.compliance import WEEKDAYS, RuleSet, builtin_rule_sets
from dialer.croc import Script, load_script, render, shipped_script_paths
from dialer.list_import import STANDARD_FIELDS

router = APIRouter(include_in_schema=False)
STATE_LABELS = {
    "draft": N_("Draft"),
    "running": N_("Running"),
    "paused": N_("Paused"),
    "stopped": N_("Stopped"),
    "finished": N_("Finished"),
}
BLOCKER_LABELS = {  # dialer.campaigns / dialer.campaign_readiness codes
    "no_list": N_("No call list is attached."),
    "no_lead": N_("Its call lists hold no leads."),
    "no_rule_set": N_("Its compliance rule set does not exist."),
    "no_script": N_("Its script does not exist."),
    "no_queue_or_team": N_("It has no queue nor team of agents."),
    "no_agent": N_("No active agent can take its calls: its queue or team has none."),
    "no_consent": N_(
        "Its rule set requires consent and no lead has it: import the list with its consent column mapped."
    ),
    "holiday": N_("Today is a public holiday, and its rule set forbids calls on them."),
    "window_closed": N_("Outside the calling window of its rule set; it opens %(at)s."),
    "window_never": N_("The calling window of its rule set does not open in the next two weeks."),
}
DIAL_MODE_LABELS = {
    "preview": N_("Preview"),
    "progressive": N_("Progressive"),
    "predictive": N_("Predictive"),
}
MACHINE_ACTION_LABELS = {
    "hangup": N_("Hang up and retry later"),
    "message": N_("Leave the recorded message"),
    "agent": N_("Pass it to an agent"),
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


# --- one campaign: create, edit, readiness, state, script preview ----------------------------------------
def _options(rows: list[Any], label: str = "name") -> list[tuple[str, str]]:
    return [(str(r.id), getattr(r, label)) for r in rows]


async def _form_context(db: AsyncSession) -> dict[str, Any]:
    custom = list(await db.scalars(select(CustomRuleSet.name).order_by(CustomRuleSet.name)))
    return {
        "list_options": _options(list(await db.scalars(select(CallList).order_by(CallList.name)))),
        "queue_options": [("", "—"), *_options(list(await db.scalars(select(Queue).order_by(Queue.name))))],
        "team_options": [("", "—"), *_options(list(await db.scalars(select(Team).order_by(Team.name))))],
        "script_options": [("", "—"), *((p.stem, p.stem) for p in shipped_script_paths())],
        "rule_set_options": [(n, n) for n in [*sorted(builtin_rule_sets()), *custom]],
        "dial_mode_options": [(m.value, gettext(DIAL_MODE_LABELS[m.value])) for m in DialMode],
        "machine_action_options": [(a.value, gettext(MACHINE_ACTION_LABELS[a.value])) for a in MachineAction],
    }


@router.get("/campaigns/new")
async def new_campaign_page(
    request: Request, ident: Identity = Depends(roles(Role.manager)), db: AsyncSession = Depends(get_db)
) -> Any:
    return page(
        request,
        "campaign_edit.html",
        ident,
        active="campaigns",
        c=None,
        list_ids=[],
        retry_rules=json.dumps(DEFAULT_RETRY_RULES, indent=2),
        **await _form_context(db),
    )


def windows_text(rs: RuleSet) -> list[tuple[str, str]]:
    """The rule set's calling windows, day by day (local to each called person)."""
    return [(day, ", ".join(str(w) for w in rs.windows.get(day, []))) for day in WEEKDAYS]


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request,
    campaign_id: str,
    ident: Identity = Depends(roles(Role.manager)),
    db: AsyncSession = Depends(get_db),
) -> Any:
    c = await db.get(Campaign, path_id(campaign_id))
    if c is None:
        raise NotFound("no such campaign")
    facts = await campaign_service.readiness_facts(db, c, request.app.state.settings.default_region)
    blockers = [
        gettext(BLOCKER_LABELS[b.code], **({"at": _when(b.at)} if b.at else {}))
        for b in dial_blockers(facts, utcnow())
    ]
    list_ids = list(
        await db.scalars(
            select(CampaignList.list_id)
            .where(CampaignList.campaign_id == c.id)
            .order_by(CampaignList.priority)
        )
    )
    dnc = list(
        await db.scalars(
            select(DncList)
            .where(or_(DncList.kind != DncKind.campaign, DncList.campaign_id == c.id))
            .order_by(DncList.name)
        )
    )
    preview = None
    if c.script:
        preview = await _preview(db, c.script, ident, c, list_ids, request.app.state.settings.default_region)
    return page(
        request,
        "campaign_edit.html",
        ident,
        active="campaigns",
        c=c,
        list_ids=list_ids,
        retry_rules=json.dumps(c.retry_rules, indent=2),
        blockers=blockers,
        rule_set=facts.rule_set,
        windows=windows_text(facts.rule_set) if facts.rule_set else [],
        dnc_lists=dnc,
        transitions=sorted(TRANSITIONS[c.state], key=list(TRANSITIONS).index),
        state_label=gettext(STATE_LABELS[c.state.value]),
        action_labels={k: gettext(v) for k, v in ACTION_LABELS.items()},
        preview=preview,
        **await _form_context(db),
    )


def _when(at: Any) -> str:
    from app.web.render import ENV  # the same date format as every page

    return str(ENV.filters["dt"](at))


def _script_path(name: str) -> Path | None:
    """A shipped script's file by its stem: a name from a URL or the database never becomes a path."""
    return next((p for p in shipped_script_paths() if p.stem == name), None)


def load_preview(path: Path) -> tuple[Script | None, list[str]]:
    """The script, or the problems that keep it from loading (YAML or model errors, one line each)."""
    try:
        return load_script(path), []
    except ContentError as exc:
        return None, list(exc.errors)


async def _preview(
    db: AsyncSession, name: str, ident: Identity, c: Campaign | None, list_ids: list[int], region: str
) -> dict[str, Any]:
    """The script as the agent will see it: steps filled with the first lead of the campaign's lists (or
    left as {placeholders}), the agent's name being the viewer's."""
    path = _script_path(name)
    if path is None:
        return {"name": name, "script": None, "errors": [f"no script named {name!r}"], "steps": []}
    script, errors = load_preview(path)
    lead = None
    if list_ids:
        lead = await db.scalar(select(Lead).where(Lead.list_id.in_(list_ids)).order_by(Lead.id).limit(1))
    variables = script_variables(
        lead_fields=dict(lead.fields) if lead else {},
        contact=None,
        agent_name=ident.user.display_name,
        our_company=None,
        campaign=c.name if c else None,
        phone=None,
    )
    steps = []
    if script is not None:
        for section in script.sections:
            for step in section.steps:
                steps.append((section, step, render(step.text, variables)))
    return {"name": name, "script": script, "errors": errors, "steps": steps, "variables": variables}


@router.get("/campaigns/scripts/{name}")
async def script_page(
    request: Request,
    name: str,
    ident: Identity = Depends(roles(Role.manager)),
    db: AsyncSession = Depends(get_db),
) -> Any:
    if _script_path(name) is None:
        raise NotFound("no such script")
    region = request.app.state.settings.default_region
    return page(
        request,
        "campaign_script.html",
        ident,
        active="campaigns",
        preview=await _preview(db, name, ident, None, [], region),
    )
