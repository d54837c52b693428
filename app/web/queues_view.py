"""The queues, skills and phones administration page (/admin/queues). Plain HTML forms posted to the
server, validated by the API's own schemas (app/queue_schemas.py) and rules (app/queue_admin.py); a
refused form comes back with each error next to its field and what was typed kept."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import queue_admin
from app.deps import state_of
from app.queue_admin import Live
from app.queue_schemas import MemberIn, QueueIn, QueuePatch
from app.security import Identity, get_db
from app.web.pages import check_csrf, page, roles
from app.web.render import N_, gettext
from core.audit import audit
from core.errors import Conflict, DomainError, NotFound
from core.models import Queue, Team, User
from cti.phones import REALM, reset_password
from cti.queues_conf import SKILL_MAX, SKILL_MIN, STRATEGIES

router = APIRouter(include_in_schema=False)
PATH = "/admin/queues"
QUEUE_FIELDS = tuple(QueueIn.model_fields)
# what the new-queue form starts with: the schema's own defaults
NEW_DEFAULTS = {k: f.default for k, f in QueueIn.model_fields.items() if not f.is_required()}

STRATEGY_LABELS = {
    "ringall": N_("Ring all"),
    "leastrecent": N_("Least recently called"),
    "fewestcalls": N_("Fewest calls"),
    "random": N_("Random"),
    "rrmemory": N_("Round robin (remembers)"),
    "rrordered": N_("Round robin (ordered)"),
    "linear": N_("Hunt group (in order)"),
    "wrandom": N_("Weighted random"),
}
# What each field accepts, said next to it when the schema refuses it.
FIELD_HINTS = {
    "name": N_(
        "Lowercase letters a-z, digits, _ and - only, starting with a letter; not a reserved name "
        "such as general."
    ),
    "display_name": N_("Required, at most 200 characters."),
    "team_id": N_("Choose a team from the list."),
    "strategy": N_("Choose a strategy from the list."),
    "wrapup_s": N_("A number of seconds from 0 to 3600."),
    "service_level_s": N_("A number of seconds from 1 to 3600."),
    "sl_variant": N_("Choose a formula from the list."),
    "sl_target_pct": N_("A percentage from 1 to 100."),
    "short_abandon_s": N_("A number of seconds from 0 to 600."),
    "max_wait_s": N_("A number of seconds from 5 to 86400, or empty."),
    "overflow": N_("The name of another queue, or empty."),
    "did": N_("Digits only (an optional + first), 2 to 20."),
    "script": N_("At most 120 characters."),
    "skill": N_("A skill from 1 (best) to 9."),
    "user_id": N_("Choose a user."),
}
REFUSALS = {
    "no_team": N_("No such team."),
    "overflow_self": N_("A queue cannot overflow into itself."),
    "no_queue": N_("No queue is named %(name)s."),
    "taken": N_("Already used by another queue."),
    "not_found": N_("No such queue."),
    "waiting": N_(
        "Queue %(name)s has %(n)s call(s) waiting: try again once they have been answered or have left."
    ),
    "overflow_refs": N_("Queues %(names)s overflow into this one: change them first."),
    "campaign_refs": N_("Campaigns %(names)s use this queue: give them another one first."),
    "required": N_("Required."),
    "no_user": N_("No such user."),
    "no_phone": N_("%(user)s has no phone: give them one on the users page first."),
    "not_member": N_("Not a member of this queue."),
}


def _refusal(exc: DomainError) -> dict[str, str]:
    text = gettext(REFUSALS[exc.key], **exc.params) if exc.key in REFUSALS else exc.message
    return {str(exc.field) if exc.field is not None else "_": text}


def _schema_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else "_"
        errors.setdefault(field, gettext(FIELD_HINTS[field]) if field in FIELD_HINTS else e["msg"])
    return errors


async def _form(request: Request, ident: Identity) -> dict[str, str]:
    form = await request.form()
    check_csrf(ident, str(form.get("csrf_token", "")))
    return {k: str(v).strip() for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}


def _typed(form: dict[str, str], fields: tuple[str, ...], empty_is_null: bool) -> dict[str, Any]:
    """A form's values for the schema: an empty optional field is null (cleared), a missing one unset."""
    out: dict[str, Any] = {}
    for k in fields:
        if k in form:
            out[k] = form[k] if form[k] != "" else None
    if not empty_is_null:
        out = {k: v for k, v in out.items() if v is not None}
    return out


async def _render(
    request: Request,
    ident: Identity,
    db: AsyncSession,
    selected: int | None = None,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    form: str = "",
    status: int = 200,
    notice: str | None = None,
    credentials: dict[str, str] | None = None,
) -> Response:
    live = Live.of(request)
    queues = list(await db.scalars(select(Queue).order_by(Queue.name)))
    current = next((q for q in queues if q.id == selected), None)
    members = await queue_admin.members(db, live, current.id) if current else []
    phones = list(
        await db.scalars(select(User).where(User.sip_endpoint.is_not(None)).order_by(User.username))
    )
    registered = {}
    if live.cti is not None:
        registered = {ep: a.registered for ep, a in live.cti.tracker.agents.items()}
    candidates = await queue_admin.candidates(db, current.id) if current else []
    skills = [(s, str(s)) for s in range(SKILL_MIN, SKILL_MAX + 1)]
    resp = page(
        request,
        "admin_queues.html",
        ident,
        active="admin",
        queues=queues,
        current=current,
        members=members,
        candidate_options=[(u.id, f"{u.display_name} ({u.username})") for u in candidates],
        counts=await queue_admin.member_counts(db),
        waiting={q.name: live.waiting(q.name) for q in queues},
        team_options=[(t.id, t.name) for t in await db.scalars(select(Team).order_by(Team.name))],
        queue_options=[(q.name, f"{q.name} — {q.display_name}") for q in queues],
        phones=phones,
        registered=registered,
        strategies=[(s, gettext(STRATEGY_LABELS[s])) for s in STRATEGIES],
        skills=range(SKILL_MIN, SKILL_MAX + 1),
        skill_options=skills,
        errors=errors or {},
        typed=typed or {},
        form=form,
        form_is=lambda prefix: prefix == form or (prefix == "edit" and form == "delete"),
        notice=notice,
        credentials=credentials,
        provisioned=live.provisioner is not None,
        new_defaults=NEW_DEFAULTS,
    )
    resp.status_code = status
    if credentials:
        resp.headers["Cache-Control"] = "no-store"  # the password is shown this once
    return resp


def _back(queue_id: int | None = None, notice: str = "") -> RedirectResponse:
    query = f"?q={queue_id}" if queue_id else ""
    if notice:
        query += ("&" if query else "?") + f"done={notice}"
    return RedirectResponse(PATH + query, 303)


NOTICES = {
    "created": N_("Queue created; Asterisk has it now."),
    "saved": N_("Saved; Asterisk has it now."),
    "deleted": N_("Queue deleted."),
    "skill": N_("Skill saved."),
    "removed": N_("Member removed."),
}


@router.get(PATH)
async def queues_page(
    request: Request,
    q: int | None = None,
    done: str | None = None,
    ident: Identity = Depends(roles()),
    db: AsyncSession = Depends(get_db),
) -> Response:
    notice = gettext(NOTICES[done]) if done in NOTICES else None
    return await _render(request, ident, db, q, notice=notice)


def _refused_status(exc: DomainError) -> int:
    return 409 if isinstance(exc, Conflict) else 422  # on a form, a missing thing is a refused field


@router.post(PATH)
async def create_queue(
    request: Request, ident: Identity = Depends(roles()), db: AsyncSession = Depends(get_db)
) -> Response:
    form = await _form(request, ident)
    try:
        body = QueueIn.model_validate(_typed(form, QUEUE_FIELDS, empty_is_null=False))
        queue, _applied = await queue_admin.create_queue(db, Live.of(request), ident.user.id, body, request)
    except ValidationError as exc:
        return await _render(
            request, ident, db, errors=_schema_errors(exc), typed=form, form="new", status=422
        )
    except DomainError as exc:
        return await _render(
            request, ident, db, errors=_refusal(exc), typed=form, form="new", status=_refused_status(exc)
        )
    return _back(queue.id, "created")


@router.post(PATH + "/{queue_id}")
async def update_queue(
    queue_id: int, request: Request, ident: Identity = Depends(roles()), db: AsyncSession = Depends(get_db)
) -> Response:
    form = await _form(request, ident)
    try:
        body = QueuePatch.model_validate(_typed(form, QUEUE_FIELDS, empty_is_null=True))
        await queue_admin.update_queue(db, Live.of(request), ident.user.id, queue_id, body, request)
    except ValidationError as exc:
        return await _render(
            request, ident, db, queue_id, errors=_schema_errors(exc), typed=form, form="edit", status=422
        )
    except DomainError as exc:
        return await _render(
            request, ident, db, queue_id, errors=_refusal(exc), typed=form, form="edit",
            status=_refused_status(exc),
        )  # fmt: skip
    return _back(queue_id, "saved")


@router.post(PATH + "/{queue_id}/delete")
async def delete_queue(
    queue_id: int, request: Request, ident: Identity = Depends(roles()), db: AsyncSession = Depends(get_db)
) -> Response:
    await _form(request, ident)
    try:
        await queue_admin.delete_queue(db, Live.of(request), ident.user.id, queue_id, request)
    except DomainError as exc:
        return await _render(
            request, ident, db, queue_id, errors=_refusal(exc), form="delete", status=_refused_status(exc)
        )
    return _back(None, "deleted")


@router.post(PATH + "/{queue_id}/members")
async def set_member(
    queue_id: int, request: Request, ident: Identity = Depends(roles()), db: AsyncSession = Depends(get_db)
) -> Response:
    """Add a member with a skill, or change a member's skill (the same form on each member's row)."""
    form = await _form(request, ident)
    try:
        body = MemberIn.model_validate(_typed(form, ("user_id", "skill"), empty_is_null=False))
        await queue_admin.set_skill(
            db, Live.of(request), ident.user.id, queue_id, body.user_id, body.skill, request
        )
    except ValidationError as exc:
        return await _render(
            request, ident, db, queue_id, errors=_schema_errors(exc), typed=form, form="member", status=422
        )
    except DomainError as exc:
        return await _render(
            request, ident, db, queue_id, errors=_refusal(exc), typed=form, form="member",
            status=_refused_status(exc),
        )  # fmt: skip
    return _back(queue_id, "skill")


@router.post(PATH + "/{queue_id}/members/{user_id}/delete")
async def remove_member(
    queue_id: int,
    user_id: int,
    request: Request,
    ident: Identity = Depends(roles()),
    db: AsyncSession = Depends(get_db),
) -> Response:
    await _form(request, ident)
    try:
        await queue_admin.remove_member(db, Live.of(request), ident.user.id, queue_id, user_id, request)
    except DomainError as exc:
        return await _render(request, ident, db, queue_id, errors=_refusal(exc), form="member", status=422)
    return _back(queue_id, "removed")


@router.post(PATH + "/phones/{user_id}/password")
async def phone_password(
    user_id: int, request: Request, ident: Identity = Depends(roles()), db: AsyncSession = Depends(get_db)
) -> Response:
    """A new SIP password for a desk phone or softphone, shown on the page this once."""
    await _form(request, ident)
    user = await db.get(User, user_id)
    if user is None or not user.sip_endpoint:
        raise NotFound("no such phone")
    password = await reset_password(db, user)
    audit(db, "phone.password_reset", user_id=ident.user.id, target_type="user", target_id=user.id,
          request=request)  # fmt: skip
    await db.commit()
    applied = await state_of(request).apply_phones(db)
    credentials = {
        "user": user.sip_endpoint,
        "password": password,
        "realm": REALM,
        "applied": "yes" if applied else "",
    }
    return await _render(request, ident, db, credentials=credentials)
