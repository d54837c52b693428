"""Server-rendered pages. Data comes from the same query code as the REST API (app/routes/*), called
directly, so a page never shows something the API would compute differently."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import complaint_service, customer_service, history_service, reason_service, recording_service
from app.deps import state_of
from app.errors import unprocessable
from app.security import CSRF_COOKIE, SESSION_COOKIE, Identity, close_session, get_db, identify
from app.web import i18n
from app.web.render import render, use_language
from core.audit import audit
from core.errors import Invalid, NotFound
from core.models import (
    Account,
    ComplaintStatus,
    Contact,
    DispositionCode,
    InteractionKind,
    PauseReason,
    Queue,
    QueueMember,
    Role,
    User,
)

router = APIRouter(include_in_schema=False)
LANG_COOKIE = "plateau_lang"
STAFF = (Role.supervisor, Role.manager, Role.admin)
SLA_STATES = ("on_time", "due_soon", "late", "met", "missed")
TIMELINE_PAGE = 25


class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the login page (see app.web.mount_web)."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect through ?next= would make a fine phishing link."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


async def page_identity(request: Request, db: AsyncSession = Depends(get_db)) -> Identity:
    ident = await identify(db, bearer=None, cookie=request.cookies.get(SESSION_COOKIE))
    if ident is None:
        path = request.url.path + (("?" + request.url.query) if request.url.query else "")
        raise LoginRequired(path)
    use_language(ident.user.language, request.app.state.settings.timezone)
    return ident


def roles(*allowed: Role):  # type: ignore[no-untyped-def]
    ok = frozenset(allowed) | {Role.admin}

    async def dep(ident: Identity = Depends(page_identity)) -> Identity:
        if ident.role not in ok:
            raise HTTPException(403, "forbidden")
        return ident

    return dep


def check_csrf(ident: Identity, sent: str) -> None:
    if not (ident.csrf_token and hmac.compare_digest(sent.encode(), ident.csrf_token.encode())):
        raise HTTPException(403, "missing or wrong CSRF token")


def page(request: Request, template: str, ident: Identity, **ctx: Any) -> Response:
    return render(request, template, user=ident.user, csrf=ident.csrf_token, **ctx)


LANDING = {
    Role.agent: "/desk",
    Role.supervisor: "/wallboard",
    Role.manager: "/reports",
    Role.admin: "/admin",
}


# --- sign-in, landing, language, sign-out --------------------------------------------------------------
@router.get("/login")
async def login_page(request: Request, next: str | None = None, db: AsyncSession = Depends(get_db)) -> Any:
    if await identify(db, bearer=None, cookie=request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse(safe_next(next), 303)
    return render(request, "login.html", next_path=safe_next(next))


@router.get("/")
async def landing(ident: Identity = Depends(page_identity)) -> RedirectResponse:
    return RedirectResponse(LANDING[ident.role], 303)


@router.post("/language")
async def set_language(
    request: Request,
    lang: str = Form(max_length=8),
    next: str = Form(default="/", max_length=2000),
    csrf_token: str = Form(default="", max_length=200),
    db: AsyncSession = Depends(get_db),
) -> RedirectResponse:
    """Signed in: saved on the user (it follows them to any browser). Signed out: a cookie."""
    if lang not in i18n.LANGUAGES:
        raise unprocessable("lang", "unsupported language")
    ident = await identify(db, bearer=None, cookie=request.cookies.get(SESSION_COOKIE))
    if ident is not None:
        check_csrf(ident, csrf_token)
        user = await db.get(User, ident.user.id)
        if user is not None:
            user.language = lang
            audit(db, "language_changed", user_id=user.id, detail={"language": lang}, request=request)
            await db.commit()
    resp = RedirectResponse(safe_next(next), 303)
    resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return resp


@router.post("/logout")
async def logout(
    request: Request,
    csrf_token: str = Form(default="", max_length=200),
    ident: Identity = Depends(page_identity),
    db: AsyncSession = Depends(get_db),
) -> RedirectResponse:
    check_csrf(ident, csrf_token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await close_session(db, cookie)
    audit(db, "logout", user_id=ident.user.id, request=request)
    await db.commit()
    resp = RedirectResponse("/login", 303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    resp.delete_cookie(CSRF_COOKIE, path="/")
    return resp


# --- desk and wallboard: the places the live CTI views plug into ----------------------------------------
@router.get("/desk")
async def desk(
    request: Request, ident: Identity = Depends(roles(Role.agent)), db: AsyncSession = Depends(get_db)
) -> Any:
    pauses = list(await db.scalars(select(PauseReason).where(PauseReason.active).order_by(PauseReason.label)))
    dispositions = list(
        await db.scalars(
            select(DispositionCode).where(DispositionCode.active).order_by(DispositionCode.label)
        )
    )
    my_queues = list(  # the queues this agent may log into (the desk)
        await db.scalars(
            select(Queue)
            .join(QueueMember, QueueMember.queue_id == Queue.id)
            .where(QueueMember.user_id == ident.user.id)
            .order_by(Queue.name)
        )
    )
    choosable = reason_service.choosable(await reason_service.all_reasons(db))
    return page(
        request,
        "desk.html",
        ident,
        active="desk",
        pauses=pauses,
        dispositions=dispositions,
        my_queues=my_queues,
        reasons=reason_service.tree(choosable),  # the complaint form's reasons (taxonomy)
        reason_labels=reason_service.labels(choosable, ident.user.language),
    )


@router.get("/wallboard")
async def wallboard(
    request: Request, ident: Identity = Depends(roles(*STAFF)), db: AsyncSession = Depends(get_db)
) -> Any:
    from app.web.reports_view import kpi_windows, sl_variant_label  # (imports this module)

    queues, windows = await kpi_windows(request, db)
    # Who may log into each queue (the live wallboard counts the members not logged in as logged out).
    members: dict[str, list[str]] = {}
    for qname, endpoint in await db.execute(
        select(Queue.name, User.sip_endpoint)
        .join(QueueMember, QueueMember.queue_id == Queue.id)
        .join(User, User.id == QueueMember.user_id)
        .where(User.sip_endpoint.is_not(None))
    ):
        members.setdefault(qname, []).append(f"PJSIP/{endpoint}")
    return page(
        request,
        "wallboard.html",
        ident,
        active="wallboard",
        queues=queues,
        windows=windows,
        sl_variant_label=sl_variant_label,
        members=members,
        pauses={p.code: p.label for p in await db.scalars(select(PauseReason))},
    )


# --- customers -----------------------------------------------------------------------------------------
@router.get("/customers")
async def customers(
    request: Request,
    q: str | None = Query(default=None, max_length=120),
    ident: Identity = Depends(page_identity),
    db: AsyncSession = Depends(get_db),
) -> Any:
    q = (q or "").strip()
    contacts: list[Contact] = []
    accounts: list[Account] = []
    error = None
    if q:
        if any(ord(c) < 32 for c in q):
            error = "invalid"
        else:
            contacts = await customer_service.search_contacts(
                db, q, 50, state_of(request).settings.default_region
            )
            if sum(c.isdigit() for c in q) < 6:
                accounts = await customer_service.search_accounts(db, q, 20)
    return page(
        request,
        "customers.html",
        ident,
        active="customers",
        q=q,
        contacts=contacts,
        accounts=accounts,
        error=error,
    )


async def user_names(db: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    ids_ = {i for i in ids if i is not None}
    if not ids_:
        return {}
    return dict((await db.execute(select(User.id, User.display_name).where(User.id.in_(ids_)))).all())


async def dispo_labels(db: AsyncSession) -> dict[str, str]:
    return dict((await db.execute(select(DispositionCode.code, DispositionCode.label))).all())


async def _or_first_page(fetch: Callable[[str | None], Awaitable[Any]], cursor: str | None) -> Any:
    """A mangled ?cursor= (an edited or truncated link) shows the newest page instead of an error."""
    try:
        return await fetch(cursor)
    except Invalid:
        if cursor is None:
            raise
        return await fetch(None)


def path_id(raw: str) -> int:
    """A record id from the URL; anything else is a 'not found' page, not a JSON validation error."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise NotFound("not found")
    return int(raw)


def _kind(kind: str | None) -> InteractionKind | None:
    try:
        return InteractionKind(kind) if kind else None
    except ValueError:
        return None


def care_view(customer: Account | Contact | None, via_contact: bool = False) -> dict[str, Any]:
    """The customer-status card's fields (web/templates/_care_status.html); `via_contact`: shown on the
    page of one of the account's contacts."""
    assert customer is not None
    kind = "accounts" if isinstance(customer, Account) else "contacts"
    return {
        "status": customer.care_status,
        "lost_at": customer.lost_at,
        "reason": customer.loss_reason,
        "of_account": via_contact and isinstance(customer, Account),
        "url": f"/api/v1/{kind}/{customer.id}/care-status",
    }


async def _timeline_view(
    db: AsyncSession, ident: Identity, timeline: Any, kind: str | None, cursor: str | None, agents: set[Any]
) -> dict[str, Any]:
    """What the contact and account pages both render around a timeline: agents' names, the players and
    call links the user may open, the disposition labels and the filter."""
    call_ids = {i.call_id for i in timeline.items if i.call_id}
    return {
        "timeline": timeline,
        "names": await user_names(db, {i.agent_id for i in timeline.items} | agents),
        "recordings": await recording_service.recordings_of_calls(db, ident, call_ids),
        "calls": await history_service.visible_call_ids(db, ident, call_ids),
        "dispositions": await dispo_labels(db),
        "kind": _kind(kind),
        "kinds": list(InteractionKind),
        "cursor": cursor,
        "quote": quote,
    }


@router.get("/contacts/{contact_id}")
async def contact_page(
    request: Request,
    contact_id: str,
    cursor: str | None = Query(default=None, max_length=200),
    kind: str | None = Query(default=None, max_length=20),
    ident: Identity = Depends(page_identity),
    db: AsyncSession = Depends(get_db),
) -> Any:
    contact_id = path_id(contact_id)  # type: ignore[assignment]
    if not 1 <= contact_id <= 2**62:
        raise NotFound("no such contact")
    contact = await customer_service.contact(db, contact_id)
    timeline = await _or_first_page(
        lambda c: history_service.contact_timeline(db, contact_id, c, TIMELINE_PAGE, _kind(kind)),
        cursor,
    )
    settings = state_of(request).settings
    complaints = await complaint_service.search(db, settings, None, None, None, contact_id, None, 100)
    row = await db.get(Contact, contact_id)
    assert row is not None  # get_contact answered 404 otherwise
    account_row = await db.get(Account, row.account_id) if row.account_id else None
    return page(
        request,
        "contact.html",
        ident,
        active="customers",
        contact=contact,
        care=care_view(account_row or row, via_contact=True),
        complaints=complaints,
        **await _timeline_view(db, ident, timeline, kind, cursor, {c.owner_id for c in complaints}),
    )


@router.get("/accounts/{account_id}")
async def account_page(
    request: Request,
    account_id: str,
    cursor: str | None = Query(default=None, max_length=200),
    kind: str | None = Query(default=None, max_length=20),
    ident: Identity = Depends(page_identity),
    db: AsyncSession = Depends(get_db),
) -> Any:
    account_id = path_id(account_id)  # type: ignore[assignment]
    if not 1 <= account_id <= 2**62:
        raise NotFound("no such account")
    account = await customer_service.account(db, account_id)
    members = list(
        await db.scalars(
            select(Contact).where(Contact.account_id == account_id).order_by(Contact.last_name, Contact.id)
        )
    )
    timeline = await _or_first_page(
        lambda c: history_service.account_timeline(db, account_id, c, TIMELINE_PAGE, _kind(kind)),
        cursor,
    )
    who = {c.id: f"{c.first_name} {c.last_name}".strip() for c in members}
    return page(
        request,
        "account.html",
        ident,
        active="customers",
        account=account,
        care=care_view(await db.get(Account, account_id)),
        members=members,
        who=who,
        **await _timeline_view(db, ident, timeline, kind, cursor, set()),
    )


# --- complaints ----------------------------------------------------------------------------------------
@router.get("/complaints")
async def complaints_page(
    request: Request,
    status: str | None = Query(default=None, max_length=20),
    sla: str | None = Query(default=None, max_length=20),
    reason: str | None = Query(default=None, max_length=20),
    ident: Identity = Depends(page_identity),
    db: AsyncSession = Depends(get_db),
) -> Any:
    status_ = ComplaintStatus(status) if status in ComplaintStatus.__members__ else None
    sla_ = sla if sla in SLA_STATES else None
    reasons = await reason_service.all_reasons(db)
    reason_ = int(reason) if reason and reason.isdigit() and int(reason) in {r.id for r in reasons} else None
    settings = state_of(request).settings
    rows = await complaint_service.search(db, settings, status_, sla_, None, None, reason_, 200)
    contact_ids = {c.contact_id for c in rows}
    contacts = (
        {c.id: c for c in await db.scalars(select(Contact).where(Contact.id.in_(contact_ids)))}
        if contact_ids
        else {}
    )
    pinned = await recording_service.pinned_recordings(db, ident, {c.id for c in rows})
    call_ids = {c.call_id for c in rows if c.call_id}
    of_call = await recording_service.recordings_of_calls(db, ident, call_ids)
    return page(
        request,
        "complaints.html",
        ident,
        pinned=pinned,
        call_recordings=of_call,
        calls=await history_service.visible_call_ids(db, ident, call_ids),
        active="complaints",
        rows=rows,
        contacts=contacts,
        names=await user_names(db, {c.owner_id for c in rows}),
        status=status_,
        sla=sla_,
        statuses=list(ComplaintStatus),
        sla_states=SLA_STATES,
        reason=reason_,
        reasons=reason_service.tree(reasons),
        reason_labels=reason_service.labels(reasons, ident.user.language),
    )
