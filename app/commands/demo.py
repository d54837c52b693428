"""`plateau demo`: a demonstration centre, seeded or live."""

from __future__ import annotations

import argparse

from app.commands.common import CliError, run_db
from core.settings import load_settings


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.demo import seed_demo, sign_in_text
    from cti.pbx_process import private_provisioner

    pace = _live_pace(args) if args.live else None  # a bad option is refused before anything is written
    provisioner = private_provisioner(Path(args.pbx_dir) if args.pbx_dir else None)

    async def seed(session):  # type: ignore[no-untyped-def]
        said = await seed_demo(session)
        if provisioner is not None:  # `make run` already up: the browser phones register at once
            await provisioner.apply(session)
        return said

    print(run_db(seed))
    settings = load_settings()
    print(sign_in_text(f"http://{settings.http_host}:{settings.http_port}"))
    if pace is not None:
        from app.demo_live import DemoError, run_live_demo

        try:
            run_live_demo(
                settings,
                minutes=args.minutes,
                colleagues=args.colleagues.split(",") if args.colleagues else None,
                seed=args.seed,
                pace=pace,
                runtime=Path(args.pbx_dir) if args.pbx_dir else None,
            )
        except DemoError as exc:
            raise CliError(str(exc)) from None
    return 0


def _live_pace(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from app.demo_plan import Pace

    low, _, high = args.talk_seconds.partition("-")
    try:
        talk = (float(low), float(high))
    except ValueError:
        raise CliError(f"--talk-seconds {args.talk_seconds!r}: want LOW-HIGH, e.g. 20-60") from None
    if args.minutes is not None and args.minutes <= 0:
        raise CliError(f"--minutes {args.minutes:g}: want a positive duration")
    try:
        return Pace(calls_per_minute=args.calls_per_minute, talk_s=talk)
    except ValueError as exc:
        raise CliError(f"--calls-per-minute / --talk-seconds: {exc}") from None
