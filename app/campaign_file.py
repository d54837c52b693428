"""`plateau campaign create FILE.yaml`: a campaign from a YAML file, so that a centre is set up from a
repository. The file holds the API's `CampaignIn` fields (checked by the same schema and the same
reference checks, audited the same way); lists, queue and team may also be named instead of numbered:
`lists: [Clients hiver]`, `queue: support`, `team: Ventes`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaign_schemas import CampaignIn
from app.campaign_service import insert_campaign
from core.dialer_tables import CallList, Campaign
from core.errors import DomainError, Invalid
from core.model_errors import ContentError, format_validation_error, read_yaml
from core.models import Queue, Team

BY_NAME = {"queue": ("queue_id", Queue), "team": ("team_id", Team)}


async def _resolve(db: AsyncSession, data: dict[str, Any], source: str) -> dict[str, Any]:
    """Names of lists, queue and team → their ids (a name that matches nothing is an error)."""
    out = dict(data)
    errors: list[str] = []
    for key, (field, model) in BY_NAME.items():
        if key in out:
            name = out.pop(key)
            row_id = await db.scalar(select(model.id).where(model.name == str(name)))
            if row_id is None:
                errors.append(f"{source}: {key}: no {key} named {name!r}")
            out[field] = row_id
    if "lists" in out:
        names = out.pop("lists")
        if not isinstance(names, list):
            errors.append(f"{source}: lists: a list of call list names")
            names = []
        ids = []
        for i, name in enumerate(names):
            row_id = await db.scalar(select(CallList.id).where(CallList.name == str(name)))
            if row_id is None:
                errors.append(f"{source}: lists.{i}: no call list named {name!r}")
            ids.append(row_id)
        out["list_ids"] = [*out.get("list_ids", []), *ids]
    if errors:
        raise ContentError(errors)
    return out


def _refusals(source: str, exc: DomainError) -> list[str]:
    """A refusal as the file's errors: each refused field by its path in the file, else the message."""
    if isinstance(exc, Invalid) and exc.errors:
        return [f"{source}: {'.'.join(str(p) for p in e.loc[1:])}: {e.msg}" for e in exc.errors]
    return [f"{source}: {exc.message}"]


async def create_from_file(db: AsyncSession, path: Path) -> Campaign:
    """The campaign `path` describes, created as a draft; a ContentError lists every problem found."""
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise ContentError([f"{path}: a mapping of campaign fields (name, lists, script, rule_set, …)"])
    values = await _resolve(db, dict(data), str(path))
    try:
        body = CampaignIn.model_validate(values)
    except ValidationError as exc:
        raise ContentError(format_validation_error(str(path), exc)) from None
    try:
        return await insert_campaign(db, body, user_id=None, request=None)
    except DomainError as exc:
        raise ContentError(_refusals(str(path), exc)) from None
