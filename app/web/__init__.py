"""The browser UI: server-rendered pages (Jinja2), static ES modules and CSS under `web/`."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.settings import ROOT

STATIC = ROOT / "web" / "static"


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(
        ("/api/", "/ws", "/static/")
    ) and "text/html" in request.headers.get("accept", "")


def mount_web(app: FastAPI) -> None:
    from app.web import (
        admin_view,
        calls_view,
        campaign_monitor_view,
        campaigns_view,
        care_view,
        hours_view,
        pages,
        persons_view,
        queues_view,
        reports_view,
        team_view,
    )
    from app.web.render import render

    app.include_router(pages.router)
    app.include_router(calls_view.router)  # one call, with its recording
    app.include_router(reports_view.router)
    app.include_router(campaigns_view.router)  # call lists and campaigns
    app.include_router(campaign_monitor_view.router)  # one campaign, live, and its reports
    app.include_router(care_view.router)  # the unhappy-customers file
    app.include_router(persons_view.router)  # the customer's data rights
    app.include_router(queues_view.router)  # queues, skills and phones (admins)
    app.include_router(admin_view.router)  # users, teams, codes, reasons, audit log
    app.include_router(hours_view.router)  # opening hours the IVR flows name
    app.include_router(team_view.router)  # a team lead's agents and their skills
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(pages.LoginRequired)
    async def _to_login(_request: Request, exc: pages.LoginRequired) -> Response:
        return RedirectResponse("/login?next=" + quote(exc.next_path, safe="/"), 303)

    @app.exception_handler(StarletteHTTPException)
    async def _html_errors(request: Request, exc: StarletteHTTPException) -> Response:
        # API clients keep FastAPI's JSON errors; a person in a browser gets a page with a way back.
        if not _wants_html(request) or exc.status_code not in (403, 404):
            return await http_exception_handler(request, exc)
        return render(request, "error.html", status_code=exc.status_code, code=exc.status_code)
