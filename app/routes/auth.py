"""Login, logout, who am I, and personal API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import state_of
from app.login_limits import limits_of
from app.schemas import LoginIn, LoginOut, MeOut, PathId, TokenCreated, TokenIn, TokenOut
from app.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Identity,
    PasswordsBusy,
    close_session,
    current_identity,
    get_db,
    new_token,
    open_session,
    token_digest,
)
from core.audit import audit, client_ip
from core.errors import NotFound
from core.models import ApiToken, User

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginOut)
async def login(
    body: LoginIn, request: Request, response: Response, db: AsyncSession = Depends(get_db)
) -> LoginOut:
    settings, limiter = state_of(request).settings, limits_of(request.app.state)
    ip = client_ip(request) or "?"
    wait = await limiter.retry_after(db, body.username, ip)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed logins; try again later",
            headers={"Retry-After": str(wait)},
        )
    user = await db.scalar(select(User).where(func.lower(User.username) == body.username.lower()))
    # the connection goes back to the pool while argon2 works (or waits for a worker): held, a burst of
    # sign-ins would take every pooled connection and stall every other request, /healthz included
    await db.commit()
    try:  # an unknown name is verified against a dummy hash: both cost the same
        ok, rehash = await state_of(request).passwords.verify(
            user.password_hash if user and user.active else None, body.password
        )
    except PasswordsBusy:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "too many sign-ins at once; try again in a moment",
            headers={"Retry-After": "1"},
        ) from None
    if not ok or user is None:
        await limiter.failed(db, body.username, ip, known=user is not None)
        audit(
            db,
            "login_failed",
            user_id=user.id if user else None,
            detail={"username": body.username[:80]},
            request=request,
        )
        await db.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    await limiter.succeeded(db, body.username, ip)
    if rehash:
        user.password_hash = rehash
    token, csrf = await open_session(db, user, settings.session_max_age_s)
    audit(db, "login", user_id=user.id, request=request)
    await db.commit()
    common = {
        "max_age": settings.session_max_age_s,
        "samesite": "lax",
        "secure": settings.cookie_secure,
        "path": "/",
    }
    response.set_cookie(SESSION_COOKIE, token, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **common)  # read by the page's JS
    return LoginOut(user=MeOut.model_validate(user), csrf_token=csrf)


@router.post("/logout", status_code=204)
async def logout(
    request: Request,
    response: Response,
    ident: Identity = Depends(current_identity),
    db: AsyncSession = Depends(get_db),
) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await close_session(db, cookie)
    audit(db, "logout", user_id=ident.user.id, request=request)
    await db.commit()
    if cookie:  # this browser session's WebSockets end with it
        state_of(request).hub.revoke(credential=token_digest(cookie))
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/me", response_model=MeOut)
async def me(ident: Identity = Depends(current_identity)) -> User:
    return ident.user


@router.get("/tokens", response_model=list[TokenOut])
async def my_tokens(
    ident: Identity = Depends(current_identity), db: AsyncSession = Depends(get_db)
) -> list[ApiToken]:
    return list(
        await db.scalars(select(ApiToken).where(ApiToken.user_id == ident.user.id).order_by(ApiToken.id))
    )


@router.post("/tokens", response_model=TokenCreated, status_code=201)
async def create_token(
    body: TokenIn,
    request: Request,
    ident: Identity = Depends(current_identity),
    db: AsyncSession = Depends(get_db),
) -> TokenCreated:
    raw = new_token()
    tok = ApiToken(user_id=ident.user.id, name=body.name, token_hash=token_digest(raw))
    db.add(tok)
    await db.flush()
    audit(
        db, "token_created", user_id=ident.user.id, target_type="api_token", target_id=tok.id, request=request
    )
    await db.commit()
    return TokenCreated(**TokenOut.model_validate(tok).model_dump(), token=raw)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(
    token_id: PathId,
    request: Request,
    ident: Identity = Depends(current_identity),
    db: AsyncSession = Depends(get_db),
) -> None:
    tok = await db.get(ApiToken, token_id)
    if tok is None or (tok.user_id != ident.user.id and ident.role != "admin"):
        raise NotFound("no such token")
    tok.revoked = True
    audit(
        db, "token_revoked", user_id=ident.user.id, target_type="api_token", target_id=tok.id, request=request
    )
    await db.commit()
    state_of(request).hub.revoke(credential=tok.token_hash)
