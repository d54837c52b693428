"""The CROC script of the agent's current call (`/api/v1/agent/calls/{linkedid}/script…`).

A dialer call carries its campaign's script in the pop (`dialer.script`); an inbound call takes its
queue's (`Queue.script`). The view is `dialer.croc.interpret` of the answers so far, with variables from
the lead's fields, the contact, the agent and the campaign; values are data, filled in as plain text
(the desk inserts them with textContent). Saving the outcome is `app.script_outcome`'s: it checks
`outcome_blockers` server-side, waits for the dialer's attempt, writes one `script` interaction (the
answers) and one `disposition` interaction on the contact, applies the outcome's dialer action to the lead
(`dialer.script_outcome`) and ends the agent's wrap-up.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.routes.agent import AGENT, Linkedid, cti, my_phone
from app.script_outcome import OutcomeIn, OutcomeRefused, ScriptCall, save_script_outcome
from app.security import Identity, get_db
from core.dialer_tables import Campaign, Lead
from core.models import Contact, Queue
from cti.numbers import try_parse
from cti.service import CtiService
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

router = APIRouter(prefix="/agent", tags=["agent"])

StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
DRAFTS_KEPT = 500  # calls whose unsaved answers survive a reload of the desk


class AnswersIn(BaseModel):
    answers: dict[StepId, Any] = Field(default_factory=dict, max_length=200)
    contact_id: int | None = Field(default=None, ge=1, le=2**62)


class OutcomeBody(AnswersIn):
    outcome: StepId
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    callback_at: AwareDatetime | None = None


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


def _my_pop(service: CtiService, ident: Identity, linkedid: str) -> dict[str, Any]:
    pop = service.screenpop.current.get(my_phone(ident))
    if pop is None or pop.get("linkedid") != linkedid:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such call of yours")
    return pop


async def _context(
    request: Request, db: AsyncSession, ident: Identity, linkedid: str, contact_id: int | None
) -> ScriptCall | None:
    pop = _my_pop(cti(request), ident, linkedid)
    name = await script_name_of(db, pop)
    if not name:
        return None
    script = script_named(name)
    if script is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"this call's script {name!r} does not exist")
    dialer = pop.get("dialer") or {}
    lead = await db.get(Lead, dialer["lead_id"]) if dialer.get("lead_id") else None
    campaign = await db.get(Campaign, dialer["campaign_id"]) if dialer.get("campaign_id") else None
    contact = await _contact(db, pop, lead, contact_id)
    region = request.app.state.settings.default_region
    variables = script_variables(
        lead_fields=(lead.fields if lead else None) or dialer.get("fields") or {},
        contact=contact,
        agent_name=ident.user.display_name,
        our_company=_our_company(request.app.state.settings.outbound_caller_id),
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
            raise HTTPException(422, "contact_id: no such contact")
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
def _drafts(request: Request) -> OrderedDict[str, dict[str, Any]]:
    drafts: OrderedDict[str, dict[str, Any]] | None = getattr(request.app.state, "script_drafts", None)
    if drafts is None:
        drafts = request.app.state.script_drafts = OrderedDict()
    return drafts


def _keep_draft(request: Request, linkedid: str, answers: dict[str, Any]) -> None:
    drafts = _drafts(request)
    drafts[linkedid] = answers
    drafts.move_to_end(linkedid)
    while len(drafts) > DRAFTS_KEPT:
        drafts.popitem(last=False)


def _valid_answers(script: Script, raw: dict[str, Any]) -> dict[str, Any]:
    """Canonical answers, or 422 naming each question whose answer is not valid."""
    clean, problems = normalise_answers(script, raw)
    if problems:
        labels = {step.id: step.question.label for _, _, step in script.steps() if step.question}
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "answers", step_id],
                    "msg": f"{labels[step_id]}: {why}" if step_id in labels else why,
                    "type": "invalid_answer",
                }
                for step_id, why in problems.items()
            ],
        )
    return clean


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


@router.get("/calls/{linkedid}/script")
async def get_script(
    linkedid: Linkedid,
    request: Request,
    contact_id: int | None = None,
    ident: Identity = Depends(AGENT),
    db: AsyncSession = Depends(get_db),
) -> dict[str, Any]:
    """The call's script where the agent left it (`{"script": null}` when the call has none)."""
    ctx = await _context(request, db, ident, linkedid, contact_id)
    if ctx is None:
        return {"linkedid": linkedid, "script": None}
    return script_view(ctx, _drafts(request).get(linkedid, {}))


@router.post("/calls/{linkedid}/script/answers")
async def post_answers(
    linkedid: Linkedid,
    body: AnswersIn,
    request: Request,
    ident: Identity = Depends(AGENT),
    db: AsyncSession = Depends(get_db),
) -> dict[str, Any]:
    """Every answer so far (the interpreter replays them): the view back, or 422 naming the question."""
    ctx = await _context(request, db, ident, linkedid, body.contact_id)
    if ctx is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this call has no script")
    answers = _valid_answers(ctx.script, body.answers)
    _keep_draft(request, linkedid, answers)
    return script_view(ctx, answers)


@router.get("/calls/{linkedid}/script/objections/{objection_id}")
async def get_objection(
    linkedid: Linkedid,
    objection_id: StepId,
    request: Request,
    ident: Identity = Depends(AGENT),
    db: AsyncSession = Depends(get_db),
) -> dict[str, str]:
    ctx = await _context(request, db, ident, linkedid, None)
    found = next((o for o in ctx.script.objections if o.id == objection_id), None) if ctx else None
    if ctx is None or found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such objection in this call's script")
    return {"id": found.id, "label": found.label, "text": render(found.text, ctx.variables)}


@router.post("/calls/{linkedid}/script/outcome", status_code=201)
async def save_outcome(
    linkedid: Linkedid,
    body: OutcomeBody,
    request: Request,
    ident: Identity = Depends(AGENT),
    db: AsyncSession = Depends(get_db),
) -> dict[str, Any]:
    """The wrap-up of a scripted call: its outcome, once the answers it needs are in."""
    ctx = await _context(request, db, ident, linkedid, body.contact_id)
    if ctx is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this call has no script: use /disposition")
    answers = _valid_answers(ctx.script, body.answers)
    _keep_draft(request, linkedid, answers)
    outcome = OutcomeIn(linkedid, answers, body.outcome, body.notes, body.callback_at)
    try:
        saved = await save_script_outcome(
            db,
            cti(request),
            getattr(request.app.state, "dialer", None),
            ctx,
            outcome,
            user_id=ident.user.id,
            username=ident.user.username,
            phone=my_phone(ident),
            region=request.app.state.settings.default_region,
            request=request,
        )
    except OutcomeRefused as exc:
        code = status.HTTP_409_CONFLICT if exc.kind == "conflict" else 422
        raise HTTPException(code, exc.detail) from None
    _drafts(request).pop(linkedid, None)
    return saved
