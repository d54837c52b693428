"""Saving the outcome of a scripted call: the orchestration behind `POST …/script/outcome`.

Once the dialer has written the call's attempt (`DialerService.attempt_written`) and the call's row is in
the history, the outcome's dialer action is applied to the lead (`dialer.script_outcome.apply_outcome`),
one `script` interaction (the answers) and one `disposition` interaction land on the contact's timeline,
the pop is marked disposed and the agent's wrap-up ends. The refusals are domain errors (core/errors.py),
mapped to 409 and 422 once, by app/errors.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.disposition_service import saved_disposition
from app.script_service import ScriptCall
from core.audit import audit
from core.dialer_tables import Lead
from core.errors import Conflict, FieldError, Invalid
from core.models import Call, Contact, Interaction, InteractionKind, PhoneNumber
from cti.ami_wire import AmiError
from cti.numbers import InvalidNumber, parse
from cti.service import CtiService
from dialer.callbacks import CallbackError
from dialer.croc import Script, outcome_blockers
from dialer.script_outcome import apply_outcome

log = logging.getLogger(__name__)
ATTEMPT_WAIT_S = 5.0  # the engine writes a dialer call's attempt just after it ends


class OutcomeConflict(Conflict):
    """The call's state does not allow the outcome now (not ended, already saved)."""

    code = "outcome_refused"


class AttemptWaiter(Protocol):
    async def attempt_written(self, linkedid: str, timeout: float) -> bool: ...


@dataclass(frozen=True)
class OutcomeIn:
    linkedid: str
    answers: dict[str, Any]  # canonical (`normalise_answers`)
    outcome: str
    notes: str | None
    callback_at: datetime | None


async def save_script_outcome(
    db: AsyncSession,
    cti: CtiService,
    dialer: AttemptWaiter | None,
    call_view: ScriptCall,
    body: OutcomeIn,
    *,
    user_id: int,
    username: str,
    phone: str,
    region: str,
    request: Request | None,
) -> dict[str, Any]:
    """Save the outcome; the answer of the API (ids of the timeline entries, the lead's next state)."""
    ctx, script, linkedid, answers = call_view, call_view.script, body.linkedid, body.answers
    outcome = _outcome(script, answers, body.outcome)
    if dialer is not None and not await dialer.attempt_written(linkedid, ATTEMPT_WAIT_S):
        raise OutcomeConflict("the call has not ended yet: save it once it is over")
    await cti.history.drain(timeout=5)  # the call row is written when the call ends
    call = await db.scalar(select(Call).where(Call.linkedid == linkedid))
    if await saved_disposition(db, linkedid, call, user_id) is not None:
        # its effects (lead status, callback) are done: an edit goes through the contact's timeline
        raise OutcomeConflict("this call's outcome is already saved")
    now = datetime.now(UTC)
    if ctx.contact is None and call is not None and call.contact_id is not None:
        ctx.contact = await db.get(Contact, call.contact_id)
    if ctx.contact is None and ctx.lead is not None:
        ctx.contact = await contact_from_lead(db, ctx.lead, ctx.number, region)
    contact_id = ctx.contact.id if ctx.contact else None
    try:
        effect = await apply_outcome(
            db,
            outcome,
            lead_id=ctx.lead.id if ctx.lead else None,
            campaign_id=ctx.campaign.id if ctx.campaign else None,
            number_e164=ctx.number,
            contact_id=contact_id,
            agent_id=user_id,
            callback_at=body.callback_at,
            now=now,
            note=body.notes,
            region=region,
        )
    except CallbackError as exc:
        await db.rollback()
        raise Invalid(exc.message, exc.field) from None
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
        "agent_id": user_id,
        "at": now,
    }
    answered = [{"step": k, "question": labels[k], "answer": v} for k, v in answers.items() if k in labels]
    entry = Interaction(
        kind=InteractionKind.script,
        disposition_code=outcome.disposition,
        body=summary(script, answers),
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
        user_id=user_id,
        target_type="call",
        target_id=linkedid,
        detail={"script": script.id, "outcome": outcome.id, "action": outcome.action.value},
        request=request,
    )
    await db.commit()
    cti.screenpop.disposed(phone, linkedid, outcome.disposition)
    try:
        await cti.end_wrapup(phone)
    except AmiError as exc:  # saved all the same; the agent can press ready
        log.warning("agent: could not end wrap-up for %s: %s", username, exc)
    return {
        "id": entry.id,
        "disposition_id": wrap.id,
        "contact_id": contact_id,
        "outcome": outcome.id,
        "disposition": outcome.disposition,
        "action": effect.action,
        "lead": (
            {"id": ctx.lead.id, "status": effect.lead_status, "next_attempt_at": effect.next_attempt_at}
            if ctx.lead
            else None
        ),
        "callback": (
            {"id": effect.callback_id, "due_at": effect.callback_due_at} if effect.callback_id else None
        ),
        "dnc_added": effect.dnc_added,
    }


def _outcome(script: Script, answers: dict[str, Any], outcome_id: str) -> Any:
    """The script's outcome, once the answers it needs are in."""
    try:
        blockers = outcome_blockers(script, answers, outcome_id)
    except KeyError:
        known = ", ".join(o.id for o in script.outcomes)
        raise Invalid(f"outcome: {outcome_id!r} is not one of {known}") from None
    if blockers:
        raise Invalid.fields(
            FieldError(
                ("body", "answers", b.step_id) if b.step_id else ("body", "outcome"),
                b.message(),
                "missing_answer" if b.step_id else "script_unfinished",
            )
            for b in blockers
        )
    return script.outcome(outcome_id)


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


def summary(script: Script, answers: dict[str, Any]) -> str:
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
