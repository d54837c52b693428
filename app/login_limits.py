"""The sign-in limiter behind the routes: in-process (app/security.py `LoginRateLimiter`) on one node, or
counted in PostgreSQL (`login_failures`, migration 0025) when several nodes share it with the bus on, so
that N nodes behind a load balancer allow the attempts of one, not N times them.

Both follow the same rules: a name locks after `limit` failures from one address within the window,
whether or not the name is a user's; an address after `ip_limit` failures whatever the names. The shared one
works in the request's session and transaction (a failure is written with its audit row), by the
database's clock; two nodes checking at the same instant may each let one more attempt through.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.security import LoginRateLimiter

PRUNE_EVERY_S = 10.0  # expired rows are deleted by the next failure at most this often (one node's view)

# the `n`-th most recent failure within the window: while there is one, the lock lasts until it leaves it
_NTH = (
    "(SELECT at FROM login_failures WHERE {where} AND at > now() - make_interval(secs => :window)"
    " ORDER BY at DESC OFFSET :{n} - 1 LIMIT 1)"
)
_WAIT = text(
    "SELECT EXTRACT(EPOCH FROM GREATEST("
    + _NTH.format(where="username = :username AND ip = :ip AND NOT cleared", n="limit")
    + ", "
    + _NTH.format(where="ip = :ip", n="ip_limit")
    + ") + make_interval(secs => :window) - now())"
)
_FAILED = text("INSERT INTO login_failures (username, ip) VALUES (:username, :ip)")
_PRUNE = text("DELETE FROM login_failures WHERE at < now() - make_interval(secs => :window)")
_SUCCEEDED = text(
    "UPDATE login_failures SET cleared = true WHERE username = :username AND ip = :ip AND NOT cleared"
)
_LOCKED = text(
    "SELECT DISTINCT username FROM login_failures WHERE username = ANY(:names) AND NOT cleared"
    " AND at > now() - make_interval(secs => :window) GROUP BY username, ip HAVING count(*) >= :limit"
)
_UNLOCK = text(
    "UPDATE login_failures SET cleared = true WHERE username = :username AND NOT cleared RETURNING ip"
)


def _key(username: str, ip: str) -> dict[str, str]:
    return {"username": username.lower()[:80], "ip": ip[:64]}


class LoginLimits(Protocol):
    async def retry_after(self, db: AsyncSession, username: str, ip: str) -> int: ...
    async def failed(self, db: AsyncSession, username: str, ip: str, *, known: bool) -> None: ...
    async def succeeded(self, db: AsyncSession, username: str, ip: str) -> None: ...
    async def locked(self, db: AsyncSession, usernames: list[str]) -> set[str]: ...
    async def unlock(self, db: AsyncSession, username: str) -> int: ...


class LocalLimits:
    """One node's limiter (SQLite, or PostgreSQL without the bus), behind the same calls as the shared one."""

    def __init__(self, limiter: LoginRateLimiter) -> None:
        self.limiter = limiter

    async def retry_after(self, db: AsyncSession, username: str, ip: str) -> int:
        return self.limiter.retry_after(username, ip)

    async def failed(self, db: AsyncSession, username: str, ip: str, *, known: bool) -> None:
        self.limiter.failed(username, ip, known=known)

    async def succeeded(self, db: AsyncSession, username: str, ip: str) -> None:
        self.limiter.succeeded(username, ip)

    async def locked(self, db: AsyncSession, usernames: list[str]) -> set[str]:
        return {name.lower() for name in usernames if self.limiter.locked(name)}

    async def unlock(self, db: AsyncSession, username: str) -> int:
        return self.limiter.unlock(username)


class SharedLoginLimiter:
    """The failures in `login_failures`, seen by every node (PostgreSQL only)."""

    def __init__(self, limit: int, window_s: float, ip_limit: int) -> None:
        self.limit, self.window_s, self.ip_limit = limit, window_s, ip_limit
        self._pruned = -float("inf")

    def _params(self, **more: Any) -> dict[str, Any]:
        return {"window": float(self.window_s), "limit": self.limit, "ip_limit": self.ip_limit} | more

    async def retry_after(self, db: AsyncSession, username: str, ip: str) -> int:
        wait = (await db.execute(_WAIT, self._params(**_key(username, ip)))).scalar()
        return int(wait) + 1 if wait is not None and wait > 0 else 0

    async def failed(self, db: AsyncSession, username: str, ip: str, *, known: bool) -> None:
        """`known` is not stored: a real name and a made-up one lock alike (a 429 must not tell them apart),
        and the rows are bounded by the window, not by a count."""
        await db.execute(_FAILED, _key(username, ip))
        if time.monotonic() - self._pruned > PRUNE_EVERY_S:
            self._pruned = time.monotonic()
            await db.execute(_PRUNE, {"window": float(self.window_s)})

    async def succeeded(self, db: AsyncSession, username: str, ip: str) -> None:
        """The name's failures from this address are cleared, not deleted: the address's count keeps them."""
        await db.execute(_SUCCEEDED, _key(username, ip))

    async def locked(self, db: AsyncSession, usernames: list[str]) -> set[str]:
        if not usernames:
            return set()
        names = [name.lower()[:80] for name in usernames]
        return set((await db.execute(_LOCKED, self._params(names=names))).scalars())

    async def unlock(self, db: AsyncSession, username: str) -> int:
        """The name's failures from every address are cleared; the per-address counts keep them (as in one
        node's limiter: they guard against spraying, not against this user)."""
        ips = (await db.execute(_UNLOCK, {"username": username.lower()[:80]})).scalars()
        return len(set(ips))


def limits_of(state: Any) -> LoginLimits:
    """The app's limiter behind one interface (a test may have put a LoginRateLimiter of its own there)."""
    limiter = state.login_limiter
    if isinstance(limiter, SharedLoginLimiter):
        return limiter
    return LocalLimits(limiter)


__all__ = ["LocalLimits", "LoginLimits", "SharedLoginLimiter", "limits_of"]
