"""`plateau import list`, `plateau dnc import` and `plateau campaign create` (the work is
dialer/cli_outbound.py's).
"""

from __future__ import annotations

import argparse
import sys

from app.commands.common import CliError, run_db, run_outbound


def cmd_import_list(args: argparse.Namespace) -> int:
    from dialer.cli_outbound import import_list

    view, rejects = run_outbound(
        lambda db, region: import_list(
            db, args.file, list_name=args.list, template=args.template, encoding=args.encoding,
            delimiter=args.delimiter, dedupe_scope=args.dedupe, dedupe_by=args.dedupe_by,
            campaign=args.campaign, region=region, show_rejects=args.show_rejects,
        )
    )  # fmt: skip
    if view["status"] == "failed":
        raise CliError(f"{args.file}: {view['error']}")
    print(
        f"{view['rows']} lines read: {view['accepted']} leads imported into {args.list!r}, "
        f"{view['duplicates']} duplicates, {view['dnc']} on a do-not-call list, "
        f"{view['no_consent']} without consent, {view['invalid']} invalid (import {view['id']})"
    )
    for line, kind, reason in rejects:
        print(f"  line {line}: {kind}: {reason}")
    if not view["accepted"]:
        why = "every line was rejected (reasons above)" if view["rows"] else "the file has no lines"
        print(f"plateau: nothing was imported from {args.file}: {why}", file=sys.stderr)
        return 1
    return 0


def cmd_dnc_import(args: argparse.Namespace) -> int:
    from dialer.cli_outbound import import_dnc

    report = run_outbound(
        lambda db, region: import_dnc(
            db, args.file, list_name=args.list, kind=args.kind, campaign=args.campaign, region=region
        )
    )
    header = f"a header ({';'.join(report.header)[:60]!r}) and " if report.header is not None else ""
    print(
        f"{report.lines} lines read ({header}{report.rows} numbers): {report.added} numbers added to "
        f"{args.list!r}, {report.invalid_count} invalid"
    )
    for line, reason in report.invalid[: args.show_rejects]:
        print(f"  line {line}: {reason}")
    return 0


def cmd_campaign_create(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.campaign_file import create_from_file
    from core.model_errors import ContentError

    async def create(session):  # type: ignore[no-untyped-def]
        try:
            c = await create_from_file(session, Path(args.file))
        except ContentError as exc:
            raise CliError("\n".join(exc.errors)) from None
        return c.id, c.name

    campaign_id, name = run_db(create)
    print(f"campaign {name!r} created as a draft (id {campaign_id}); start it from /campaigns/{campaign_id}")
    return 0
