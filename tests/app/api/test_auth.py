"""Sessions, CSRF, tokens and login rate limiting."""

from __future__ import annotations

from tests.app.api.conftest import PASSWORD, Api


async def test_given_no_credentials_when_calling_a_route_then_401(api: Api) -> None:
    async with api.client() as c:
        assert (await c.get("/api/v1/contacts")).status_code == 401


async def test_given_a_session_cookie_when_writing_without_csrf_header_then_403(api: Api) -> None:
    c = await api.login("agent")
    token = c.headers.pop("X-CSRF-Token")
    r = await c.post("/api/v1/accounts", json={"name": "ACME"})
    assert r.status_code == 403 and "CSRF" in r.text
    c.headers["X-CSRF-Token"] = token
    assert (await c.post("/api/v1/accounts", json={"name": "ACME"})).status_code == 201
    await c.aclose()


async def test_given_login_when_cookies_are_set_then_session_is_httponly_and_samesite(api: Api) -> None:
    async with api.client() as c:
        r = await c.post("/api/v1/auth/login", json={"username": "agent", "password": PASSWORD})
    cookies = r.headers.get_list("set-cookie")
    session = next(h for h in cookies if h.startswith("plateau_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session
    assert not any("HttpOnly" in h for h in cookies if h.startswith("plateau_csrf="))


async def test_given_a_bearer_token_when_writing_then_no_csrf_needed_and_revocation_locks_out(
    api: Api,
) -> None:
    browser = await api.login("agent")
    created = (await browser.post("/api/v1/auth/tokens", json={"name": "crm"})).json()
    await browser.aclose()
    async with api.client() as c:
        c.headers["Authorization"] = f"Bearer {created['token']}"
        assert (await c.post("/api/v1/accounts", json={"name": "ACME"})).status_code == 201
        assert (await c.delete(f"/api/v1/auth/tokens/{created['id']}")).status_code == 204
        assert (await c.get("/api/v1/contacts")).status_code == 401


async def test_given_repeated_wrong_passwords_when_limit_reached_then_429_even_with_right_password(
    api: Api,
) -> None:
    async with api.client() as c:
        for _ in range(3):
            r = await c.post("/api/v1/auth/login", json={"username": "agent", "password": "nope"})
            assert r.status_code == 401
        r = await c.post("/api/v1/auth/login", json={"username": "agent", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        # another user is not locked out by agent's failures
        r = await c.post("/api/v1/auth/login", json={"username": "manager", "password": PASSWORD})
        assert r.status_code == 200


async def test_given_logout_when_reusing_the_cookie_then_401(api: Api) -> None:
    c = await api.login("agent")
    cookie = c.cookies.get("plateau_session")
    assert (await c.post("/api/v1/auth/logout")).status_code == 204
    async with api.client() as other:
        other.cookies.set("plateau_session", cookie)
        assert (await other.get("/api/v1/auth/me")).status_code == 401
    await c.aclose()


async def test_given_failed_and_successful_logins_when_admin_reads_audit_then_both_are_there(
    api: Api,
) -> None:
    async with api.client() as c:
        await c.post("/api/v1/auth/login", json={"username": "agent", "password": "nope"})
    admin = await api.login("admin")
    actions = [e["action"] for e in (await admin.get("/api/v1/audit")).json()]
    assert "login_failed" in actions and "login" in actions
    await admin.aclose()
