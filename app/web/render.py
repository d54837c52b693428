"""Jinja2 rendering with per-request translations, locale-aware filters and the page chrome's context."""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.routing import Match

from app.web import i18n
from core.models import Role, User
from core.settings import ROOT
from cti.softphone import ws_url

TEMPLATES = ROOT / "web" / "templates"
_lang: contextvars.ContextVar[str] = contextvars.ContextVar("ui_lang", default=i18n.DEFAULT_LANGUAGE)
_zone: contextvars.ContextVar[str] = contextvars.ContextVar("ui_zone", default="Europe/Paris")
_region: contextvars.ContextVar[str] = contextvars.ContextVar("ui_region", default="FR")


def _gettext(message: str) -> str:
    return i18n.translations(_lang.get()).ugettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.translations(_lang.get()).ungettext(singular, plural, n)


def use_language(lang: str, zone: str | None = None) -> None:
    """Set the UI language (and zone) for the rest of this request, for text built in Python."""
    _lang.set(i18n.normalise(lang))
    if zone:
        _zone.set(zone)


def N_(message: str) -> str:
    """Marks a string for extraction where it is translated later (at render time)."""
    return message


def gettext(message: str, **kwargs: Any) -> str:
    """For Python code that builds UI text (same catalogue and language as the templates)."""
    text = _gettext(message)
    return text % kwargs if kwargs else text


# A contact's role is free text; the usual values are codes shown in the reader's language.
CONTACT_ROLES = {
    "decision_maker": N_("Decision maker"),
    "gatekeeper": N_("Gatekeeper"),
    "user": N_("User"),
    "influencer": N_("Influencer"),
}


def contact_role(value: str | None) -> str:
    if not value:
        return "—"
    known = CONTACT_ROLES.get(value)
    return _gettext(known) if known else value


def build_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["dt"] = lambda v, fmt="short": i18n.fmt_datetime(v, _lang.get(), _zone.get(), fmt)
    env.filters["pct"] = lambda v: i18n.fmt_percent(v, _lang.get())
    env.filters["num"] = lambda v, digits=1: i18n.fmt_number(v, _lang.get(), digits)
    env.filters["duration"] = i18n.fmt_duration
    env.filters["phone"] = lambda e164: i18n.fmt_phone(e164, _region.get())
    env.filters["contact_role"] = contact_role
    return env


ENV = build_env()

# Strings the ES modules show; translated here so that the browser never needs a catalogue of its own.
JS_STRINGS = {
    "connected": N_("Live: connected"),
    "connecting": N_("Connecting…"),
    "disconnected": N_("Connection lost. Reconnecting in {s} s…"),
    "reconnecting": N_("Reconnecting…"),
    "resynced": N_("Reconnected; data refreshed."),
    "signing_in": N_("Signing in…"),
    "login_failed": N_("Wrong username or password."),
    "login_throttled": N_("Too many failed attempts. Try again in {s} s."),
    "login_invalid": N_("Enter your username and password."),
    "network_error": N_("The server cannot be reached. Check your connection and try again."),
    "items": N_("{n} live items"),
    "rec_pinned": N_("Recording pinned: kept while the complaint is open."),
    "rec_pin_failed": N_("The recording could not be pinned: {detail}"),
    "saved": N_("Saved."),
    "request_failed": N_("The change was refused"),
}


@dataclass(frozen=True, slots=True)
class NavItem:
    href: str
    label: str
    key: str


NAV_PATHS = (
    "/desk",
    "/wallboard",
    "/customers",
    "/complaints",
    "/unhappy",
    "/campaigns",
    "/reports",
    "/admin",
    "/admin/team",
)


def has_route(app: Any, path: str, kind: str = "http") -> bool:
    """Whether `app` serves `path` (routers are matched, not listed: included routers nest their routes)."""
    scope = {"type": kind, "path": path, "method": "GET", "root_path": "", "headers": [], "query_string": b""}
    return any(r.matches(scope)[0] is Match.FULL for r in app.router.routes)


def existing_paths(app: Any) -> frozenset[str]:
    cached = getattr(app.state, "web_nav_paths", None)
    if cached is None:
        cached = frozenset(p for p in NAV_PATHS if has_route(app, p))
        app.state.web_nav_paths = cached
    return cached


def nav_for(request: Request, user: User | None) -> list[NavItem]:
    """The main navigation a role sees; a page only appears once its route exists."""
    if user is None:
        return []
    role = user.role
    staff = role in (Role.supervisor, Role.manager, Role.admin)
    paths = existing_paths(request.app)
    items: list[tuple[str, str, str, bool]] = [
        ("/desk", _gettext("Desk"), "desk", role in (Role.agent, Role.admin)),
        ("/wallboard", _gettext("Wallboard"), "wallboard", staff),
        ("/customers", _gettext("Customers"), "customers", True),
        ("/complaints", _gettext("Complaints"), "complaints", True),
        ("/unhappy", _gettext("Unhappy customers"), "unhappy", staff),
        ("/campaigns", _gettext("Campaigns"), "campaigns", role in (Role.manager, Role.admin)),
        ("/reports", _gettext("Reports"), "reports", staff),
        ("/admin", _gettext("Administration"), "admin", role is Role.admin),
        ("/admin/team", _gettext("My team"), "team", role is Role.supervisor),
    ]
    return [NavItem(h, label, k) for h, label, k, ok in items if ok and h in paths]


def render(
    request: Request,
    template: str,
    *,
    user: User | None = None,
    csrf: str | None = None,
    lang: str | None = None,
    status_code: int = 200,
    active: str | None = None,
    **context: Any,
) -> HTMLResponse:
    settings = request.app.state.settings
    lang = i18n.normalise(
        lang or (user.language if user else request.cookies.get("plateau_lang")), settings.default_language
    )
    lang_token, zone_token = _lang.set(lang), _zone.set(settings.timezone)
    _region.set(settings.default_region)
    try:
        js = {k: _gettext(v) for k, v in JS_STRINGS.items()}
        html = ENV.get_template(template).render(
            request=request,
            user=user,
            csrf=csrf,
            lang=lang,
            languages=i18n.LANGUAGES,
            nav=nav_for(request, user),
            role_names={
                "agent": _gettext("Agent"),
                "supervisor": _gettext("Supervisor"),
                "manager": _gettext("Manager"),
                "admin": _gettext("Administrator"),
            },
            active=active,
            centre_zone=settings.timezone,  # every date in the browser is shown in it (desk_util.js)
            current_path=request.url.path + (("?" + request.url.query) if request.url.query else ""),
            js_strings=Markup(json.dumps(js, ensure_ascii=False).replace("</", "<\\/")),
            **context,
        )
    finally:
        _lang.reset(lang_token)
        _zone.reset(zone_token)
    headers = _SECURITY_HEADERS
    if user is not None and user.sip_kind == "webrtc" and user.sip_endpoint:
        headers = {**headers, "Content-Security-Policy": _csp(_pbx_origin(request))}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _pbx_origin(request: Request) -> str:
    """The browser phone's WebSocket origin (the same URL GET /api/v1/agent/softphone gives it)."""
    s = request.app.state.settings
    url = ws_url(
        s.pbx_ws_url,
        request.url.scheme,
        request.url.hostname or "127.0.0.1",
        s.pbx_http_port,
        s.pbx_https_port,
    )
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _csp(extra_connect: str = "") -> str:
    """Pages load only same-origin scripts and styles; the WebSocket is same-origin too, and a browser
    phone's page may reach its PBX's SIP WebSocket."""
    connect = f"'self' {extra_connect}".strip()
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )


_SECURITY_HEADERS = {
    "Content-Security-Policy": _csp(),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
