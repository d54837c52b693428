"""Sessions end everywhere at once: logout, deactivation, a password reset and a revoked token close the
user's WebSockets and kill their cookies and tokens; a binary frame on /ws is refused, not a crash."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
import websockets
from sqlalchemy import delete

from app.security import credential_check, token_digest
from core.models import WebSession
from tests.app.api.conftest import Api
from tests.app.api.live import serving
from tests.conftest import wait_for


@dataclass
class Live:
    api: Api
    url: str  # ws://host:port

    async def socket(
        self, *, cookie: str | None = None, token: str | None = None
    ) -> websockets.ClientConnection:
        headers = {"Cookie": f"plateau_session={cookie}"} if cookie else {"Authorization": f"Bearer {token}"}
        ws = await websockets.connect(f"{self.url}/ws", additional_headers=headers)
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert snapshot["type"] == "snapshot"
        await wait_for(lambda: self.api.app.state.hub.connections >= 1, what="socket registered")
        return ws


@pytest_asyncio.fixture
async def live(api: Api) -> AsyncIterator[Live]:
    async with serving(api.app) as url:
        yield Live(api, url.replace("http://", "ws://"))


async def _closed_with(ws: websockets.ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; its close code and reason (heartbeats and such are skipped)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except websockets.ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)


async def _token(api: Api, client: httpx.AsyncClient) -> tuple[int, str]:
    created = (await client.post("/api/v1/auth/tokens", json={"name": "crm"})).json()
    return created["id"], created["token"]


async def test_given_an_open_socket_when_a_binary_frame_arrives_then_1003_naming_it(live: Live) -> None:
    ws = await live.socket(token=(await _token(live.api, await live.api.login("agent")))[1])
    await ws.send(b"\x00\x01binary")
    code, reason = await _closed_with(ws)
    assert code == 1003 and reason and "binary" in reason


async def test_given_an_open_socket_when_its_session_logs_out_then_it_closes_at_once(live: Live) -> None:
    browser = await live.api.login("agent")
    ws = await live.socket(cookie=browser.cookies.get("plateau_session"))
    assert (await browser.post("/api/v1/auth/logout")).status_code == 204
    assert (await _closed_with(ws))[0] == 4401
    await browser.aclose()


async def test_given_an_open_socket_when_its_token_is_revoked_then_it_closes(live: Live) -> None:
    browser = await live.api.login("agent")
    token_id, token = await _token(live.api, browser)
    ws = await live.socket(token=token)
    assert (await browser.delete(f"/api/v1/auth/tokens/{token_id}")).status_code == 204
    assert (await _closed_with(ws))[0] == 4401
    await browser.aclose()


async def test_given_a_user_signed_in_everywhere_when_an_admin_resets_the_password_then_all_ends(
    live: Live,
) -> None:
    browser = await live.api.login("agent")
    cookie = browser.cookies.get("plateau_session")
    _, token = await _token(live.api, browser)
    sockets = [await live.socket(cookie=cookie), await live.socket(token=token)]
    admin = await live.api.login("admin")
    r = await admin.patch(
        f"/api/v1/users/{live.api.users['agent'].id}", json={"password": "a new password 1"}
    )
    assert r.status_code == 200, r.text
    assert [(await _closed_with(ws))[0] for ws in sockets] == [4401, 4401]
    assert (await browser.get("/api/v1/auth/me")).status_code == 401
    async with live.api.client() as c:
        c.headers["Authorization"] = f"Bearer {token}"
        assert (await c.get("/api/v1/auth/me")).status_code == 401
    await browser.aclose()
    await admin.aclose()


async def test_given_a_user_with_an_open_socket_when_deactivated_then_it_closes(live: Live) -> None:
    browser = await live.api.login("agent")
    ws = await live.socket(cookie=browser.cookies.get("plateau_session"))
    admin = await live.api.login("admin")
    r = await admin.patch(f"/api/v1/users/{live.api.users['agent'].id}", json={"active": False})
    assert r.status_code == 200, r.text
    assert (await _closed_with(ws))[0] == 4401
    assert (await browser.get("/api/v1/auth/me")).status_code == 401
    await browser.aclose()
    await admin.aclose()


async def test_given_a_session_ended_by_another_process_when_the_hub_revalidates_then_its_socket_closes(
    live: Live,
) -> None:
    """No route here saw it end (another node, the command line, its expiry): the periodic check does."""
    hub = live.api.app.state.hub
    hub.set_credential_check(credential_check(live.api.db))
    hub.revalidate_s = 0.1
    browser = await live.api.login("agent")
    cookie = browser.cookies.get("plateau_session")
    keep = await live.api.login("agent")  # another session of the same user stays open
    ws, kept = await live.socket(cookie=cookie), await live.socket(cookie=keep.cookies.get("plateau_session"))
    async with live.api.db.session() as s:
        await s.execute(delete(WebSession).where(WebSession.token_hash == token_digest(cookie)))
        await s.commit()
    assert (await _closed_with(ws))[0] == 4401
    await kept.send("ping")
    assert json.loads(await asyncio.wait_for(kept.recv(), 5))["type"] in ("pong", "heartbeat")
    await browser.aclose()
    await keep.aclose()
