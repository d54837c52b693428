"""Authentication and authorisation: argon2 passwords, cookie sessions with CSRF, bearer tokens, roles.

Browsers authenticate with an HttpOnly session cookie and must echo the CSRF token (returned at login and
kept in a readable cookie) in `X-CSRF-Token` on every unsafe request. Integrations use bearer tokens,
which need no CSRF token because a browser never attaches them by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import os
import secrets
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import ApiToken, Role, User, WebSession, utcnow

SESSION_COOKIE = "plateau_session"
CSRF_COOKIE = "plateau_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

T = TypeVar("T")
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that both paths cost one argon2 verification;
    made at the first sign-in, not at import (an argon2 hash costs every process start 0.1 s of CPU)."""
    return _hasher.hash("plateau-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(ok, new hash when the stored one uses outdated parameters)."""
    try:
        _hasher.verify(stored_hash or _dummy_hash(), password)
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
    """Failed logins in a sliding window, per (username, client address) and per address. In-process: one
    node's view.

    A name locks after `limit` failures from one address, whether or not the user exists (a 429 that only
    real names got would tell which names exist). An address locks after `ip_limit` failures whatever the
    names, so that spraying made-up names is throttled too. Memory is bounded: the made-up names and the
    addresses are dropped oldest first beyond `max_keys` each; real users' entries are only dropped once
    their window has passed, so no flood of other names makes the server forget a lock.
    """

    def __init__(self, limit: int, window_s: float, ip_limit: int, max_keys: int = 20_000) -> None:
        self.limit, self.window_s, self.ip_limit, self.max_keys = limit, window_s, ip_limit, max_keys
        self._known: dict[tuple[str, str], deque[float]] = {}
        self._unknown: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._ips: OrderedDict[str, deque[float]] = OrderedDict()

    def _wait(self, q: deque[float] | None, limit: int, now: float) -> float:
        """Seconds until `q` (the last `limit` failures) falls under the limit again; 0 when under."""
        if q is None or len(q) < limit or q[0] <= now - self.window_s:
            return 0.0
        return q[0] + self.window_s - now

    def retry_after(self, username: str, ip: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        key = (username.lower(), ip)
        wait = max(
            self._wait(self._known.get(key), self.limit, now),
            self._wait(self._unknown.get(key), self.limit, now),
            self._wait(self._ips.get(ip), self.ip_limit, now),
        )
        return int(wait) + 1 if wait else 0

    def failed(self, username: str, ip: str, *, known: bool, now: float | None = None) -> None:
        """A failed login; `known`: the name is a user's (their lock is never forgotten early)."""
        now = time.monotonic() if now is None else now
        key = (username.lower(), ip)
        if known:
            if key not in self._known and len(self._known) >= self.max_keys:
                self._prune_known(now)
            self._known.setdefault(key, deque(maxlen=self.limit)).append(now)
        else:
            _remember(self._unknown, key, now, self.limit, self.max_keys)
        _remember(self._ips, ip, now, self.ip_limit, self.max_keys)

    def _prune_known(self, now: float) -> None:
        for key in [k for k, q in self._known.items() if not q or q[-1] <= now - self.window_s]:
            del self._known[key]

    def succeeded(self, username: str, ip: str) -> None:
        self._known.pop((username.lower(), ip), None)

    def locked(self, username: str, now: float | None = None) -> bool:
        """Whether the name is locked from some address (the admin page shows it, with an unlock)."""
        now = time.monotonic() if now is None else now
        name = username.lower()
        return any(k[0] == name and self._wait(q, self.limit, now) for k, q in self._known.items())

    def unlock(self, username: str) -> int:
        """Forget the name's failures from every address (an admin's unlock); returns how many locks went.
        The per-address counts stay: they guard against spraying, not against this user."""
        name = username.lower()
        keys = [k for k in self._known if k[0] == name]
        for k in keys:
            del self._known[k]
        return len(keys)


def _remember(table: OrderedDict[Any, deque[float]], key: Any, now: float, limit: int, cap: int) -> None:
    q = table.get(key)
    if q is None:
        while len(table) >= cap:
            table.popitem(last=False)
        q = table[key] = deque(maxlen=limit)
    else:
        table.move_to_end(key)
    q.append(now)


class PasswordsBusy(RuntimeError):
    """More sign-ins at once than the password workers and their queue take: answer 503 at once."""


class PasswordWork:
    """argon2 off the event loop: `workers` threads, at most `waiting` attempts queued behind them.

    One verification costs about 0.2 s of CPU on four threads (argon2's lanes): on the loop, a few logins a
    second stall every request and WebSocket of the process. The workers (and the lane threads they start)
    run 10 nice levels below the loop, so the loop keeps its share of the cores while they hash.
    """

    def __init__(self, workers: int, waiting: int) -> None:
        self.limit = workers + waiting
        self.pending = 0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="argon2", initializer=_lower_priority)
        weakref.finalize(self, self._pool.shutdown, wait=False)  # an app dropped (tests) lets its thread go

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.pending >= self.limit:
            raise PasswordsBusy
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self.pending -= 1

    async def verify(self, stored_hash: str | None, password: str) -> tuple[bool, str | None]:
        return await self._run(verify_password, stored_hash, password)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)


def _lower_priority() -> None:
    """Linux gives each thread its own nice, inherited by the threads it starts (argon2's lanes)."""
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))


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


async def live_credentials(db: AsyncSession, digests: set[str]) -> set[str]:
    """Of these session and token digests, those that still authenticate (see `identify`)."""
    out: set[str] = set()
    ordered = sorted(digests)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i : i + 500]
        sessions = (
            select(WebSession.token_hash)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash.in_(chunk), WebSession.expires_at >= utcnow(), User.active)
        )
        tokens = (
            select(ApiToken.token_hash)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash.in_(chunk), ApiToken.revoked.is_(False), User.active)
        )
        out.update(await db.scalars(sessions), await db.scalars(tokens))
    return out


def credential_check(database: Any) -> Callable[[set[str]], Any]:
    """`live_credentials` on a fresh session of `database` (an core.db.Database), for the WebSocket hub."""

    async def check(digests: set[str]) -> set[str]:
        async with database.session() as db:
            return await live_credentials(db, digests)

    return check


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
