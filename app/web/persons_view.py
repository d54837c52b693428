"""The data-rights page (admins): find a person by number, e-mail or contact id, see what Plateau holds about
them, download it as a ZIP (the API's export), record their objection to calls, erase them (saying what a
legal hold kept). Plain forms: the actions are `app/person_data/`'s, audited like the API's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app import person_data
from app.person_data import BadQuery, Person, PersonNotFound
from app.security import Identity, get_db
from app.web.pages import check_csrf, page, roles
from app.web.render import N_, gettext
from core.recording_store import store_for

router = APIRouter(include_in_schema=False)
KIND_LABELS = {
    "contacts": N_("Contact"),
    "accounts": N_("Company"),
    "calls": N_("Calls"),
    "calls_in_progress": N_("Calls in progress"),
    "timeline": N_("Timeline"),
    "complaints": N_("Complaints"),
    "ivr_sessions": N_("IVR sessions"),
    "leads": N_("Call-list leads"),
    "callbacks": N_("Callbacks"),
    "do_not_call": N_("Do-not-call entries"),
    "import_rejects": N_("Import report lines"),
    "audit_log": N_("Audit log entries"),
    "survey_answers": N_("Survey answers"),
    "recordings": N_("Call recordings"),
}
FIELD_LABELS = {"number": N_("Phone number"), "email": N_("E-mail"), "contact_id": N_("Contact id")}


def _query(number: str, email: str, contact_id: str) -> dict[str, Any]:
    """The one filled field of the form (blank ones are not a query); a contact id must be a number."""
    q: dict[str, Any] = {}
    if number.strip():
        q["number"] = number.strip()
    if email.strip():
        q["email"] = email.strip()
    if contact_id.strip():
        if not contact_id.strip().isdigit() or not 0 < int(contact_id) < 2**62:
            raise BadQuery("contact_id", "not a contact id")
        q["contact_id"] = int(contact_id)
    return q


async def _person(request: Request, db: AsyncSession, q: dict[str, Any]) -> Person:
    return await person_data.resolve(db, **q, region=request.app.state.settings.default_region)


def _error(exc: Exception) -> str:
    if isinstance(exc, PersonNotFound):
        return gettext("No such contact.")
    assert isinstance(exc, BadQuery)
    if exc.field == "query":
        return gettext("Fill in exactly one field: a phone number, an e-mail or a contact id.")
    return gettext(
        "%(field)s: %(reason)s", field=gettext(FIELD_LABELS.get(exc.field, exc.field)), reason=exc.reason
    )


def _failed(request: Request, ident: Identity, exc: Exception) -> Any:
    response = page(request, "persons.html", ident, active="admin", q={}, error=_error(exc))
    response.status_code = 404 if isinstance(exc, PersonNotFound) else 422
    return response


async def _show(
    request: Request, ident: Identity, db: AsyncSession, q: dict[str, Any], message: str | None = None
) -> Any:
    ctx: dict[str, Any] = {"q": q, "message": message, "found": None}
    if q:
        try:
            person = await _person(request, db, q)
        except (BadQuery, PersonNotFound) as exc:
            return _failed(request, ident, exc)
        else:
            gathered = await person_data.gather(db, person, store_for(request.app.state.settings))
            detail = {"counts": gathered.counts(), "via": "page"}
            person_data.audit_person(
                db, "person_looked_up", person, detail, user_id=ident.user.id, request=request
            )
            await db.commit()
            ctx["found"] = {"person": person, "counts": gathered.counts()}
            ctx["export_href"] = "/api/v1/persons/export?" + urlencode(q)
    return page(request, "persons.html", ident, active="admin", kind_labels=KIND_LABELS, **ctx)


@router.get("/admin/persons")
async def persons_page(
    request: Request,
    number: str = Query(default="", max_length=64),
    email: str = Query(default="", max_length=254),
    contact_id: str = Query(default="", max_length=20),
    ident: Identity = Depends(roles()),
    db: AsyncSession = Depends(get_db),
) -> Any:
    try:
        q = _query(number, email, contact_id)
    except BadQuery as exc:
        return page(
            request, "persons.html", ident, active="admin", q={}, error=_error(exc), kind_labels=KIND_LABELS
        )
    return await _show(request, ident, db, q)


@router.post("/admin/persons/{action}")
async def persons_action(
    request: Request,
    action: str,
    number: str = Form(default="", max_length=64),
    email: str = Form(default="", max_length=254),
    contact_id: str = Form(default="", max_length=20),
    confirm: str = Form(default="", max_length=10),
    csrf_token: str = Form(default="", max_length=200),
    ident: Identity = Depends(roles()),
    db: AsyncSession = Depends(get_db),
) -> Any:
    check_csrf(ident, csrf_token)
    if action not in ("erase", "objection"):
        return await _show(request, ident, db, {}, gettext("Unknown action."))
    try:
        q = _query(number, email, contact_id)
        person = await _person(request, db, q)
    except (BadQuery, PersonNotFound) as exc:
        return page(
            request, "persons.html", ident, active="admin", q={}, error=_error(exc), kind_labels=KIND_LABELS
        )
    if action == "objection":
        done = await person_data.object_to_calls(
            db, person, datetime.now(UTC), user_id=ident.user.id, request=request
        )
        message = gettext(
            "Objection recorded: %(n)d numbers added to the internal do-not-call list.", n=done["dnc_added"]
        )
        return await _show(request, ident, db, q, message)
    if confirm != "yes":
        return await _show(
            request, ident, db, q, gettext("Tick the box to confirm the erasure: it cannot be undone.")
        )
    settings = request.app.state.settings
    done = await person_data.erase_person(
        db,
        person,
        settings.tombstone_key(),
        store_for(settings),
        datetime.now(UTC),
        user_id=ident.user.id,
        request=request,
    )
    message = gettext(
        "Erased: %(rows)d records anonymised or deleted, %(t)d tombstones kept.",
        rows=sum(done["counts"].values()),
        t=done["tombstones"],
    )
    # what a legal hold kept, by the complaints that hold it (the template says it in the reader's language)
    kept = [
        {"count": k["count"], "complaints": ", ".join(f"#{c}" for c in k["complaints"])} for k in done["kept"]
    ]
    return page(
        request,
        "persons.html",
        ident,
        active="admin",
        q={},
        message=message,
        kept=kept,
        kind_labels=KIND_LABELS,
    )
