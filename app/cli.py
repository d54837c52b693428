"""The `plateau` command line."""

from __future__ import annotations

import argparse
import json
import sys

from app.settings import ConfigError, load_settings


def _cmd_migrate(args: argparse.Namespace) -> int:
    from app import migrate

    migrate.upgrade(load_settings().database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.settings import VAR

    settings = load_settings()
    pbx = _start_private_pbx(settings) if args.with_pbx else None  # before: Asterisk keeps its own priority
    if args.with_pbx and settings.pbx_conf_dir is None and (VAR / "asterisk" / "etc").is_dir():
        settings = settings.model_copy(update={"pbx_conf_dir": VAR / "asterisk" / "etc"})  # provision it
    _set_cpu_nice(settings.cpu_nice)
    app = create_app(settings)
    if pbx is not None:
        from cti.phones import Provisioner

        app.state.phones = Provisioner(pbx.cfg.runtime / "etc", pbx.rx)
    try:
        uvicorn.run(
            app,
            host=args.host or settings.http_host,
            port=args.port or settings.http_port,
            log_level="info",
            ws_ping_interval=20,
            ws_ping_timeout=20,
            # per-connection compression of every frame cost a third of the CPU of a 1,000-wallboard fan-out
            # (bench/wallboard_fanout.py); the frames are small JSON on a LAN
            ws_per_message_deflate=False,
            **proxy_options(settings),
        )
    finally:
        if pbx is not None:
            pbx.stop()
    return 0


def proxy_options(settings) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """uvicorn believes X-Forwarded-For only from PLATEAU_TRUSTED_PROXIES. Its defaults trust loopback (and
    FORWARDED_ALLOW_IPS): any local client could then pick its address and dodge the login lock."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}


def _set_cpu_nice(nice: int) -> None:
    """Before uvicorn starts any thread: Linux applies a nice to the calling thread and those it starts."""
    from app.cpu_priority import apply_cpu_nice

    problems = apply_cpu_nice(nice)
    for problem in problems:
        print(f"warning: PLATEAU_CPU_NICE={nice}: {problem}; running on", file=sys.stderr)
    if nice and not problems:
        print(f"cpu priority: nice {nice}", file=sys.stderr)


def _start_private_pbx(settings):  # type: ignore[no-untyped-def]
    """`make run`: the Asterisk of asterisk-conf/, unless something already answers on the AMI port."""
    import socket

    from app.settings import VAR
    from cti.pbx_process import PbxConfig, PrivateAsterisk

    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex((settings.ami_host, settings.ami_port)) == 0:
            where = f"{settings.ami_host}:{settings.ami_port}"
            print(f"an AMI already answers on {where}; using it", file=sys.stderr)
            return None
    from cti.phones import phone_accounts
    from cti.queue_provision import queue_confs

    cfg = PbxConfig(
        runtime=VAR / "asterisk",
        sip_port=settings.pbx_sip_port,
        sip_bind=settings.pbx_sip_bind,
        external_signaling_address=settings.pbx_external_signaling_address,
        external_media_address=settings.pbx_external_media_address,
        local_net=tuple(settings.pbx_local_net),
        rtp_start=settings.pbx_rtp_start,
        rtp_end=settings.pbx_rtp_end,
        ami_port=settings.ami_port,
        agi_port=settings.agi_port,
        http_port=settings.pbx_http_port,
        https_port=settings.pbx_https_port,
        tls_cert=settings.pbx_tls_cert,
        tls_key=settings.pbx_tls_key,
        ami_user=settings.ami_user,
        ami_secret=settings.ami_secret.get_secret_value(),
        ivr_enabled=bool(getattr(settings, "ivr_enabled", False)),
        phones=_run(phone_accounts),  # the users' phones with their own credentials
        queues=_run(queue_confs) or None,  # the queues of the database (none yet: the built-in ones)
        trunks=[t.trunk() for t in settings.pbx_trunks],
    )
    pbx = PrivateAsterisk(cfg)
    pbx.start()
    print(
        f"private Asterisk: SIP udp {cfg.sip_bind}:{cfg.sip_port} ({len(cfg.all_phones())} phones, trunks "
        f"{', '.join(t.name for t in cfg.all_trunks())}), browser phones ws://127.0.0.1:{cfg.http_port}/ws "
        f"and wss://{cfg.sip_bind}:{cfg.https_port}/ws, AMI 127.0.0.1:{cfg.ami_port}",
        file=sys.stderr,
    )
    return pbx


def _cmd_config(_args: argparse.Namespace) -> int:
    print(json.dumps(load_settings().masked(), indent=2, default=str))
    return 0


def _run(coro_fn):  # type: ignore[no-untyped-def]
    """Run `coro_fn(session)` against the configured database."""
    import asyncio

    from app.db import Database

    async def main():  # type: ignore[no-untyped-def]
        db = Database(load_settings().database_url)
        try:
            async with db.session() as session:
                return await coro_fn(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


def _cmd_user_add(args: argparse.Namespace) -> int:
    import getpass

    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from app.audit import audit
    from app.models import Role, Team, User
    from app.security import hash_password

    password = args.password
    if password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the two passwords differ")
    if len(password) < 10:
        raise CliError("the password needs at least 10 characters")

    async def add(session):  # type: ignore[no-untyped-def]
        team_id = None
        if args.team:
            team = await session.scalar(select(Team).where(Team.name == args.team))
            if team is None:
                team = Team(name=args.team)
                session.add(team)
                await session.flush()
            team_id = team.id
        user = User(
            username=args.username,
            display_name=args.name or args.username,
            role=Role(args.role),
            password_hash=hash_password(password),
            language=args.language,
            sip_endpoint=args.sip_endpoint,
            team_id=team_id,
        )
        session.add(user)
        try:
            await session.flush()
        except IntegrityError:
            raise CliError(
                f"user {args.username!r} or SIP endpoint {args.sip_endpoint!r} exists already"
            ) from None
        audit(
            session,
            "user_created",
            user_id=None,
            target_type="user",
            target_id=user.id,
            detail={"username": user.username, "role": user.role.value, "via": "cli"},
        )
        await session.commit()
        return user.id

    user_id = _run(add)
    print(f"user {args.username} ({args.role}) created with id {user_id}")
    return 0


def _person_query(args: argparse.Namespace) -> dict[str, object]:
    return {"number": args.number, "email": args.email, "contact_id": args.contact_id}


def _cmd_person(args: argparse.Namespace) -> int:
    """`plateau person export|erase|object`: the data-rights actions of the admin page, audited as done
    from the command line."""
    from datetime import UTC, datetime
    from pathlib import Path

    from app import person_data, person_zip
    from app.recording_store import store_for

    settings = load_settings()
    store = store_for(settings)
    if args.person_command == "erase" and not args.yes:
        raise CliError("erasure cannot be undone: add --yes")

    async def act(session):  # type: ignore[no-untyped-def]
        try:
            person = await person_data.resolve(session, **_person_query(args), region=settings.default_region)
        except person_data.BadQuery as exc:
            raise CliError(f"{exc.field}: {exc.reason}") from None
        except person_data.PersonNotFound as exc:
            raise CliError(str(exc)) from None
        if args.person_command == "erase":
            return await person_data.erase_person(
                session, person, settings.tombstone_key(), store, datetime.now(UTC), user_id=None
            )
        if args.person_command == "object":
            return await person_data.object_to_calls(session, person, datetime.now(UTC), user_id=None)
        gathered = await person_data.gather(session, person, store)
        detail = {"counts": gathered.counts(), "files": len(gathered.files), "via": "cli"}
        person_data.audit_person(session, "person_exported", person, detail, user_id=None)
        await session.commit()
        out = Path(args.out)
        with out.open("wb") as f:  # noqa: ASYNC230  (the CLI's own file)
            async for chunk in person_zip.zip_stream(gathered, datetime.now(UTC), store):
                f.write(chunk)
        return {"file": str(out), "counts": gathered.counts()}

    print(json.dumps(_run(act), indent=2))
    return 0


def _cmd_import_customers(args: argparse.Namespace) -> int:
    from app.customer_import import MalformedFile, import_customers

    settings = load_settings()
    try:
        report = _run(
            lambda s: import_customers(
                s,
                args.file,
                settings.default_region,
                zone=settings.timezone,
                encoding=args.encoding,
                delimiter=args.delimiter,
                all_or_nothing=args.all_or_nothing,
                dry_run=args.dry_run,
                tombstone_key=settings.tombstone_key(),
            )
        )
    except MalformedFile as exc:
        raise CliError(f"{args.file}: {exc}; nothing was imported") from None
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror}") from None
    print(report.summary())
    for line, reason in report.rejected[: args.show_rejects]:
        print(f"  line {line}: {reason}")
    if len(report.rejected) > args.show_rejects:
        print(f"  … and {len(report.rejected) - args.show_rejects} more")
    return 0


def _outbound(fn):  # type: ignore[no-untyped-def]
    """Run an outbound CLI coroutine `fn(db, region)`; its user-facing errors become CliError."""
    import asyncio

    from app.db import Database
    from dialer.cli_outbound import OutboundCliError

    settings = load_settings()

    async def main():  # type: ignore[no-untyped-def]
        db = Database(settings.database_url)
        try:
            return await fn(db, settings.default_region)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except OutboundCliError as exc:
        raise CliError(str(exc)) from None


def _cmd_import_list(args: argparse.Namespace) -> int:
    from dialer.cli_outbound import import_list

    view, rejects = _outbound(
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


def _cmd_dnc_import(args: argparse.Namespace) -> int:
    from dialer.cli_outbound import import_dnc

    report = _outbound(
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


def _cmd_campaign_create(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.campaign_file import create_from_file
    from dialer.model_errors import ContentError

    async def create(session):  # type: ignore[no-untyped-def]
        try:
            c = await create_from_file(session, Path(args.file))
        except ContentError as exc:
            raise CliError("\n".join(exc.errors)) from None
        return c.id, c.name

    campaign_id, name = _run(create)
    print(f"campaign {name!r} created as a draft (id {campaign_id}); start it from /campaigns/{campaign_id}")
    return 0


def _cmd_phone_reset_password(args: argparse.Namespace) -> int:
    """A new SIP password for USER's phone, printed once; a running private Asterisk takes it at once."""
    from sqlalchemy import select

    from app.audit import audit
    from app.models import User
    from cti.pbx_process import private_provisioner
    from cti.phones import REALM, reset_password

    settings = load_settings()

    async def reset(session):  # type: ignore[no-untyped-def]
        user = await session.scalar(select(User).where(User.username == args.username))
        if user is None:
            raise CliError(f"no user {args.username!r}")
        if not user.sip_endpoint:
            raise CliError(f"user {args.username!r} has no phone (sip_endpoint)")
        password = await reset_password(session, user)
        audit(session, "phone.password_reset", user_id=None, target_type="user", target_id=user.id)
        await session.commit()
        provisioner = private_provisioner()
        applied = await provisioner.apply(session) if provisioner is not None else None
        return user.sip_endpoint, password, applied

    endpoint, password, applied = _run(reset)
    print(f"phone of {args.username}: user {endpoint}, password {password} (shown once), realm {REALM}")
    print(f"server {settings.pbx_external_signaling_address or settings.pbx_sip_bind}, port "
          f"{settings.pbx_sip_port}, transport UDP")  # fmt: skip
    if applied is None:
        print("no private Asterisk running here: restart `plateau serve --with-pbx` or reload PJSIP")
    return 0


def _cmd_recordings_purge(_args: argparse.Namespace) -> int:
    """The retention job, now: prints what it deleted, what a complaint holds, the call rows anonymised."""
    import asyncio
    import json
    from datetime import UTC, datetime

    from app.db import Database
    from app.recording_purge import purge
    from app.recording_store import store_for

    settings = load_settings()

    async def main() -> dict[str, object]:
        db = Database(settings.database_url)
        try:
            return (await purge(db, store_for(settings), settings, datetime.now(UTC))).as_dict()
        finally:
            await db.dispose()

    report = asyncio.run(main())
    deleted, held = report["deleted"], report["held"]
    assert isinstance(deleted, list) and isinstance(held, list)
    for item in deleted:
        print(f"deleted recording {item['id']} (call {item['linkedid']}, ended {item['ended_at']})")
    print(json.dumps({"deleted": len(deleted), "held": held, "calls_anonymised": report["calls_anonymised"]}))
    return 0


def _queue_live():  # type: ignore[no-untyped-def]
    """What a CLI change reaches: the include files of PLATEAU_PBX_CONF_DIR (or `make run`'s Asterisk)
    and, when that private Asterisk runs, its console; a running Plateau re-applies them on its next
    connect."""
    from app.queue_admin import Live
    from app.settings import VAR
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
        return _run(fn)
    except ValidationError as exc:
        said = (f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CliError("; ".join(said)) from None
    except DomainError as exc:
        raise CliError(f"{exc.field}: {exc.message}" if exc.field is not None else exc.message) from None


def _cmd_queue_add(args: argparse.Namespace) -> int:
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


def _cmd_queue_member(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app import queue_admin
    from app.models import Queue, User
    from app.queue_schemas import SkillIn

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


def _cmd_demo(args: argparse.Namespace) -> int:
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

    print(_run(seed))
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


def _cmd_ivr_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cti.ivr.model import SOUNDS_DIR, load_flows
    from dialer.model_errors import ContentError

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


def _cmd_ivr_try(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from cti.ivr.model import load_flows
    from cti.ivr.simulate import simulate
    from dialer.model_errors import ContentError

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


def _cmd_ivr_exits(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from cti.ivr.history import ivr_exit_report

    until = datetime.now(UTC)
    since = until - timedelta(days=args.days)
    rows = _run(lambda s: ivr_exit_report(s, since=since, until=until, flow=args.flow))
    print(json.dumps(rows, indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plateau", description="Plateau contact-centre server")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("serve", help="run the HTTP/WebSocket server")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--with-pbx", action="store_true", help="also run the private Asterisk of asterisk-conf/")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("config", help="print the effective configuration, secrets masked")
    p.set_defaults(func=_cmd_config)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="create a user")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["agent", "supervisor", "manager", "admin"])
    p.add_argument("--password", help="(prompted twice when omitted)")
    p.add_argument("--name", help="display name")
    p.add_argument("--sip-endpoint")
    p.add_argument("--team")
    p.add_argument("--language", default="fr", choices=["fr", "en"])
    p.set_defaults(func=_cmd_user_add)

    imp = sub.add_parser("import", help="import data").add_subparsers(dest="import_command", required=True)
    p = imp.add_parser(
        "customers", help="import contacts from a CSV file (Excel-style, ';', cp1252 or UTF-8)"
    )
    p.add_argument("file")
    p.add_argument("--encoding", help="force the encoding (default: detected)")
    p.add_argument("--delimiter", help="force the separator (default: sniffed among ; , tab)")
    p.add_argument("--all-or-nothing", action="store_true", help="import nothing if any line is rejected")
    p.add_argument("--dry-run", action="store_true", help="check the file, write nothing")
    p.add_argument("--show-rejects", type=int, default=50, help="how many rejected lines to print")
    p.set_defaults(func=_cmd_import_customers)

    # --- outbound ---
    p = imp.add_parser("list", help="import a call list (CSV or XLSX) into leads")
    p.add_argument("file")
    p.add_argument("--list", required=True, help="call list name (created when missing)")
    p.add_argument("--template", help="saved column-mapping template")
    p.add_argument("--encoding", choices=["utf-8", "utf-8-sig", "cp1252", "latin-1"])
    p.add_argument("--delimiter", choices=[";", ",", "tab"])
    p.add_argument("--dedupe", default="list", choices=["list", "campaign", "all"])
    p.add_argument("--dedupe-by", default="number", choices=["number", "external_id"])
    p.add_argument("--campaign", help="campaign name: its DNC lists, rule set (consent) and lists for dedupe")
    p.add_argument("--show-rejects", type=int, default=50)
    p.set_defaults(func=_cmd_import_list)
    dnc = sub.add_parser("dnc", help="do-not-call lists").add_subparsers(dest="dnc_command", required=True)
    p = dnc.add_parser("import", help="add the numbers of a file (e.g. a Bloctel extract) to a DNC list")
    p.add_argument("file")
    p.add_argument("--list", default="Interne", help="DNC list name (created when missing)")
    p.add_argument("--kind", default="internal", choices=["internal", "national", "campaign"])
    p.add_argument("--campaign", help="campaign name, for a campaign list")
    p.add_argument("--show-rejects", type=int, default=50)
    p.set_defaults(func=_cmd_dnc_import)

    person = sub.add_parser("person", help="a customer's data rights (GDPR)").add_subparsers(
        dest="person_command", required=True
    )
    for name, help_text in [
        ("export", "everything held about a person, as one ZIP (JSON, CSV, audio)"),
        ("erase", "erase a person everywhere, keeping a tombstone that stops re-imports"),
        ("object", "the person objects to calls: their numbers go on the internal do-not-call list"),
    ]:
        p = person.add_parser(name, help=help_text)
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--number", help="a phone number, in any format")
        who.add_argument("--email")
        who.add_argument("--contact-id", type=int)
        if name == "export":
            p.add_argument("--out", required=True, help="the ZIP file to write")
        if name == "erase":
            p.add_argument("--yes", action="store_true", help="confirm: erasure cannot be undone")
        p.set_defaults(func=_cmd_person)

    camp = sub.add_parser("campaign", help="outbound campaigns").add_subparsers(
        dest="campaign_command", required=True
    )
    p = camp.add_parser("create", help="create a draft campaign from a YAML file (the API's fields)")
    p.add_argument("file")
    p.set_defaults(func=_cmd_campaign_create)

    phone = sub.add_parser("phone", help="users' phones").add_subparsers(dest="phone_command", required=True)
    p = phone.add_parser("reset-password", help="a new SIP password for USER's phone, printed once")
    p.add_argument("username")
    p.set_defaults(func=_cmd_phone_reset_password)

    rec = sub.add_parser("recordings", help="call recordings").add_subparsers(
        dest="rec_command", required=True
    )
    p = rec.add_parser("purge", help="delete expired recordings (not those a complaint holds), say which")
    p.set_defaults(func=_cmd_recordings_purge)
    queue = sub.add_parser("queue", help="queues and skills")
    queue = queue.add_subparsers(dest="queue_command", required=True)
    p = queue.add_parser("add", help="create a queue (the same rules as the admin page and the API)")
    p.add_argument("name", help="its Asterisk name: a-z, 0-9, _ and -, starting with a letter")
    p.add_argument("--display-name")
    p.add_argument("--strategy", help="ringall, leastrecent, fewestcalls, random, rrmemory, linear, …")
    p.add_argument("--wrapup", type=int, help="seconds an agent is not rung after a call (app_queue)")
    p.add_argument("--did", help="the number that reaches it")
    p.add_argument("--max-wait", type=int, help="seconds a caller waits at most")
    p.add_argument("--overflow", help="the queue callers go to after the wait")
    p.add_argument("--service-level", type=int, help="answered within N seconds counts as on time")
    p.add_argument("--sl-target", type=int, help="service-level target, percent")
    p.add_argument("--short-abandon", type=int, help="abandons under N seconds are short")
    p.set_defaults(func=_cmd_queue_add)
    p = queue.add_parser("member", help="put USERNAME in QUEUE with a skill (1 best … 9), or --remove")
    p.add_argument("queue")
    p.add_argument("username")
    p.add_argument("--skill", type=int, default=1)
    p.add_argument("--remove", action="store_true")
    p.set_defaults(func=_cmd_queue_member)

    p = sub.add_parser("demo", help="seed a demo data set (idempotent)")
    p.add_argument(
        "--live",
        action="store_true",
        help="then simulate customers calling and colleagues answering, against `make run`'s Asterisk",
    )
    p.add_argument("--minutes", type=float, help="--live: stop after this long (default: until Ctrl-C)")
    p.add_argument("--calls-per-minute", type=float, default=2.0, help="--live: how busy (default 2)")
    p.add_argument("--colleagues", help="--live: simulated agents, comma-separated (default agent2,agent3)")
    p.add_argument("--talk-seconds", default="20-60", help="--live: how long colleagues talk (LOW-HIGH)")
    p.add_argument("--seed", type=int, default=7, help="--live: the same seed replays the same calls")
    p.add_argument("--pbx-dir", help="--live: the private Asterisk's folder (default var/asterisk)")
    p.set_defaults(func=_cmd_demo)

    ivr = sub.add_parser("ivr", help="IVR flows").add_subparsers(dest="ivr_command", required=True)
    p = ivr.add_parser("check", help="validate the IVR flows (exit code 1 with one line per problem)")
    p.add_argument("--dir", help="flows directory (default: PLATEAU_IVR_FLOWS_DIR)")
    p.add_argument("--no-sounds", action="store_true", help="do not check that the sounds exist")
    p.set_defaults(func=_cmd_ivr_check)
    p = ivr.add_parser("try", help="dry-run a flow: keys typed, time of the call, caller's tier")
    p.add_argument("flow")
    p.add_argument("--keys", help="comma-separated inputs, one per prompt, e.g. 2,12345674#")
    p.add_argument("--at", help="ISO date-time of the call (default: now)")
    p.add_argument("--caller", default="0612345678", help="caller ID")
    p.add_argument("--tier", choices=["vip", "gold", "standard", "low"], help="a known caller of this tier")
    p.add_argument("--complaint", action="store_true", help="the known caller has an open complaint")
    p.set_defaults(func=_cmd_ivr_try)
    p = ivr.add_parser("exits", help="where callers left the IVR (per flow, node and exit), as JSON")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--flow")
    p.set_defaults(func=_cmd_ivr_exits)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, CliError) as exc:
        print(f"plateau: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
