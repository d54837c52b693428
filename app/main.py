"""The FastAPI application: one process owning the database, the AMI link and the WebSocket hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app.collector import service_collector
from app.db import Database
from app.routes import (
    admin,
    agent,
    agent_preview,
    auth,
    care,
    complaint_reasons,
    complaints,
    customers,
    history,
    outbound,
    reports,
    supervisor,
    unhappy,
)
from app.security import LoginRateLimiter
from app.settings import Settings, get_settings
from app.web import mount_web
from app.ws_hub import Hub
from cti.service import CtiService
from dialer import monitor_api as dialer_monitor
from dialer.campaign_feed import CampaignFeed
from dialer.engine import DialerService

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(settings.database_url)
        from cti.ivr.service import start_ivr

        app.state.ivr = await start_ivr(settings, app.state.db)  # None unless PLATEAU_IVR_ENABLED
        app.state.cti = CtiService(settings, app.state.db, app.state.hub)
        app.state.hub.set_snapshot(app.state.cti.snapshot)
        app.state.unhappy = app.state.cti.unhappy
        await app.state.cti.start()
        # the live dialer (issue 6): only with a PBX to dial through
        app.state.dialer = DialerService(app.state.cti, app.state.db)
        if settings.ami_enabled:
            await app.state.dialer.start()
        # the running campaigns' wallboard tiles, pushed to supervisors (issue 6)
        app.state.campaign_feed = CampaignFeed(app.state.dialer, app.state.hub, app.state.db)
        await app.state.campaign_feed.start()
        try:
            with service_collector():
                yield
        finally:
            await app.state.campaign_feed.stop()
            await app.state.dialer.stop()
            if app.state.ivr is not None:
                await app.state.ivr.stop()
            await app.state.cti.stop()
            await app.state.db.dispose()

    app = FastAPI(
        title="Plateau",
        version="0.1.0",
        summary="Contact-centre telephony server",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.hub = Hub()
    app.state.login_limiter = LoginRateLimiter(settings.login_rate_limit, settings.login_rate_window_s)
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
        agent,
        agent_preview,
        supervisor,
        unhappy,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(dialer_monitor.router, prefix=API_PREFIX)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        db_error = await app.state.db.ping()
        ami = app.state.cti.health()
        return {
            "status": "ok" if db_error is None and ami["ok"] else "degraded",
            "ami": ami,
            "database": {
                "ok": db_error is None,
                "engine": "sqlite" if settings.is_sqlite else "postgresql",
                "error": db_error,
            },
        }

    app.add_api_websocket_route("/ws", agent.websocket_endpoint)
    mount_web(app)  # browser pages and /static (issue 4)
    return app
