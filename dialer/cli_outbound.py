"""What `plateau import list` and `plateau dnc import` run (app/commands/outbound.py stays thin)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.dialer_tables import (
    CallList,
    Campaign,
    DncKind,
    DncList,
    ImportJob,
    ImportReject,
    MappingTemplate,
)
from core.tabular import MalformedFile
from dialer.dnc import DncReport, import_dnc_file
from dialer.list_import import ImportOptions, create_job, job_view, run_job
from dialer.store import rule_set_named


class OutboundCliError(Exception):
    """A user-facing error for the CLI (no traceback)."""


async def import_list(
    db: Database,
    path: str,
    *,
    list_name: str,
    template: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    dedupe_scope: str = "list",
    dedupe_by: str = "number",
    campaign: str | None = None,
    region: str = "FR",
    show_rejects: int = 50,
) -> tuple[dict[str, Any], list[tuple[int, str, str]]]:
    """Import `path` into the list named `list_name` (created when missing) through an import job."""
    if not os.path.isfile(path):  # noqa: ASYNC240 - the CLI, before any I/O of its own
        raise OutboundCliError(f"{path}: no such file")
    async with db.session() as s:
        cl = await s.scalar(select(CallList).where(CallList.name == list_name))
        if cl is None:
            cl = CallList(name=list_name)
            s.add(cl)
            await s.flush()
        mapping, options = None, {}
        if template is not None:
            tpl = await s.scalar(select(MappingTemplate).where(MappingTemplate.name == template))
            if tpl is None:
                raise OutboundCliError(f"no mapping template named {template!r}")
            mapping, options = dict(tpl.mapping), dict(tpl.options)
        campaign_id, rule_set = None, None
        if campaign is not None:
            camp = await s.scalar(select(Campaign).where(Campaign.name == campaign))
            if camp is None:
                raise OutboundCliError(f"no campaign named {campaign!r}")
            campaign_id = camp.id
            rule_set = await rule_set_named(s, camp.rule_set)
        job = await create_job(
            s,
            list_id=cl.id,
            filename=Path(path).name,
            size=os.path.getsize(path),  # noqa: ASYNC240
            options={},
            user_id=None,
        )
        await s.commit()
        job_id, list_id = job.id, cl.id
    opts = ImportOptions(
        list_id=list_id,
        mapping=mapping,
        encoding=encoding or options.get("encoding"),
        delimiter=delimiter or options.get("delimiter"),
        dedupe_scope=dedupe_scope,  # type: ignore[arg-type]
        dedupe_by=dedupe_by,  # type: ignore[arg-type]
        campaign_id=campaign_id,
        rule_set=rule_set,
        region=region,
    )
    await run_job(db, job_id, path, opts, None)
    async with db.session() as s:
        view = job_view(await s.get(ImportJob, job_id))
        rows = await s.execute(
            select(ImportReject.line, ImportReject.kind, ImportReject.reason)
            .where(ImportReject.job_id == job_id)
            .order_by(ImportReject.line)
            .limit(show_rejects)
        )
        rejects = [(ln, k.value, r) for ln, k, r in rows]
    return view, rejects


async def import_dnc(
    db: Database, path: str, *, list_name: str, kind: str, campaign: str | None = None, region: str = "FR"
) -> DncReport:
    """Add the numbers of `path` to the DNC list `list_name` (created with `kind` when missing)."""
    if not os.path.isfile(path):  # noqa: ASYNC240 - the CLI, before any I/O of its own
        raise OutboundCliError(f"{path}: no such file")
    async with db.session() as s:
        dl = await s.scalar(select(DncList).where(DncList.name == list_name))
        if dl is None:
            campaign_id = None
            if campaign is not None:
                camp = await s.scalar(select(Campaign).where(Campaign.name == campaign))
                if camp is None:
                    raise OutboundCliError(f"no campaign named {campaign!r}")
                campaign_id = camp.id
            if (DncKind(kind) is DncKind.campaign) != (campaign_id is not None):
                raise OutboundCliError("--campaign is required for a campaign list, and only for one")
            dl = DncList(name=list_name, kind=DncKind(kind), campaign_id=campaign_id, source=Path(path).name)
            s.add(dl)
            await s.flush()
        try:
            report = await import_dnc_file(s, dl.id, path, region=region, reason=Path(path).name)
        except MalformedFile as exc:
            await s.rollback()
            raise OutboundCliError(f"{path}: {exc}; nothing was imported") from None
        await s.commit()
        return report
