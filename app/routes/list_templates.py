"""Column-mapping templates for call list uploads over the API (campaign managers and admins)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.deps import Db, Manager
from app.list_service import check_mapping, commit_unique
from app.schemas import ORM, Name, PathId, Text
from app.security import require
from core.audit import audit
from core.dialer_tables import (
    MappingTemplate,
)
from core.errors import NotFound
from core.models import Role

router = APIRouter(tags=["call lists"])
manager = require(Role.manager)


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


@router.post("/list-templates", response_model=TemplateOut, status_code=201)
async def create_template(body: TemplateIn, request: Request, ident: Manager, db: Db) -> Any:
    check_mapping(body.mapping)
    tpl = MappingTemplate(
        name=body.name,
        mapping=body.mapping,
        options={k: v for k, v in {"encoding": body.encoding, "delimiter": body.delimiter}.items() if v},
        created_by=ident.user.id,
    )
    db.add(tpl)
    await commit_unique(db, f"template {body.name!r}")
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
async def list_templates(_: Manager, db: Db) -> Any:
    return list(await db.scalars(select(MappingTemplate).order_by(MappingTemplate.name)))


@router.delete("/list-templates/{template_id}", status_code=204)
async def delete_template(
    template_id: PathId,
    request: Request,
    ident: Manager,
    db: Db,
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
