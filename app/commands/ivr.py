"""`plateau ivr check`, `ivr try` and `ivr exits`."""

from __future__ import annotations

import argparse
import json
import sys

from app.commands.common import CliError, run_db
from core.settings import load_settings


def cmd_ivr_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.model_errors import ContentError
    from cti.ivr.flows import load_flows
    from cti.ivr.model import SOUNDS_DIR

    directory = Path(args.dir) if args.dir else load_settings().ivr_flows_dir
    try:
        flows = load_flows(directory, None if args.no_sounds else SOUNDS_DIR)
    except ContentError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        print(f"plateau: {len(exc.errors)} problem(s) in the IVR flows of {directory}", file=sys.stderr)
        return 1
    for name, flow in sorted(flows.items()):
        print(f"{name}: ok ({len(flow.nodes)} nodes, DIDs {', '.join(flow.dids) or 'none'})")
    return 0


def cmd_ivr_try(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from core.model_errors import ContentError
    from cti.ivr.flows import load_flows
    from cti.ivr.simulate import simulate

    settings = load_settings()
    try:
        flows = load_flows(settings.ivr_flows_dir, None)
    except ContentError as exc:
        raise CliError("invalid IVR flows (see `plateau ivr check`):\n  " + "\n  ".join(exc.errors)) from None
    if args.flow not in flows:
        names = ", ".join(sorted(flows))
        raise CliError(f"no flow {args.flow!r} in {settings.ivr_flows_dir}; there are {names}")
    try:
        at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    except ValueError:
        raise CliError(f"--at {args.at!r}: use an ISO date-time such as 2026-11-23T10:00+01:00") from None
    if at.tzinfo is None:
        at = at.astimezone()  # a wall-clock time on this machine
    keys = [k.strip() for k in args.keys.split(",")] if args.keys else []
    for line in simulate(
        flows[args.flow],
        at=at,
        keys=keys,
        caller=args.caller,
        tier=args.tier,
        open_complaint=args.complaint,
        region=settings.default_region,
    ):
        print(line)
    return 0


def cmd_ivr_exits(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from cti.ivr.history import ivr_exit_report

    until = datetime.now(UTC)
    since = until - timedelta(days=args.days)
    rows = run_db(lambda s: ivr_exit_report(s, since=since, until=until, flow=args.flow))
    print(json.dumps(rows, indent=2, ensure_ascii=False))
    return 0
