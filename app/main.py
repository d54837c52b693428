"""The FastAPI application: one process owning the database, the AMI link and the WebSocket hub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Response

from app import errors, recording_purge
from app.body_limits import BodyLimits
from app.cluster_bus import ClusterPublisher, ControlForwarder, cluster_relay, state_by_pbx
from app.collector import service_collector
from app.cti_wiring import build_cti
from app.health import ClusterCheck, WriteProbe
from app.ivr_data import AppIvrData
from app.login_limits import SharedLoginLimiter
from app.routes import (
    admin,
    admin_hours,
    admin_queues,
    agent,
    agent_preview,
    auth,
    campaign_abandon,
    campaign_monitor,
    care,
    complaint_reasons,
    complaints,
    customers,
    history,
    outbound,
    persons,
    recordings,
    reports,
    supervisor,
    unhappy,
)
from app.security import LoginRateLimiter, PasswordWork, credential_check
from app.unhappy_segment import SegmentCache
from app.web import mount_web
from app.ws_hub import Hub
from core import registry  # noqa: F401  (every table module loaded before the first query)
from core.db import Database
from core.leases import LeaseKeeper, run_while_held
from core.recording_store import store_for
from core.settings import Settings, get_settings
from cti.queue_provision import QueueProvisioner
from dialer.campaign_feed import CampaignFeed
from dialer.engine import DialerService
from dialer.list_import import recover_interrupted

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(settings.database_url)
        # which node acts for what (core/leases.py); on SQLite this node owns everything and sends nothing
        app.state.leases = LeaseKeeper(
            app.state.db,
            settings.node_name,
            settings.lease_ttl_s,
            settings.lease_renew_every_s,
            settings.lease_margin_s,
        )
        # other nodes on this database: fine with the bus on, a misconfiguration without (app/health.py)
        app.state.cluster_check = ClusterCheck(bus=settings.cluster_bus and not settings.is_sqlite)
        app.state.leases.on_other_nodes(app.state.cluster_check.nodes_changed)
        await app.state.leases.start()
        # imports a killed process left running: failed with the reason, their leads and upload deleted
        try:
            await recover_interrupted(app.state.db)
        except Exception:  # the service starts anyway; the next start tries again
            log.exception("could not clean up interrupted list imports")
        app.state.write_probe = WriteProbe(app.state.db)
        from cti.ivr.service import start_ivr

        app.state.ivr = await start_ivr(
            settings, app.state.db, AppIvrData()
        )  # None unless PLATEAU_IVR_ENABLED
        app.state.unhappy = SegmentCache()  # the unhappy-customers file: the pop's badge, the unhappy routes
        # several nodes on one PostgreSQL (PLATEAU_CLUSTER_BUS): what the CTI publishes reaches every node's
        # browsers; otherwise the hub takes it directly, with no extra work on the event path
        app.state.controls = controls = ControlForwarder()  # controls for a server another node runs
        cluster = cluster_relay(settings, app.state.hub, controls)
        app.state.bus_relay, app.state.cluster = relay, view = cluster or (None, None)
        publisher = app.state.hub if relay is None else ClusterPublisher(app.state.hub, relay)
        if relay is not None:
            await relay.start()
        # several nodes (the bus on): a PBX link runs on the holder of `pbx:<name>` only; else here, always
        links = app.state.leases if relay is not None else None
        app.state.cti = build_cti(settings, app.state.db, publisher, app.state.unhappy, links)
        if view is None:
            app.state.hub.set_snapshot(app.state.cti.snapshot)
        else:  # a snapshot here shows the other nodes' PBXs too (their state mirrored)
            controls.cti, app.state.cti.forward = app.state.cti, controls.forward
            app.state.cti.link_elsewhere = view.link_elsewhere
            await view.start(app.state.cti.snapshot, partial(state_by_pbx, app.state.cti))
            app.state.hub.set_snapshot(view.snapshot, view.replay)
        app.state.hub.set_credential_check(credential_check(app.state.db))
        app.state.queues = None
        if settings.pbx_conf_dir is not None:  # Plateau provisions the PBX's queues (cti/queue_provision.py)
            app.state.queues = QueueProvisioner(settings.pbx_conf_dir, app.state.cti)
            app.state.cti.on_link_up.append(partial(app.state.queues.resync, app.state.db))
        await app.state.cti.start()
        # the live dialer: only with a PBX to dial through
        app.state.dialer = DialerService(app.state.cti, app.state.db, leases=app.state.leases)
        if settings.ami_enabled:
            await app.state.dialer.start()
        # the running campaigns' wallboard tiles, pushed to supervisors
        app.state.campaign_feed = CampaignFeed(app.state.dialer, app.state.hub, app.state.db)
        await app.state.campaign_feed.start()
        # the retention purge (recordings, call metadata): at start, then periodically, on one node at a time
        purge = partial(recording_purge.run_periodically, app.state.db, store_for(settings), settings)
        app.state.purge_task = asyncio.create_task(
            run_while_held(app.state.leases, recording_purge.LEASE, purge), name="purge"
        )
        try:
            with service_collector():
                yield
        finally:
            await recording_purge.stop(app.state.purge_task)
            await app.state.campaign_feed.stop()
            await app.state.dialer.stop()
            await app.state.leases.stop()  # after its owners: a clean stop hands the leases over at once
            if app.state.ivr is not None:
                await app.state.ivr.stop()
            await controls.stop()
            await app.state.cti.stop()
            if app.state.cluster is not None:
                await app.state.cluster.stop()
            if app.state.bus_relay is not None:
                await app.state.bus_relay.stop()
            await app.state.db.dispose()

    app = FastAPI(
        title="Plateau",
        version="0.1.0",
        summary="Contact-centre telephony server",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.register(app)  # domain errors (core/errors.py) become responses here, once
    app.add_middleware(BodyLimits, settings=settings)  # oversize bodies refused before they are read
    app.state.hub = Hub()
    # several nodes (PostgreSQL, the bus on) count sign-in failures together; one node in its memory
    limits = (settings.login_rate_limit, settings.login_rate_window_s, settings.login_ip_rate_limit)
    shared = settings.cluster_bus and not settings.is_sqlite
    app.state.login_limiter = SharedLoginLimiter(*limits) if shared else LoginRateLimiter(*limits)
    app.state.passwords = PasswordWork(settings.password_workers, waiting=8 * settings.password_workers)
    for module in (
        auth,
        customers,
        history,
        complaints,
        complaint_reasons,
        care,
        admin,
        reports,
        outbound,
        recordings,
        agent,
        agent_preview,
        supervisor,
        unhappy,
        persons,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(campaign_monitor.router, prefix=API_PREFIX)  # with the campaign reports
    app.include_router(admin_queues.router, prefix=API_PREFIX)
    app.include_router(admin_hours.router, prefix=API_PREFIX)
    app.include_router(campaign_abandon.router, prefix=API_PREFIX)

    @app.get("/healthz", tags=["health"], responses={503: {"description": "degraded: see the reasons"}})
    async def healthz(response: Response) -> dict[str, Any]:
        # a read and a write (app/health.py): a database that only reads fails every login
        db_error = await app.state.db.ping() or await app.state.write_probe.error()
        ami = app.state.cti.health()
        history = app.state.cti.history_health()
        relay = getattr(app.state, "bus_relay", None)
        bus = relay.health() if relay is not None else {"ok": True, "cluster": False}
        view = getattr(app.state, "cluster", None)
        if view is not None:
            bus["state"] = view.health()  # the other nodes' state mirrored here, and ours sent
        ok = db_error is None and ami["ok"] and history["ok"] and bus["ok"]
        leases: LeaseKeeper | None = getattr(app.state, "leases", None)  # None: the lifespan has not run
        check: ClusterCheck | None = getattr(app.state, "cluster_check", None)
        if not ok:
            response.status_code = 503
        return {
            "status": "ok" if ok else "degraded",
            "ami": ami,
            "history": history,
            "bus": bus,
            "database": {
                "ok": db_error is None,
                "engine": "sqlite" if settings.is_sqlite else "postgresql",
                "error": db_error,
            },
            "node": {
                "name": settings.node_name,
                "leases": leases.status() if leases is not None else [],
                "pbx_links": ami.get("owned", []),  # the leases `pbx:<name>` whose link runs here
            },
            # other nodes on this database; a warning when they run without the bus
            "cluster": check.health() if check is not None else ClusterCheck(relay is not None).health(),
        }

    app.add_api_websocket_route("/ws", agent.websocket_endpoint)
    mount_web(app)  # browser pages and /static
    return app
