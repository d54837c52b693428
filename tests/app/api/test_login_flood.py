"""Sign-in under attack: the lock holds against a forged X-Forwarded-For, made-up names are throttled per
address, and a flood of sign-ins is queued off the event loop with the excess refused at once (503)."""

from __future__ import annotations

import asyncio

import httpx

from app.commands.server import proxy_options
from app.security import LoginRateLimiter
from core.settings import Settings
from tests.app.api.conftest import PASSWORD, Api
from tests.app.api.live import serving
from tests.conftest import wait_for


async def _login(c: httpx.AsyncClient, name: str, password: str, forwarded: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    r = await c.post("/api/v1/auth/login", json={"username": name, "password": password}, headers=headers)
    return r.status_code


async def test_given_no_trusted_proxy_when_a_local_client_forges_x_forwarded_for_then_the_lock_holds(
    api: Api,
) -> None:
    settings = Settings(database_url=api.db.url, secret_key="k")  # PLATEAU_TRUSTED_PROXIES unset
    async with serving(api.app, **proxy_options(settings)) as url, httpx.AsyncClient(base_url=url) as c:
        for n in range(3):  # the fixture's limit: 3 failures
            assert await _login(c, "agent", "wrong", forwarded=f"203.0.113.{n}") == 401
        assert await _login(c, "agent", PASSWORD, forwarded="198.51.100.7") == 429


async def test_given_a_trusted_proxy_when_it_forwards_addresses_then_each_client_is_locked_on_its_own(
    api: Api,
) -> None:
    settings = Settings(database_url=api.db.url, secret_key="k", trusted_proxies="127.0.0.1")
    async with serving(api.app, **proxy_options(settings)) as url, httpx.AsyncClient(base_url=url) as c:
        for _ in range(3):
            assert await _login(c, "agent", "wrong", forwarded="203.0.113.1") == 401
        assert await _login(c, "agent", PASSWORD, forwarded="203.0.113.1") == 429
        assert await _login(c, "agent", PASSWORD, forwarded="203.0.113.2") == 200
    admin = await api.bearer("admin")
    entries = (await admin.get("/api/v1/audit")).json()
    await admin.aclose()
    assert next(e["ip"] for e in entries if e["action"] == "login") == "203.0.113.2"


async def test_given_made_up_names_from_one_address_when_over_its_limit_then_429_for_any_name(
    api: Api,
) -> None:
    api.app.state.login_limiter = LoginRateLimiter(limit=3, window_s=300, ip_limit=4)
    async with api.client() as c:
        assert [await _login(c, f"nobody{n}", "guess") for n in range(4)] == [401] * 4
        assert await _login(c, "nobody99", "guess") == 429
        assert await _login(c, "agent", "guess") == 429  # known or not: the same answer


async def test_given_a_flood_of_simultaneous_sign_ins_when_the_workers_are_busy_then_the_excess_gets_503(
    api: Api,
) -> None:
    """argon2 runs on the password workers (1 thread, 8 waiting): the rest is refused at once, never a 500,
    and a real user gets in once the flood has passed."""
    async with api.client() as c:
        flood = await asyncio.gather(
            *(
                c.post("/api/v1/auth/login", json={"username": f"ghost{n}", "password": "x"})
                for n in range(20)
            )
        )
        codes = [r.status_code for r in flood]
        assert set(codes) == {401, 503} and codes.count(401) <= 9, codes
        assert all(r.headers["Retry-After"] == "1" for r in flood if r.status_code == 503)
        assert await _login(c, "manager", PASSWORD) == 200


async def test_given_sign_ins_waiting_for_argon2_when_counted_then_they_hold_no_database_connection(
    api: Api,
) -> None:
    """Held while waiting, a burst of sign-ins took every pooled connection and stalled every request."""
    passwords = api.app.state.passwords
    async with api.client() as c:
        flood = [
            asyncio.create_task(c.post("/api/v1/auth/login", json={"username": f"g{n}", "password": "x"}))
            for n in range(passwords.limit)
        ]
        await wait_for(lambda: passwords.pending == passwords.limit, 30, what="the workers and queue full")
        assert api.db.engine.pool.checkedout() == 0
        await asyncio.gather(*flood)
