"""`plateau migrate`, `serve` (its private Asterisk, CPU priority), `config`, `recordings purge` and
`cluster status`."""

from __future__ import annotations

import argparse
import json
import sys

from app.commands.common import run_db
from core.settings import load_settings


def cmd_migrate(args: argparse.Namespace) -> int:
    from app import migrate

    migrate.upgrade(load_settings().database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from core.settings import VAR

    settings = load_settings()
    if args.node_name:
        settings = settings.model_copy(update={"node_name": args.node_name})
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

    from core.settings import VAR
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
        phones=run_db(phone_accounts),  # the users' phones with their own credentials
        queues=run_db(queue_confs) or None,  # the queues of the database (none yet: the built-in ones)
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


def cmd_config(_args: argparse.Namespace) -> int:
    print(json.dumps(load_settings().masked(), indent=2, default=str))
    return 0


def cmd_recordings_purge(_args: argparse.Namespace) -> int:
    """The retention job, now: prints what it deleted, what a complaint holds, the call rows anonymised."""
    import asyncio
    import json
    from datetime import UTC, datetime

    from app.recording_purge import purge
    from core.db import Database
    from core.recording_store import store_for

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
    summary = {"deleted": len(deleted), "held": held}
    print(json.dumps(summary | {k: report[k] for k in ("calls_anonymised", "drafts_deleted")}))
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    """Every lease as the database has it (expiry by its clock), then the nodes seen through their leases."""
    import asyncio

    from core.db import Database
    from core.leases import cluster_status

    settings = load_settings()

    async def main() -> dict[str, object]:
        db = Database(settings.database_url)
        try:
            return await cluster_status(db)
        finally:
            await db.dispose()

    status = asyncio.run(main())
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    leases, nodes = status["leases"], status["nodes"]
    assert isinstance(leases, list) and isinstance(nodes, list)
    if status["engine"] == "sqlite":
        print(f"SQLite: one node ({settings.node_name}) owns everything; no leases")
        return 0
    print(f"{'lease':<32} {'owner':<24} {'token':>8} {'expires in':>12}")
    for lease in leases:
        expires = lease["expires_in_s"]
        when = f"{expires:.1f} s" if expires > 0 else "expired"
        print(f"{lease['name']:<32} {lease['owner']:<24} {lease['token']:>8} {when:>12}")
    print("nodes seen:")
    for node in nodes:
        state = "alive" if node["alive"] else "gone"
        print(f"  {node['name']} ({state}, renewed {node['renewed_at']})")
    return 0
