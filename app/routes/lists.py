"""Call lists over the API: create, upload (a background import job), poll it, download its report.
Campaign managers and admins only; mapping templates and do-not-call lists have their own routers."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from app import list_service as svc
from app.deps import Db, Manager, state_of
from app.errors import unprocessable
from app.list_service import PreviewForm, UploadForm
from app.routes.uploads import multipart, receive_file
from app.schemas import ORM, Limit, Name, PathId, Text
from app.security import require
from core.dialer_tables import (
    CallList,
    ImportJob,
    ImportReject,
)
from core.errors import NotFound
from core.models import Role
from core.tabular import MalformedFile
from dialer.list_import import (
    job_view,
    preview,
    report_head,
    report_rows,
)

router = APIRouter(tags=["call lists"])
manager = require(Role.manager)


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
async def create_list(body: ListIn, request: Request, ident: Manager, db: Db) -> Any:
    return await svc.create_list(db, body.name, body.description, user_id=ident.user.id, request=request)


@router.get("/lists", response_model=list[ListOut])
async def list_lists(_: Manager, db: Db) -> Any:
    return list(await db.scalars(select(CallList).order_by(CallList.name)))


@router.get("/lists/{list_id}", response_model=ListOut)
async def get_list(list_id: PathId, _: Manager, db: Db) -> Any:
    cl = await db.get(CallList, list_id)
    if cl is None:
        raise NotFound("no such call list")
    return cl


@router.post(
    "/lists/{list_id}/imports",
    status_code=202,
    openapi_extra=multipart(UploadForm, "CSV (; , or tab; UTF-8 or Windows-1252) or XLSX"),
)
async def upload(
    list_id: PathId,
    request: Request,
    ident: Manager,
    db: Db,
) -> Any:
    if await db.get(CallList, list_id) is None:
        raise NotFound("no such call list")
    settings = state_of(request).settings
    path, size, filename, form = await receive_file(request, UploadForm, settings.max_upload_bytes)
    return await svc.start_import(db, request, ident.user.id, list_id, path, size, filename, form)


@router.post(
    "/lists/preview",
    openapi_extra=multipart(PreviewForm, "the file to map (only its first rows are read)"),
)
async def preview_upload(request: Request, _: Manager) -> Any:
    """Header, first rows and the suggested column mapping of a file, before uploading it for good."""
    settings = state_of(request).settings
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
async def import_status(job_id: PathId, _: Manager, db: Db) -> Any:
    job = await db.get(ImportJob, job_id)
    if job is None:
        raise NotFound("no such import")
    return job_view(job)


@router.get("/imports/{job_id}/rejects")
async def import_rejects(
    job_id: PathId,
    _: Manager,
    db: Db,
    limit: Limit = 100,
    after_line: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Any:
    rows = await db.execute(
        select(ImportReject.line, ImportReject.kind, ImportReject.reason)
        .where(ImportReject.job_id == job_id, ImportReject.line > after_line)
        .order_by(ImportReject.line)
        .limit(limit)
    )
    return [{"line": ln, "kind": k.value, "reason": r} for ln, k, r in rows]


@router.get("/imports/{job_id}/report.csv")
async def import_report(job_id: PathId, request: Request, _: Manager) -> Any:
    database = state_of(request).db
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
