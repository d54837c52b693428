"""The CROC script of an agent's current call: which script, the values its placeholders take, the view
the desk shows, the answers kept between requests (in `script_drafts`). The routes
(app/routes/agent_script.py) and the pages call it; saving the outcome is app/script_outcome.py's.

A dialer call carries its campaign's script in the pop (`dialer.script`); an inbound call takes its
queue's (`Queue.script`). The view is `dialer.croc.interpret` of the answers so far, with variables from
the lead's fields, the contact, the agent and the campaign; values are data, filled in as plain text (the
desk inserts them with textContent).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.security import Identity
from core.db import dialect_insert
from core.dialer_tables import Campaign, Lead
from core.errors import Conflict, FieldError, Invalid, NotFound
from core.models import Contact, Queue, ScriptDraft
from core.settings import Settings
from cti.numbers import try_parse
from dialer.croc import (
    SECTION_ORDER,
    Question,
    Script,
    ScriptView,
    StepView,
    interpret,
    load_script,
    normalise_answers,
    outcome_blockers,
    render,
    shipped_script_paths,
)


@dataclass
class ScriptCall:
    """The agent's current call as its script sees it."""

    pop: dict[str, Any]
    script: Script
    lead: Lead | None
    campaign: Campaign | None
    contact: Contact | None
    variables: dict[str, str]

    @property
    def dialer(self) -> dict[str, Any]:
        return self.pop.get("dialer") or {}

    @property
    def number(self) -> str | None:
        caller = self.pop.get("caller") or {}
        return self.dialer.get("number") or caller.get("e164")


# --- the script of a call -----------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _load(path: Path, _mtime: float) -> Script:
    return load_script(path)


def script_named(name: str) -> Script | None:
    """A shipped script by its file stem (a name from the database never becomes a path of its own)."""
    path = next((p for p in shipped_script_paths() if p.stem == name), None)
    if path is None:
        return None
    return _load(path, path.stat().st_mtime)


async def script_name_of(db: AsyncSession, pop: dict[str, Any]) -> str | None:
    """The script a call follows: its campaign's (dialer calls), else its queue's."""
    dialer = pop.get("dialer") or {}
    if dialer.get("script"):
        return str(dialer["script"])
    if pop.get("queue"):
        return await db.scalar(select(Queue.script).where(Queue.name == pop["queue"]))
    return None


def my_pop(current: dict[str, dict[str, Any]], phone: str, linkedid: str) -> dict[str, Any]:
    """The pop of the agent's call `linkedid` (`current`: the pops by phone); NotFound when not theirs."""
    pop = current.get(phone)
    if pop is None or pop.get("linkedid") != linkedid:
        raise NotFound("no such call of yours")
    return pop


async def script_call(
    db: AsyncSession, settings: Settings, ident: Identity, pop: dict[str, Any], contact_id: int | None
) -> ScriptCall | None:
    """The call's script and what fills it in; None when the call follows no script."""
    name = await script_name_of(db, pop)
    if not name:
        return None
    script = script_named(name)
    if script is None:
        raise Conflict(f"this call's script {name!r} does not exist")
    dialer = pop.get("dialer") or {}
    lead = await db.get(Lead, dialer["lead_id"]) if dialer.get("lead_id") else None
    campaign = await db.get(Campaign, dialer["campaign_id"]) if dialer.get("campaign_id") else None
    contact = await _contact(db, pop, lead, contact_id)
    region = settings.default_region
    variables = script_variables(
        lead_fields=(lead.fields if lead else None) or dialer.get("fields") or {},
        contact=contact,
        agent_name=ident.user.display_name,
        our_company=_our_company(settings.outbound_caller_id),
        campaign=campaign.name if campaign else dialer.get("campaign"),
        phone=_display(dialer.get("number") or (pop.get("caller") or {}).get("e164"), region),
    )
    return ScriptCall(pop, script, lead, campaign, contact, variables)


async def _contact(
    db: AsyncSession, pop: dict[str, Any], lead: Lead | None, contact_id: int | None
) -> Contact | None:
    """The person the call is with: the one the agent chose, else the lead's, else the pop's match."""
    if contact_id is not None:
        contact = await db.get(Contact, contact_id)
        if contact is None:
            raise Invalid("contact_id: no such contact")
        return contact
    if lead is not None and lead.contact_id is not None:
        return await db.get(Contact, lead.contact_id)
    matches = pop.get("matches") or []
    return await db.get(Contact, matches[0]["id"]) if matches else None


def script_variables(
    *,
    lead_fields: dict[str, Any],
    contact: Contact | None,
    agent_name: str,
    our_company: str | None,
    campaign: str | None,
    phone: str | None,
) -> dict[str, str]:
    """The values a script's `{name}` placeholders take. The lead's own columns come first (they were
    uploaded for this campaign), the CRM contact fills what they leave empty."""
    values: dict[str, str] = {}
    if contact is not None:
        values |= {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "job_title": contact.job_title or "",
            "email": contact.email or "",
            "company": contact.account.name if contact.account else "",
        }
    for key, value in lead_fields.items():
        text = "" if value is None else str(value)
        if text.strip():
            values[str(key)] = text
    first, _, last = agent_name.strip().partition(" ")
    values |= {"agent_first_name": first, "agent_name": last or first}
    for key, value in (("our_company", our_company), ("campaign", campaign), ("phone", phone)):
        if value and not values.get(key):
            values[key] = value
    return {k: v for k, v in values.items() if v}


def _our_company(caller_id: str) -> str | None:
    """The name the company calls out with: the display part of the outbound caller ID."""
    name = caller_id.partition("<")[0].strip().strip('"').strip()
    return name or None


def _display(e164: str | None, region: str) -> str | None:
    parsed = try_parse(e164, region) if e164 else None
    return parsed.national() if parsed else e164


# --- answers kept between requests ---------------------------------------------------------------------
class Drafts:
    """The answers of one agent's calls whose outcome is not saved yet, in `script_drafts`: a reload of the
    desk keeps them, on whichever node serves it. Each call commits (the request's session)."""

    def __init__(self, db: AsyncSession, user_id: int) -> None:
        self.db, self.user_id = db, user_id

    def _mine(self, linkedid: str) -> tuple[Any, ...]:
        return (ScriptDraft.linkedid == linkedid, ScriptDraft.user_id == self.user_id)

    async def get(self, linkedid: str) -> dict[str, Any]:
        answers = await self.db.scalar(select(ScriptDraft.answers).where(*self._mine(linkedid)))
        return answers or {}

    async def keep(self, linkedid: str, answers: dict[str, Any], now: datetime) -> None:
        row = {"linkedid": linkedid, "user_id": self.user_id, "answers": answers, "updated_at": now}
        upsert = dialect_insert(self.db, ScriptDraft).values(row)
        await self.db.execute(
            upsert.on_conflict_do_update(
                index_elements=["linkedid", "user_id"],
                set_={"answers": upsert.excluded.answers, "updated_at": upsert.excluded.updated_at},
            )
        )
        await self.db.commit()

    async def drop(self, linkedid: str) -> None:
        await self.db.execute(delete(ScriptDraft).where(*self._mine(linkedid)))
        await self.db.commit()


def valid_answers(script: Script, raw: dict[str, Any]) -> dict[str, Any]:
    """Canonical answers, or Invalid naming each question whose answer is not valid."""
    clean, problems = normalise_answers(script, raw)
    if problems:
        labels = {step.id: step.question.label for _, _, step in script.steps() if step.question}
        raise Invalid.fields(
            FieldError(
                ("body", "answers", step_id),
                f"{labels[step_id]}: {why}" if step_id in labels else why,
                "invalid_answer",
            )
            for step_id, why in problems.items()
        )
    return clean


def objection(ctx: ScriptCall | None, objection_id: str) -> dict[str, str]:
    found = next((o for o in ctx.script.objections if o.id == objection_id), None) if ctx else None
    if ctx is None or found is None:
        raise NotFound("no such objection in this call's script")
    return {"id": found.id, "label": found.label, "text": render(found.text, ctx.variables)}


# --- the view -------------------------------------------------------------------------------------------
def _question(q: Question | None) -> dict[str, Any] | None:
    if q is None:
        return None
    return {
        "type": q.type.value,
        "label": q.label,
        "required": q.required,
        "options": [{"value": o.value, "label": o.label} for o in q.options],
        "min": q.min,
        "max": q.max,
    }


def _json_answer(answer: Any) -> Any:
    return answer.isoformat() if isinstance(answer, date) else answer


def _step(s: StepView) -> dict[str, Any]:
    return {
        "id": s.id,
        "section": s.section.value,
        "text": s.text,
        "hint": s.hint,
        "question": _question(s.question),
        "answer": _json_answer(s.answer),
    }


def script_view(ctx: ScriptCall, answers: dict[str, Any]) -> dict[str, Any]:
    script, variables = ctx.script, ctx.variables
    view: ScriptView = interpret(script, variables, answers)
    labels = {step.id: step.question.label for _, _, step in script.steps() if step.question}
    outcomes = []
    for o in script.outcomes:
        blockers = outcome_blockers(script, answers, o.id)
        outcomes.append(
            {
                "id": o.id,
                "label": o.label,
                "disposition": o.disposition,
                "action": o.action.value,
                "callback_in_days": o.callback_in_days,
                "blockers": [{"step": b.step_id, "label": b.label} for b in blockers],
            }
        )
    titles = {section.kind: section.title for section in script.sections}
    return {
        "linkedid": ctx.pop["linkedid"],
        "script": {
            "id": script.id,
            "title": script.title,
            "language": script.language,
            "description": script.description,
        },
        "sections": [{"kind": kind.value, "title": titles.get(kind)} for kind in SECTION_ORDER],
        "campaign": (
            {"id": ctx.campaign.id, "name": ctx.campaign.name}
            if ctx.campaign
            else ({"name": ctx.dialer["campaign"]} if ctx.dialer.get("campaign") else None)
        ),
        "lead_id": ctx.lead.id if ctx.lead else None,
        "contact_id": ctx.contact.id if ctx.contact else None,
        "variables": ctx.variables,
        "answers": {k: _json_answer(v) for k, v in answers.items()},
        "path": [_step(s) for s in view.path],
        "current": _step(view.current) if view.current else None,
        "ended": view.ended,
        "missing": [{"step": step_id, "label": labels.get(step_id)} for step_id in view.missing],
        "invalid": dict(view.invalid),
        "concluded": view.outcome.id if view.outcome else None,
        "outcomes": outcomes,
        "objections": [
            {"id": o.id, "label": o.label, "text": render(o.text, variables)} for o in script.objections
        ],
    }
