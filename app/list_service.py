"""Call lists: making one, importing a spooled file into it as a background job, and the rules of a
column mapping; the API, the unhappy-customers file and the pages share these."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import state_of
from app.errors import unprocessable
from core.audit import audit
from core.dialer_tables import (
    CallList,
    Campaign,
    MappingTemplate,
)
from core.errors import Conflict
from core.tabular import MalformedFile
from dialer.list_import import (
    ImportOptions,
    MappingError,
    check_file,
    create_job,
    job_view,
    run_job,
    valid_target,
)
from dialer.store import rule_set_named

# Size limits: PLATEAU_MAX_UPLOAD_BYTES, PLATEAU_MAX_PREVIEW_BYTES (the page sends the first 256 KiB of a
# CSV to the preview; an XLSX is sent whole), enforced on the body by app/body_limits.py and on the file here.
_TASKS: set[asyncio.Task[None]] = set()  # running imports (kept referenced until they end)


async def commit_unique(db: AsyncSession, what: str) -> None:
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"{what} already exists or is still referenced") from None


Encoding = Literal["utf-8", "utf-8-sig", "cp1252", "latin-1"]
Delimiter = Literal[";", ",", "tab"]


class UploadForm(BaseModel):
    """The fields sent with a call list's file."""

    template_id: int | None = Field(default=None, ge=1, le=2**62)
    mapping: str | None = Field(default=None, max_length=20_000, description="JSON: column → field")
    encoding: Encoding | None = None
    delimiter: Delimiter | None = None
    dedupe_scope: Literal["list", "campaign", "all"] = "list"
    dedupe_by: Literal["number", "external_id"] = "number"
    campaign_id: int | None = Field(default=None, ge=1, le=2**62)


class PreviewForm(BaseModel):
    encoding: Encoding | None = None
    delimiter: Delimiter | None = None


class NoFields(BaseModel):
    pass


def check_mapping(columns: Any, where: str = "body") -> None:
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise unprocessable("mapping", "a JSON object of column name → field", where)
    bad = sorted(v for v in columns.values() if not valid_target(v))
    if bad:
        raise unprocessable(
            "mapping",
            f"unknown field(s) {', '.join(map(repr, bad))}: use a standard field, number[:label], "
            "custom:<name> or ignore",
            where,
        )


async def create_list(
    db: AsyncSession, name: str, description: str | None, *, user_id: int, request: Request | None
) -> CallList:
    """A new, empty call list, audited."""
    cl = CallList(name=name, description=description, created_by=user_id)
    db.add(cl)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"a call list named {name!r} already exists") from None
    audit(
        db,
        "call_list_created",
        user_id=user_id,
        target_type="call_list",
        target_id=cl.id,
        detail={"name": cl.name},
        request=request,
    )
    await db.commit()
    return cl


async def start_import(
    db: AsyncSession,
    request: Request,
    user_id: int,
    list_id: int,
    path: str,
    size: int,
    filename: str,
    form: UploadForm,
) -> dict[str, Any]:
    """A spooled file (its path, which this takes over) imported into a list as a background job: the file's
    make-up checked now, the job's view returned. Uploads and lists made from Plateau's own data share it."""
    settings = state_of(request).settings
    try:
        opts = await import_options(db, list_id, form, settings)
        try:  # the file's make-up (header, workbook, mapping) now; a bad line later is a reject
            await asyncio.to_thread(check_file, path, opts)
        except (MalformedFile, MappingError) as exc:
            raise unprocessable("file", f"{exc}; nothing was imported", "form") from None
    except BaseException:
        os.unlink(path)
        raise
    job = await create_job(
        db,
        list_id=list_id,
        filename=filename,
        size=size,
        options={
            "dedupe_scope": form.dedupe_scope,
            "dedupe_by": form.dedupe_by,
            "campaign_id": form.campaign_id,
            "template_id": form.template_id,
            "encoding": opts.encoding,
            "delimiter": opts.delimiter,
        },
        user_id=user_id,
        spool=path,
    )
    audit(
        db,
        "call_list_upload",
        user_id=user_id,
        target_type="call_list",
        target_id=list_id,
        detail={"job": job.id, "filename": job.filename, "bytes": size},
        request=request,
    )
    await db.commit()
    task = asyncio.create_task(_run(state_of(request).db, job.id, path, opts, user_id))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return job_view(job)


async def import_options(db: AsyncSession, list_id: int, form: UploadForm, settings: Any) -> ImportOptions:
    columns: dict[str, str] | None = None
    options: dict[str, Any] = {}
    if form.template_id is not None:
        tpl = await db.get(MappingTemplate, form.template_id)
        if tpl is None:
            raise unprocessable("template_id", "no such mapping template", "form")
        columns, options = dict(tpl.mapping), dict(tpl.options)
    if form.mapping is not None:
        try:
            columns = json.loads(form.mapping)
        except ValueError:
            raise unprocessable("mapping", "not valid JSON", "form") from None
        check_mapping(columns, "form")
    rule_set = None
    if form.campaign_id is not None:
        campaign = await db.get(Campaign, form.campaign_id)
        if campaign is None:
            raise unprocessable("campaign_id", "no such campaign", "form")
        rule_set = await rule_set_named(db, campaign.rule_set)
    elif form.dedupe_scope == "campaign":
        raise unprocessable("campaign_id", "dedupe within a campaign needs the campaign", "form")
    return ImportOptions(
        list_id=list_id,
        mapping=columns,
        encoding=form.encoding or options.get("encoding"),
        delimiter=form.delimiter or options.get("delimiter"),
        dedupe_scope=form.dedupe_scope,
        dedupe_by=form.dedupe_by,
        campaign_id=form.campaign_id,
        rule_set=rule_set,
        region=settings.default_region,
        limits=settings.table_limits(),
        tombstone_key=settings.tombstone_key(),
    )


async def _run(db: Any, job_id: int, path: str, opts: ImportOptions, user_id: int) -> None:
    try:
        await run_job(db, job_id, path, opts, user_id)
    finally:
        os.unlink(path)
