"""The unhappy-customers file: who is in it and why (filters, CSV), its rules (admins), and a call list
made of it for a win-back or care campaign, through the normal list import path (so the campaign's rule
set, its do-not-call lists and the dedupe apply as to any uploaded list)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import delete

from app import list_service, unhappy
from app import unhappy_segment as segment
from app.deps import Admin, Db, Manager, Supervisor
from app.errors import unprocessable
from app.report_params import CSV_CONTENT, Format, csv_or_json
from app.security import require
from app.unhappy_service import (
    CallListIn,
    Kind,
    MemberOut,
    MemberRow,
    ReasonOut,
    RuleIO,
    call_list_csv,
    filtered,
    reasons_text,
)
from core.audit import audit
from core.errors import Invalid
from core.models import Role, UnhappyRule
from dialer.list_import import SPOOL_PREFIX

router = APIRouter(prefix="/unhappy", tags=["customer care"])


staff = require(Role.supervisor, Role.manager)


managers = require(Role.manager)


admins = require()


@router.get("", response_model=list[MemberOut] | list[MemberRow], responses=CSV_CONTENT)
async def list_unhappy(
    request: Request,
    ident: Supervisor,
    db: Db,
    reason: unhappy.RuleCode | None = None,
    kind: Kind | None = None,
    format: Format = "json",
) -> Any:
    """Everyone in the file now, the most reasons first; `reason` and `kind` filter it."""
    found = await filtered(db, request, reason, kind)
    if format == "csv":
        rows = [
            MemberRow(ref=m.ref, kind=m.kind, name=m.name, company=m.company, tier=m.tier, number=m.number,
                      reasons=reasons_text(m))
            for m in found
        ]  # fmt: skip
        return csv_or_json("csv", "unhappy-customers.csv", rows, ident.user.language)
    return [
        MemberOut(
            ref=m.ref, kind=m.kind, id=m.id, name=m.name, company=m.company, tier=m.tier, number=m.number,
            reasons=[ReasonOut(code=r.code, count=r.count, last_at=r.last_at) for r in m.reasons],
        )
        for m in found
    ]  # fmt: skip


@router.get("/rules", response_model=list[RuleIO])
async def get_rules(_: Supervisor, db: Db) -> Any:
    return [RuleIO(code=r.code, enabled=r.enabled, count=r.count, days=r.days, threshold=r.threshold)
            for r in await segment.rules(db)]  # fmt: skip


@router.put("/rules", response_model=list[RuleIO])
async def put_rules(
    body: list[RuleIO],
    request: Request,
    ident: Admin,
    db: Db,
) -> Any:
    """The whole rule set (each code once); an empty list restores the defaults."""
    seen: set[str] = set()
    for i, r in enumerate(body):
        if r.code in seen:
            raise unprocessable((i, "code"), "given twice")
        seen.add(r.code)
        try:
            unhappy.Rule(r.code, r.enabled, r.count, r.days, r.threshold)
        except ValueError as exc:
            field = str(exc).split(":", 1)[0]
            raise unprocessable((i, field), str(exc)) from None
    await db.execute(delete(UnhappyRule))
    db.add_all(UnhappyRule(**r.model_dump()) for r in body)
    audit(db, "unhappy.rules", user_id=ident.user.id, detail={"rules": [r.model_dump() for r in body]},
          request=request)  # fmt: skip
    await db.commit()
    return await get_rules(ident, db)


@router.post("/call-list", status_code=202)
async def make_call_list(
    body: CallListIn,
    request: Request,
    ident: Manager,
    db: Db,
) -> Any:
    """A new call list of the file (or a filtered part), imported like an uploaded file: the answer is the
    import job (`/imports/{id}` for its progress and report)."""
    found = await filtered(db, request, body.reason, body.kind)
    if not found:
        raise Invalid("nobody in the file matches these filters: no list made")
    cl = await list_service.create_list(
        db, body.name, body.description, user_id=ident.user.id, request=request
    )
    data = call_list_csv(found)
    fd, path = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=".upload")
    with os.fdopen(fd, "wb") as spool:
        spool.write(data)
    form = list_service.UploadForm(
        encoding="utf-8", delimiter=";", dedupe_scope="list", dedupe_by="number", campaign_id=body.campaign_id
    )
    job = await list_service.start_import(
        db, request, ident.user.id, cl.id, path, len(data), "unhappy-customers.csv", form
    )
    return {"list_id": cl.id, "members": len(found), "import": job}
