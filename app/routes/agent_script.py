"""The CROC script of the agent's current call (`/api/v1/agent/calls/{linkedid}/script…`).

A dialer call carries its campaign's script in the pop (`dialer.script`); an inbound call takes its
queue's (`Queue.script`). The view is `dialer.croc.interpret` of the answers so far, with variables from
the lead's fields, the contact, the agent and the campaign; values are data, filled in as plain text
(the desk inserts them with textContent). Saving the outcome checks `outcome_blockers` server-side,
writes one `script` interaction (the answers) and one `disposition` interaction on the contact, applies
the outcome's dialer action to the lead (`dialer.script_outcome`) and ends the agent's wrap-up.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.routes.agent import AGENT, Linkedid, cti, my_phone, saved_disposition
from app.security import Identity, get_db
from core.audit import audit
from core.dialer_tables import Campaign, Lead
from core.models import Call, Contact, Interaction, InteractionKind, PhoneNumber, Queue
from cti.ami_wire import AmiError
from cti.numbers import InvalidNumber, parse, try_parse
from cti.service import CtiService
from dialer.callbacks import CallbackError
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
from dialer.script_outcome import apply_outcome

log = logging.getLogger(__name__)
router = APIRouter(prefix="/agent", tags=["agent"])

StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
DRAFTS_KEPT = 500  # calls whose unsaved answers survive a reload of the desk
ATTEMPT_WAIT_S = 5.0  # the engine writes a dialer call's attempt just after it ends


class AnswersIn(BaseModel):
    answers: dict[StepId, Any] = Field(default_factory=dict, max_length=200)
    contact_id: int | None = Field(default=None, ge=1, le=2**62)


class OutcomeIn(AnswersIn):
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


class _Context:
    def __init__(
        self,
        pop: dict[str, Any],
        script: Script,
        lead: Lead | None,
        campaign: Campaign | None,
        contact: Contact | None,
        variables: dict[str, Any],
    ) -> None:
        self.pop, self.script, self.lead, self.campaign = pop, script, lead, campaign
        self.contact, self.variables = contact, variables

    @property
    def dialer(self) -> dict[str, Any]:
        return self.pop.get("dialer") or {}

    @property
    def number(self) -> str | None:
        caller = self.pop.get("caller") or {}
        return self.dialer.get("number") or caller.get("e164")


async def _context(
    request: Request, db: AsyncSession, ident: Identity, linkedid: str, contact_id: int | None
) -> _Context | None:
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
    return _Context(pop, script, lead, campaign, contact, variables)


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


async def contact_from_lead(db: AsyncSession, lead: Lead, e164: str | None, region: str) -> Contact:
    """A CRM contact for a lead reached for the first time, so the answers land on a timeline."""
    fields = lead.fields or {}

    def text(key: str, size: int) -> str:
        value = fields.get(key)
        return "" if value is None else str(value).strip()[:size]

    contact = Contact(
        first_name=text("first_name", 120),
        last_name=text("last_name", 120) or text("company", 120) or (e164 or "?"),
        job_title=text("job_title", 120) or None,
        email=text("email", 254) or None,
    )
    if e164:
        try:
            p = parse(e164, region)
            contact.numbers = [PhoneNumber(e164=p.e164, suffix_key=p.suffix_key, raw=e164)]
        except InvalidNumber:
            pass  # the contact is still worth keeping: the lead's number stays on the lead
    db.add(contact)
    await db.flush()
    lead.contact_id = contact.id
    return contact


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


def script_view(ctx: _Context, answers: dict[str, Any]) -> dict[str, Any]:
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
    body: OutcomeIn,
    request: Request,
    ident: Identity = Depends(AGENT),
    db: AsyncSession = Depends(get_db),
) -> dict[str, Any]:
    """The wrap-up of a scripted call: its outcome, once the answers it needs are in."""
    service = cti(request)
    ctx = await _context(request, db, ident, linkedid, body.contact_id)
    if ctx is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this call has no script: use /disposition")
    script = ctx.script
    answers = _valid_answers(script, body.answers)
    _keep_draft(request, linkedid, answers)
    try:
        blockers = outcome_blockers(script, answers, body.outcome)
    except KeyError:
        known = ", ".join(o.id for o in script.outcomes)
        raise HTTPException(422, f"outcome: {body.outcome!r} is not one of {known}") from None
    if blockers:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "answers", b.step_id] if b.step_id else ["body", "outcome"],
                    "msg": b.message(),
                    "type": "missing_answer" if b.step_id else "script_unfinished",
                }
                for b in blockers
            ],
        )
    outcome = script.outcome(body.outcome)
    await _call_over(request, linkedid)
    await service.history.drain(timeout=5)  # the call row is written when the call ends
    call = await db.scalar(select(Call).where(Call.linkedid == linkedid))
    if await saved_disposition(db, linkedid, call, ident.user.id) is not None:
        # its effects (lead status, callback) are done: an edit goes through the contact's timeline
        raise HTTPException(status.HTTP_409_CONFLICT, "this call's outcome is already saved")
    now = datetime.now(UTC)
    if ctx.contact is None and call is not None and call.contact_id is not None:
        ctx.contact = await db.get(Contact, call.contact_id)
    if ctx.contact is None and ctx.lead is not None:
        ctx.contact = await contact_from_lead(
            db, ctx.lead, ctx.number, request.app.state.settings.default_region
        )
    contact_id = ctx.contact.id if ctx.contact else None
    try:
        effect = await apply_outcome(
            db,
            outcome,
            lead_id=ctx.lead.id if ctx.lead else None,
            campaign_id=ctx.campaign.id if ctx.campaign else None,
            number_e164=ctx.number,
            contact_id=contact_id,
            agent_id=ident.user.id,
            callback_at=body.callback_at,
            now=now,
            note=body.notes,
            region=request.app.state.settings.default_region,
        )
    except CallbackError as exc:
        await db.rollback()
        raise HTTPException(
            422,
            [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}],
        ) from None
    if call is not None and call.ended_at is not None:
        ended = call.ended_at if call.ended_at.tzinfo else call.ended_at.replace(tzinfo=UTC)
        await db.execute(
            update(Call).where(Call.id == call.id).values(wrap_s=round((now - ended).total_seconds(), 3))
        )
    labels = {step.id: step.question.label for _, _, step in script.steps() if step.question}
    common = {
        "contact_id": contact_id,
        "account_id": ctx.contact.account_id if ctx.contact else None,
        "call_id": call.id if call else None,
        "agent_id": ident.user.id,
        "at": now,
    }
    answered = [{"step": k, "question": labels[k], "answer": v} for k, v in answers.items() if k in labels]
    entry = Interaction(
        kind=InteractionKind.script,
        disposition_code=outcome.disposition,
        body=_summary(script, answers),
        data={
            "linkedid": linkedid,
            "script": script.id,
            "title": script.title,
            "label": f"{script.title} — {outcome.label}",
            "outcome": outcome.id,
            "action": outcome.action.value,
            "answers": answers,
            "questions": answered,
            "lead_id": ctx.lead.id if ctx.lead else None,
            "campaign_id": ctx.campaign.id if ctx.campaign else None,
        },
        **common,
    )
    wrap = Interaction(
        kind=InteractionKind.disposition,
        disposition_code=outcome.disposition,
        body=body.notes,
        data={"linkedid": linkedid, "label": outcome.label, "script": script.id},
        **common,
    )
    db.add_all([entry, wrap])
    audit(
        db,
        "call.script_outcome",
        user_id=ident.user.id,
        target_type="call",
        target_id=linkedid,
        detail={"script": script.id, "outcome": outcome.id, "action": outcome.action.value},
        request=request,
    )
    await db.commit()
    _drafts(request).pop(linkedid, None)
    service.screenpop.disposed(my_phone(ident), linkedid, outcome.disposition)
    try:
        await service.end_wrapup(my_phone(ident))
    except AmiError as exc:  # saved all the same; the agent can press ready
        log.warning("agent: could not end wrap-up for %s: %s", ident.user.username, exc)
    return {
        "id": entry.id,
        "disposition_id": wrap.id,
        "contact_id": contact_id,
        "outcome": outcome.id,
        "disposition": outcome.disposition,
        "action": effect.action,
        "lead": (
            {
                "id": ctx.lead.id,
                "status": effect.lead_status,
                "next_attempt_at": effect.next_attempt_at,
            }
            if ctx.lead
            else None
        ),
        "callback": (
            {"id": effect.callback_id, "due_at": effect.callback_due_at} if effect.callback_id else None
        ),
        "dnc_added": effect.dnc_added,
    }


async def _call_over(request: Request, linkedid: str) -> None:
    """A dialer call's attempt is written when it ends: wait for it, or refuse while it is still up."""
    dialer = getattr(request.app.state, "dialer", None)
    calls = getattr(dialer, "calls", None)
    if calls is None:
        return
    deadline = time.monotonic() + ATTEMPT_WAIT_S
    while linkedid in calls:
        if time.monotonic() > deadline:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "the call has not ended yet: save it once it is over"
            )
        await asyncio.sleep(0.05)


def _summary(script: Script, answers: dict[str, Any]) -> str:
    """The answers as the timeline shows them: one line per question, choices by their labels."""
    yes, no = ("oui", "non") if script.language == "fr" else ("yes", "no")
    lines = []
    for _, _, step in script.steps():
        q = step.question
        if q is None or step.id not in answers:
            continue
        value = answers[step.id]
        options = {o.value: o.label for o in q.options}
        if isinstance(value, bool):
            text = yes if value else no
        elif isinstance(value, list):
            text = ", ".join(options.get(v, str(v)) for v in value)
        elif value is None or value == "":
            text = "—"
        else:
            text = options.get(value, str(value)) if isinstance(value, str) else f"{value:g}"
        lines.append(f"{q.label} : {text}")
    return "\n".join(lines)[:10_000]
