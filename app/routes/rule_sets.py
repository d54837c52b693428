"""Compliance rule sets over the API: the shipped ones (read-only) and custom ones, made from scratch or
as a copy of another with changes. Every change is written to the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.deps import Db, Manager
from app.errors import invalid_lines, unprocessable
from core.audit import audit
from core.dialer_tables import (
    CustomRuleSet,
)
from core.errors import Conflict, NotFound
from core.model_errors import ContentError
from dialer.compliance import RuleSet, builtin_rule_sets, clone_rule_set, parse_rule_set
from dialer.store import rule_set_named

router = APIRouter(tags=["campaigns"])
RuleSetName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class RuleSetIn(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    base: str | None = Field(default=None, max_length=64)  # copy a shipped or custom rule set, then apply
    rules: dict[str, Any] = Field(default_factory=dict)


class RuleSetOut(BaseModel):
    name: str
    shipped: bool
    rules: dict[str, Any]


@router.get("/rule-sets", response_model=list[RuleSetOut])
async def list_rule_sets(_: Manager, db: Db) -> Any:
    out = [
        RuleSetOut(name=n, shipped=True, rules=rs.to_data()) for n, rs in sorted(builtin_rule_sets().items())
    ]
    for row in await db.scalars(select(CustomRuleSet).order_by(CustomRuleSet.name)):
        out.append(RuleSetOut(name=row.name, shipped=False, rules=row.data))
    return out


@router.get("/rule-sets/{name}", response_model=RuleSetOut)
async def get_rule_set(name: RuleSetName, _: Manager, db: Db) -> Any:
    rs = await rule_set_named(db, name)
    if rs is None:
        raise NotFound("no such rule set")
    return RuleSetOut(name=rs.name, shipped=name in builtin_rule_sets(), rules=rs.to_data())


def _build(name: str, base: RuleSet | None, rules: dict[str, Any]) -> RuleSet:
    try:
        if base is not None:
            return clone_rule_set(base, name, {k: v for k, v in rules.items() if k != "name"})
        return parse_rule_set({**rules, "name": name}, f"rule set {name!r}")
    except ContentError as exc:
        raise invalid_lines("rules", exc.errors) from None


@router.post("/rule-sets", response_model=RuleSetOut, status_code=201)
async def create_rule_set(body: RuleSetIn, request: Request, ident: Manager, db: Db) -> Any:
    if body.name in builtin_rule_sets() or await db.scalar(
        select(CustomRuleSet.id).where(CustomRuleSet.name == body.name)
    ):
        raise Conflict(f"a rule set named {body.name!r} already exists")
    base = None
    if body.base is not None:
        base = await rule_set_named(db, body.base)
        if base is None:
            raise unprocessable("base", f"no rule set named {body.base!r}")
    rs = _build(body.name, base, body.rules)
    db.add(CustomRuleSet(name=rs.name, data=rs.to_data(), updated_by=ident.user.id))
    audit(
        db,
        "rule_set_created",
        user_id=ident.user.id,
        target_type="rule_set",
        target_id=rs.name,
        detail={"base": body.base, "rules": rs.to_data()},
        request=request,
    )
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"a rule set named {body.name!r} already exists") from None
    return RuleSetOut(name=rs.name, shipped=False, rules=rs.to_data())


@router.put("/rule-sets/{name}", response_model=RuleSetOut)
async def edit_rule_set(
    name: RuleSetName,
    body: dict[str, Any],
    request: Request,
    ident: Manager,
    db: Db,
) -> Any:
    if name in builtin_rule_sets():
        raise Conflict(f"{name} is a shipped rule set and cannot be edited; create a copy with base={name!r}")
    row = await db.scalar(select(CustomRuleSet).where(CustomRuleSet.name == name))
    if row is None:
        raise NotFound("no such rule set")
    rs = _build(row.name, None, body)
    before = row.data
    row.data, row.updated_by = rs.to_data(), ident.user.id
    audit(
        db,
        "rule_set_updated",
        user_id=ident.user.id,
        target_type="rule_set",
        target_id=row.name,
        detail={"before": before, "after": row.data},
        request=request,
    )
    await db.commit()
    return RuleSetOut(name=row.name, shipped=False, rules=row.data)
