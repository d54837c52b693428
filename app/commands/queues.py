"""`plateau queue add` and `plateau queue member`: queue changes applied to the PBX's include files."""

from __future__ import annotations

import argparse

from app.commands.common import CliError, run_db
from core.settings import load_settings


def _queue_live():  # type: ignore[no-untyped-def]
    """What a CLI change reaches: the include files of PLATEAU_PBX_CONF_DIR (or `make run`'s Asterisk)
    and, when that private Asterisk runs, its console; a running Plateau re-applies them on its next
    connect."""
    from app.queue_admin import Live
    from core.settings import VAR
    from cti.pbx_process import PbxConfig, PbxError, PrivateAsterisk
    from cti.queue_provision import QueueProvisioner

    etc = load_settings().pbx_conf_dir
    console = None
    if etc is None and (VAR / "asterisk" / "etc" / "asterisk.conf").exists():
        etc = VAR / "asterisk" / "etc"
        pbx = PrivateAsterisk(PbxConfig(runtime=VAR / "asterisk"))

        def console(command: str) -> None:
            try:
                pbx.rx(command, timeout=10)
            except PbxError:
                raise RuntimeError("the private Asterisk is not running") from None

    return Live(None, QueueProvisioner(etc, None, console) if etc is not None else None)


def _queue_cli(fn):  # type: ignore[no-untyped-def]
    """Run a queue change; the schema's and the rules' refusals are printed like any CLI error."""
    from pydantic import ValidationError

    from core.errors import DomainError

    try:
        return run_db(fn)
    except ValidationError as exc:
        said = (f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CliError("; ".join(said)) from None
    except DomainError as exc:
        raise CliError(f"{exc.field}: {exc.message}" if exc.field is not None else exc.message) from None


def cmd_queue_add(args: argparse.Namespace) -> int:
    from app import queue_admin
    from app.queue_schemas import QueueIn

    fields = {
        "name": args.name,
        "display_name": args.display_name or args.name,
        "strategy": args.strategy,
        "wrapup_s": args.wrapup,
        "service_level_s": args.service_level,
        "sl_target_pct": args.sl_target,
        "short_abandon_s": args.short_abandon,
        "max_wait_s": args.max_wait,
        "overflow": args.overflow,
        "did": args.did,
    }
    live = _queue_live()

    async def add(session):  # type: ignore[no-untyped-def]
        body = QueueIn.model_validate({k: v for k, v in fields.items() if v is not None})
        queue, applied = await queue_admin.create_queue(session, live, None, body)  # type: ignore[arg-type]
        return queue.name, applied

    name, applied = _queue_cli(add)
    print(f"queue {name} created" + ("; Asterisk has it now" if applied else ""))
    return 0


def cmd_queue_member(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app import queue_admin
    from app.queue_schemas import SkillIn
    from core.models import Queue, User

    live = _queue_live()

    async def member(session):  # type: ignore[no-untyped-def]
        queue = await session.scalar(select(Queue).where(Queue.name == args.queue))
        user = await session.scalar(select(User).where(User.username == args.username))
        if queue is None or user is None:
            raise CliError(f"no queue {args.queue!r}" if queue is None else f"no user {args.username!r}")
        if args.remove:
            await queue_admin.remove_member(session, live, None, queue.id, user.id)  # type: ignore[arg-type]
            return f"{user.username} removed from {queue.name}"
        skill = SkillIn.model_validate({"skill": args.skill}).skill
        await queue_admin.set_skill(session, live, None, queue.id, user.id, skill)  # type: ignore[arg-type]
        return f"{user.username} in {queue.name} with skill {skill} (from their next login)"

    print(_queue_cli(member))
    return 0
