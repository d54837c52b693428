"""The customer's data rights (admins only, every action audited): find a person, export everything held
about them as one ZIP, erase them, record their objection to calls. The work is `app/person_data/`'s."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app import person_data, person_zip
from app.deps import Admin, Db, state_of
from app.errors import unprocessable
from app.person_data import BadQuery, Person, PersonNotFound
from app.schemas import MAX_ID, Text
from app.security import require
from core.errors import NotFound
from core.recording_store import store_for

router = APIRouter(tags=["data rights"])
admin = require()  # admins only


class PersonQuery(BaseModel):
    """Exactly one of them names the person."""

    model_config = ConfigDict(extra="forbid")
    number: Text(64, 1) | None = None  # type: ignore[valid-type]
    email: Text(254, 3) | None = None  # type: ignore[valid-type]
    contact_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class EraseIn(PersonQuery):
    confirm: bool = Field(description="must be true: erasure cannot be undone")


class PersonOut(BaseModel):
    contact_ids: list[int]
    numbers: list[str]
    emails: list[str]
    counts: dict[str, int]


async def _person(request: Request, db: AsyncSession, q: PersonQuery, where: str) -> Person:
    try:
        return await person_data.resolve(
            db,
            number=q.number,
            email=q.email,
            contact_id=q.contact_id,
            region=state_of(request).settings.default_region,
        )
    except BadQuery as exc:
        raise unprocessable(() if exc.field == "query" else (exc.field,), exc.reason, where) from None
    except PersonNotFound:
        raise NotFound("no such contact") from None


@router.get("/persons", response_model=PersonOut)
async def find_person(
    request: Request,
    q: Annotated[PersonQuery, Query()],
    ident: Admin,
    db: Db,
) -> Any:
    """What Plateau holds about a person, as counts per kind of record."""
    person = await _person(request, db, q, "query")
    gathered = await person_data.gather(db, person, store_for(state_of(request).settings))
    person_data.audit_person(
        db, "person_looked_up", person, {"counts": gathered.counts()}, user_id=ident.user.id, request=request
    )
    await db.commit()
    return PersonOut(
        contact_ids=sorted(person.contact_ids),
        numbers=sorted(person.numbers),
        emails=sorted(person.emails),
        counts=gathered.counts(),
    )


@router.get("/persons/export", response_class=StreamingResponse)
async def export_person(
    request: Request,
    q: Annotated[PersonQuery, Query()],
    ident: Admin,
    db: Db,
) -> StreamingResponse:
    """Everything held about the person as one ZIP (JSON, CSV, audio), streamed."""
    person = await _person(request, db, q, "query")
    store = store_for(state_of(request).settings)
    gathered = await person_data.gather(db, person, store)
    now = datetime.now(UTC)
    person_data.audit_person(
        db,
        "person_exported",
        person,
        {"counts": gathered.counts(), "files": len(gathered.files)},
        user_id=ident.user.id,
        request=request,
    )
    await db.commit()
    name = f"plateau-person-{now:%Y%m%d-%H%M%S}.zip"
    return StreamingResponse(
        person_zip.zip_stream(gathered, now, store),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/persons/erase")
async def erase_person(body: EraseIn, request: Request, ident: Admin, db: Db) -> dict[str, Any]:
    """Erase the person everywhere (anonymous rows stay for the reports) and keep a tombstone per number
    and e-mail so that no import brings them back."""
    if not body.confirm:
        raise unprocessable("confirm", "erasure cannot be undone: confirm it")
    person = await _person(request, db, body, "body")
    settings = state_of(request).settings
    return await person_data.erase_person(
        db,
        person,
        settings.tombstone_key(),
        store_for(settings),
        datetime.now(UTC),
        user_id=ident.user.id,
        request=request,
    )


@router.post("/persons/objection")
async def object_to_calls(body: PersonQuery, request: Request, ident: Admin, db: Db) -> dict[str, Any]:
    """The person objects to being called: their numbers go on the internal do-not-call list."""
    person = await _person(request, db, body, "body")
    if not person.numbers:
        raise unprocessable((), "no phone number is known for this person")
    return await person_data.object_to_calls(
        db, person, datetime.now(UTC), user_id=ident.user.id, request=request
    )
