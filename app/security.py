"""Authentication and authorisation: argon2 passwords, cookie sessions with CSRF, bearer tokens, roles.

Browsers authenticate with an HttpOnly session cookie and must echo the CSRF token (returned at login and
kept in a readable cookie) in `X-CSRF-Token` on every unsafe request. Integrations use bearer tokens,
which need no CSRF token because a browser never attaches them by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiToken, Role, User, WebSession, utcnow

SESSION_COOKIE = "plateau_session"
CSRF_COOKIE = "plateau_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that both paths cost one argon2 verification.
_DUMMY_HASH = _hasher.hash("plateau-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(ok, new hash when the stored one uses outdated parameters)."""
    try:
        _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if stored_hash is None:
        return False, None
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(stored_hash) else None)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class LoginRateLimiter:
    """Failed logins per (username, client IP) in a sliding window. In-process: one node's view."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, username: str, ip: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        q = self._recent((username.lower(), ip), now)
        return int(q[0] + self.window_s - now) + 1 if len(q) >= self.limit else 0

    def failed(self, username: str, ip: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._recent((username.lower(), ip), now).append(now)
        if len(self._failures) > 100_000:  # bound memory against username spraying
            self._failures.clear()

    def succeeded(self, username: str, ip: str) -> None:
        self._failures.pop((username.lower(), ip), None)


@dataclass(frozen=True, slots=True)
class Identity:
    user: User
    via: str  # "cookie" or "token"
    csrf_token: str | None = None

    @property
    def role(self) -> Role:
        return self.user.role


async def open_session(db: AsyncSession, user: User, max_age_s: int) -> tuple[str, str]:
    token, csrf = new_token(), new_token()
    db.add(
        WebSession(
            token_hash=token_digest(token),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=utcnow() + timedelta(seconds=max_age_s),
        )
    )
    await db.execute(
        delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at < utcnow())
    )
    return token, csrf


async def close_session(db: AsyncSession, token: str) -> None:
    await db.execute(delete(WebSession).where(WebSession.token_hash == token_digest(token)))


async def end_user_sessions(db: AsyncSession, user_id: int, *, tokens: bool) -> None:
    """Sign the user out everywhere (their browser sessions; with `tokens`, their API tokens too), in the
    caller's transaction. Their open WebSockets are the hub's (`Hub.revoke`), once this is committed."""
    await db.execute(delete(WebSession).where(WebSession.user_id == user_id))
    if tokens:
        mine = (ApiToken.user_id == user_id, ApiToken.revoked.is_(False))
        await db.execute(update(ApiToken).where(*mine).values(revoked=True))


async def identify(db: AsyncSession, *, bearer: str | None, cookie: str | None) -> Identity | None:
    """The user behind a bearer token or a session cookie, or None. Used by HTTP routes and /ws."""
    if bearer:
        tok = await db.scalar(
            select(ApiToken).where(ApiToken.token_hash == token_digest(bearer), ApiToken.revoked.is_(False))
        )
        if tok is None:
            return None
        user = await db.get(User, tok.user_id)
        if user is None or not user.active:
            return None
        tok.last_used_at = utcnow()
        return Identity(user, "token")
    if cookie:
        sess = await db.scalar(select(WebSession).where(WebSession.token_hash == token_digest(cookie)))
        if sess is None or sess.expires_at < utcnow():
            return None
        user = await db.get(User, sess.user_id)
        if user is None or not user.active:
            return None
        return Identity(user, "cookie", sess.csrf_token)
    return None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def get_db(request: Request):  # type: ignore[no-untyped-def]
    async with request.app.state.db.session() as session:
        yield session


async def current_identity(request: Request, db: AsyncSession = Depends(get_db)) -> Identity:
    ident = await identify(db, bearer=_bearer(request), cookie=request.cookies.get(SESSION_COOKIE))
    if ident is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "not authenticated", headers={"WWW-Authenticate": "Bearer"}
        )
    if ident.via == "cookie" and request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        # as bytes: compare_digest refuses str holding anything but ASCII, and a header may hold anything
        if not (ident.csrf_token and hmac.compare_digest(sent.encode(), ident.csrf_token.encode())):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    await db.commit()  # persists token last_used_at
    return ident


def require(*roles: Role):  # type: ignore[no-untyped-def]
    """Dependency: the caller is authenticated (401 otherwise) and has one of `roles` (403 otherwise)."""
    allowed = frozenset(roles) | {Role.admin}

    async def dependency(ident: Identity = Depends(current_identity)) -> Identity:
        if ident.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {ident.role.value} may not do this")
        return ident

    return dependency


ANY_ROLE = (Role.agent, Role.supervisor, Role.manager, Role.admin)
STAFF = (Role.supervisor, Role.manager, Role.admin)
