"""The CROC script of the agent's current call (`/api/v1/agent/calls/{linkedid}/script…`): the script, the
answers so far, the objections, and the outcome that ends the call's wrap-up. The work is
app/script_service.py's (the script and its view) and app/script_outcome.py's (saving the outcome)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from app import script_service as svc
from app.deps import Agent, Config, Cti, Db, MaybeDialer, my_phone
from app.routes.agent import Linkedid
from app.script_outcome import OutcomeIn, save_script_outcome
from core.errors import Conflict

router = APIRouter(prefix="/agent", tags=["agent"])

StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class AnswersIn(BaseModel):
    answers: dict[StepId, Any] = Field(default_factory=dict, max_length=200)
    contact_id: int | None = Field(default=None, ge=1, le=2**62)


class OutcomeBody(AnswersIn):
    outcome: StepId
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    callback_at: AwareDatetime | None = None


async def _call(
    db: Db, settings: Config, cti: Cti, ident: Agent, linkedid: str, contact_id: int | None
) -> svc.ScriptCall | None:
    pop = svc.my_pop(cti.screenpop.current, my_phone(ident), linkedid)
    return await svc.script_call(db, settings, ident, pop, contact_id)


def _drafts(db: Db, ident: Agent) -> svc.Drafts:
    return svc.Drafts(db, ident.user.id)


@router.get("/calls/{linkedid}/script")
async def get_script(
    linkedid: Linkedid, db: Db, settings: Config, cti: Cti, ident: Agent, contact_id: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The call's script where the agent left it (`{"script": null}` when the call has none)."""
    ctx = await _call(db, settings, cti, ident, linkedid, contact_id)
    if ctx is None:
        return {"linkedid": linkedid, "script": None}
    return svc.script_view(ctx, await _drafts(db, ident).get(linkedid))


@router.post("/calls/{linkedid}/script/answers")
async def post_answers(
    linkedid: Linkedid, body: AnswersIn, db: Db, settings: Config, cti: Cti, ident: Agent
) -> dict[str, Any]:
    """Every answer so far (the interpreter replays them): the view back, or 422 naming the question."""
    ctx = await _call(db, settings, cti, ident, linkedid, body.contact_id)
    if ctx is None:
        raise Conflict("this call has no script")
    answers = svc.valid_answers(ctx.script, body.answers)
    await _drafts(db, ident).keep(linkedid, answers, datetime.now(UTC))
    return svc.script_view(ctx, answers)


@router.get("/calls/{linkedid}/script/objections/{objection_id}")
async def get_objection(
    linkedid: Linkedid, objection_id: StepId, db: Db, settings: Config, cti: Cti, ident: Agent
) -> dict[str, str]:
    return svc.objection(await _call(db, settings, cti, ident, linkedid, None), objection_id)


@router.post("/calls/{linkedid}/script/outcome", status_code=201)
async def save_outcome(
    linkedid: Linkedid, body: OutcomeBody, request: Request, db: Db, settings: Config, cti: Cti,
    dialer: MaybeDialer, ident: Agent,
) -> dict[str, Any]:  # fmt: skip
    """The wrap-up of a scripted call: its outcome, once the answers it needs are in."""
    ctx = await _call(db, settings, cti, ident, linkedid, body.contact_id)
    if ctx is None:
        raise Conflict("this call has no script: use /disposition")
    answers = svc.valid_answers(ctx.script, body.answers)
    drafts = _drafts(db, ident)
    await drafts.keep(linkedid, answers, datetime.now(UTC))  # kept should the save fail (call not over yet)
    outcome = OutcomeIn(linkedid, answers, body.outcome, body.notes, body.callback_at)
    saved = await save_script_outcome(
        db, cti, dialer, ctx, outcome, user_id=ident.user.id, username=ident.user.username,
        phone=my_phone(ident), region=settings.default_region, request=request,
    )  # fmt: skip
    await drafts.drop(linkedid)
    return saved
