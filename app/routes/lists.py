"""Call lists: create, upload (a background import job), poll it, download its report; mapping templates;
do-not-call lists. Campaign managers and admins only."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import audit
from app.errors import unprocessable
from app.models import Role
from app.routes.uploads import multipart, receive_file
from app.schemas import ORM, Label, Limit, Name, PathId, Text
from app.security import Identity, get_db, require
from app.tabular import MalformedFile
from core.errors import Conflict, FieldError, Invalid, NotFound
from cti.numbers import InvalidNumber
from dialer.bulk_numbers import Normaliser
from dialer.list_import import (
    ImportOptions,
    MappingError,
    check_file,
    create_job,
    job_view,
    preview,
    report_head,
    report_rows,
    run_job,
    valid_target,
)
from dialer.models import (
    CallList,
    Campaign,
    DncEntry,
    DncKind,
    DncList,
    ImportJob,
    ImportReject,
    MappingTemplate,
)
from dialer.store import rule_set_named

router = APIRouter(tags=["call lists"])
manager = require(Role.manager)
# Size limits: PLATEAU_MAX_UPLOAD_BYTES, PLATEAU_MAX_PREVIEW_BYTES (the page sends the first 256 KiB of a
# CSV to the preview; an XLSX is sent whole), enforced on the body by app/body_limits.py and on the file here.
_TASKS: set[asyncio.Task[None]] = set()  # running imports (kept referenced until they end)


async def _commit(db: AsyncSession, what: str) -> None:
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"{what} already exists or is still referenced") from None


# --- call lists ----------------------------------------------------------------------------------
class ListIn(BaseModel):
    name: Name  # type: ignore[valid-type]
    description: Text(2000) | None = None  # type: ignore[valid-type]


class ListOut(ORM):
    id: int
    name: str
    description: str | None
    lead_count: int
    created_at: datetime


@router.post("/lists", response_model=ListOut, status_code=201)
async def create_list(
    body: ListIn, request: Request, ident: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    cl = CallList(name=body.name, description=body.description, created_by=ident.user.id)
    db.add(cl)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"a call list named {body.name!r} already exists") from None
    audit(
        db,
        "call_list_created",
        user_id=ident.user.id,
        target_type="call_list",
        target_id=cl.id,
        detail={"name": cl.name},
        request=request,
    )
    await db.commit()
    return cl


@router.get("/lists", response_model=list[ListOut])
async def list_lists(_: Identity = Depends(manager), db: AsyncSession = Depends(get_db)) -> Any:
    return list(await db.scalars(select(CallList).order_by(CallList.name)))


@router.get("/lists/{list_id}", response_model=ListOut)
async def get_list(
    list_id: PathId, _: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    cl = await db.get(CallList, list_id)
    if cl is None:
        raise NotFound("no such call list")
    return cl


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


@router.post(
    "/lists/{list_id}/imports",
    status_code=202,
    openapi_extra=multipart(UploadForm, "CSV (; , or tab; UTF-8 or Windows-1252) or XLSX"),
)
async def upload(
    list_id: PathId,
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> Any:
    if await db.get(CallList, list_id) is None:
        raise NotFound("no such call list")
    settings = request.app.state.settings
    path, size, filename, form = await receive_file(request, UploadForm, settings.max_upload_bytes)
    return await start_import(db, request, ident, list_id, path, size, filename, form)


async def start_import(
    db: AsyncSession,
    request: Request,
    ident: Identity,
    list_id: int,
    path: str,
    size: int,
    filename: str,
    form: UploadForm,
) -> dict[str, Any]:
    """A spooled file (its path, which this takes over) imported into a list as a background job: the file's
    make-up checked now, the job's view returned. Uploads and lists made from Plateau's own data share it."""
    settings = request.app.state.settings
    try:
        opts = await _import_options(db, list_id, form, settings)
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
        user_id=ident.user.id,
        spool=path,
    )
    audit(
        db,
        "call_list_upload",
        user_id=ident.user.id,
        target_type="call_list",
        target_id=list_id,
        detail={"job": job.id, "filename": job.filename, "bytes": size},
        request=request,
    )
    await db.commit()
    task = asyncio.create_task(_run(request.app.state.db, job.id, path, opts, ident.user.id))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return job_view(job)


async def _import_options(db: AsyncSession, list_id: int, form: UploadForm, settings: Any) -> ImportOptions:
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
        _check_mapping(columns, "form")
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


@router.post(
    "/lists/preview",
    openapi_extra=multipart(PreviewForm, "the file to map (only its first rows are read)"),
)
async def preview_upload(request: Request, _: Identity = Depends(manager)) -> Any:
    """Header, first rows and the suggested column mapping of a file, before uploading it for good."""
    settings = request.app.state.settings
    path, _size, _name, form = await receive_file(request, PreviewForm, settings.max_preview_bytes)
    try:
        return await asyncio.to_thread(
            preview, path, encoding=form.encoding, delimiter=form.delimiter, limits=settings.table_limits()
        )
    except MalformedFile as exc:
        raise unprocessable("file", str(exc), "form") from None
    finally:
        os.unlink(path)


@router.get("/imports/{job_id}")
async def import_status(
    job_id: PathId, _: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    job = await db.get(ImportJob, job_id)
    if job is None:
        raise NotFound("no such import")
    return job_view(job)


@router.get("/imports/{job_id}/rejects")
async def import_rejects(
    job_id: PathId,
    limit: Limit = 100,
    after_line: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    _: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> Any:
    rows = await db.execute(
        select(ImportReject.line, ImportReject.kind, ImportReject.reason)
        .where(ImportReject.job_id == job_id, ImportReject.line > after_line)
        .order_by(ImportReject.line)
        .limit(limit)
    )
    return [{"line": ln, "kind": k.value, "reason": r} for ln, k, r in rows]


@router.get("/imports/{job_id}/report.csv")
async def import_report(job_id: PathId, request: Request, _: Identity = Depends(manager)) -> Any:
    database = request.app.state.db
    async with database.session() as db:
        job = await db.get(ImportJob, job_id)
        if job is None:
            raise NotFound("no such import")
        summary = job_view(job)

    async def body() -> Any:
        yield report_head(summary)
        async with database.session() as s:
            result = await s.stream(
                select(ImportReject.line, ImportReject.kind, ImportReject.reason)
                .where(ImportReject.job_id == job_id)
                .order_by(ImportReject.line)
                .execution_options(yield_per=2000)
            )
            async for part in result.partitions(2000):
                yield report_rows((line, kind.value, reason) for line, kind, reason in part)

    name = f"import-{job_id}-report.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- mapping templates ---------------------------------------------------------------------------
class TemplateIn(BaseModel):
    name: Name  # type: ignore[valid-type]
    mapping: dict[Text(120, 1), Text(60, 1)] = Field(max_length=200)  # type: ignore[valid-type]
    encoding: Literal["utf-8", "utf-8-sig", "cp1252", "latin-1"] | None = None
    delimiter: Literal[";", ",", "tab"] | None = None


class TemplateOut(ORM):
    id: int
    name: str
    mapping: dict[str, str]
    options: dict[str, Any]


def _check_mapping(columns: Any, where: str = "body") -> None:
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


@router.post("/list-templates", response_model=TemplateOut, status_code=201)
async def create_template(
    body: TemplateIn, request: Request, ident: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    _check_mapping(body.mapping)
    tpl = MappingTemplate(
        name=body.name,
        mapping=body.mapping,
        options={k: v for k, v in {"encoding": body.encoding, "delimiter": body.delimiter}.items() if v},
        created_by=ident.user.id,
    )
    db.add(tpl)
    await _commit(db, f"template {body.name!r}")
    audit(
        db,
        "list_template_created",
        user_id=ident.user.id,
        target_type="list_template",
        target_id=tpl.id,
        request=request,
    )
    await db.commit()
    return tpl


@router.get("/list-templates", response_model=list[TemplateOut])
async def list_templates(_: Identity = Depends(manager), db: AsyncSession = Depends(get_db)) -> Any:
    return list(await db.scalars(select(MappingTemplate).order_by(MappingTemplate.name)))


@router.delete("/list-templates/{template_id}", status_code=204)
async def delete_template(
    template_id: PathId,
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> None:
    tpl = await db.get(MappingTemplate, template_id)
    if tpl is None:
        raise NotFound("no such template")
    await db.delete(tpl)
    audit(
        db,
        "list_template_deleted",
        user_id=ident.user.id,
        target_type="list_template",
        target_id=template_id,
        request=request,
    )
    await db.commit()


# --- DNC lists ------------------------------------------------------------------------------------
class DncListIn(BaseModel):
    name: Name  # type: ignore[valid-type]
    kind: DncKind
    campaign_id: int | None = Field(default=None, ge=1, le=2**62)
    source: Label | None = None  # type: ignore[valid-type]


class DncListOut(ORM):
    id: int
    name: str
    kind: DncKind
    campaign_id: int | None
    source: str | None
    entries: int = 0


class DncNumbersIn(BaseModel):
    numbers: list[Text(64, 1)] = Field(min_length=1, max_length=10_000)  # type: ignore[valid-type]
    reason: Label | None = None  # type: ignore[valid-type]


async def _dnc(db: AsyncSession, dnc_id: int) -> DncList:
    dl = await db.get(DncList, dnc_id)
    if dl is None:
        raise NotFound("no such do-not-call list")
    return dl


@router.post("/dnc-lists", response_model=DncListOut, status_code=201)
async def create_dnc_list(
    body: DncListIn, request: Request, ident: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    if (body.kind is DncKind.campaign) != (body.campaign_id is not None):
        raise unprocessable("campaign_id", "required for a campaign list and only for one")
    if body.campaign_id is not None and await db.get(Campaign, body.campaign_id) is None:
        raise unprocessable("campaign_id", "no such campaign")
    dl = DncList(name=body.name, kind=body.kind, campaign_id=body.campaign_id, source=body.source)
    db.add(dl)
    await _commit(db, f"do-not-call list {body.name!r}")
    audit(
        db,
        "dnc_list_created",
        user_id=ident.user.id,
        target_type="dnc_list",
        target_id=dl.id,
        detail={"kind": dl.kind.value},
        request=request,
    )
    await db.commit()
    return dl


@router.get("/dnc-lists", response_model=list[DncListOut])
async def list_dnc_lists(_: Identity = Depends(manager), db: AsyncSession = Depends(get_db)) -> Any:
    counts = dict(
        (await db.execute(select(DncEntry.dnc_list_id, func.count()).group_by(DncEntry.dnc_list_id))).all()
    )
    out = []
    for dl in await db.scalars(select(DncList).order_by(DncList.name)):
        item = DncListOut.model_validate(dl)
        item.entries = counts.get(dl.id, 0)
        out.append(item)
    return out


@router.post("/dnc-lists/{dnc_id}/entries")
async def add_dnc_numbers(
    dnc_id: PathId,
    body: DncNumbersIn,
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> Any:
    from dialer.dnc import add_numbers

    await _dnc(db, dnc_id)
    normalise = Normaliser(request.app.state.settings.default_region)
    numbers, errors = [], []
    for i, raw in enumerate(body.numbers):
        try:
            numbers.append(normalise(raw).e164)
        except InvalidNumber as exc:
            errors.append(FieldError(("body", "numbers", i), exc.reason))
    if errors:
        raise Invalid.fields(errors)
    added = await add_numbers(db, dnc_id, numbers, reason=body.reason, user_id=ident.user.id)
    audit(
        db,
        "dnc_numbers_added",
        user_id=ident.user.id,
        target_type="dnc_list",
        target_id=dnc_id,
        detail={"added": added, "given": len(numbers)},
        request=request,
    )
    await db.commit()
    return {"added": added, "numbers": numbers}


@router.delete("/dnc-lists/{dnc_id}/entries/{number}", status_code=204)
async def remove_dnc_number(
    dnc_id: PathId,
    number: Annotated[str, Path(min_length=1, max_length=64)],
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> None:
    await _dnc(db, dnc_id)
    try:
        e164 = Normaliser(request.app.state.settings.default_region)(number).e164
    except InvalidNumber as exc:
        raise unprocessable("number", exc.reason, "path") from None
    result = await db.execute(delete(DncEntry).where(DncEntry.dnc_list_id == dnc_id, DncEntry.e164 == e164))
    if not result.rowcount:
        raise NotFound(f"{e164} is not on this list")
    audit(
        db,
        "dnc_number_removed",
        user_id=ident.user.id,
        target_type="dnc_list",
        target_id=dnc_id,
        detail={"e164": e164},
        request=request,
    )
    await db.commit()


@router.post(
    "/dnc-lists/{dnc_id}/import",
    openapi_extra=multipart(NoFields, "one number per line, or a CSV with a phone column"),
)
async def import_dnc(
    dnc_id: PathId,
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> Any:
    from dialer.dnc import import_dnc_file

    dl = await _dnc(db, dnc_id)
    settings = request.app.state.settings
    path, size, _name, _form = await receive_file(request, NoFields, settings.max_upload_bytes)
    try:
        report = await import_dnc_file(
            db,
            dnc_id,
            path,
            region=settings.default_region,
            reason=dl.source,
            user_id=ident.user.id,
            limits=settings.table_limits(),
        )
    except MalformedFile as exc:
        await db.rollback()
        raise unprocessable("file", f"{exc}; nothing was imported", "form") from None
    finally:
        os.unlink(path)
    audit(
        db,
        "dnc_imported",
        user_id=ident.user.id,
        target_type="dnc_list",
        target_id=dnc_id,
        detail={"rows": report.rows, "added": report.added, "invalid": report.invalid_count, "bytes": size},
        request=request,
    )
    await db.commit()
    return {
        "lines": report.lines,
        "rows": report.rows,
        "added": report.added,
        "invalid": [{"line": ln, "reason": why} for ln, why in report.invalid[:1000]],
        "invalid_count": report.invalid_count,
    }
