"""Sign-in limits across nodes: two Plateau nodes on one PostgreSQL with the bus on count failures together
(`login_failures`), so failing on one node counts on the other; a lockout shows and is lifted from either;
a success clears the name's failures. With the bus off each node keeps its own count (as on SQLite)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.login_limits import SharedLoginLimiter
from app.main import create_app
from core.models import Role
from core.settings import Settings
from tests.app.api.cluster_nodes import node_settings, seed_people

pytestmark = pytest.mark.db
PASSWORD = "correct horse battery"
LIMITS = {"login_rate_limit": 3, "login_ip_rate_limit": 7}


@contextlib.asynccontextmanager
async def _node(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def _client(app: FastAPI, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers)


async def _login(app: FastAPI, username: str, password: str) -> int:
    async with _client(app) as c:
        r = await c.post("/api/v1/auth/login", json={"username": username, "password": password})
        return r.status_code


@contextlib.asynccontextmanager
async def _two_nodes(
    url: str, tmp: Path, **more: Any
) -> AsyncIterator[tuple[FastAPI, FastAPI, dict[str, str]]]:
    tokens = await seed_people(
        url, [("agent", Role.agent, "Support", None), ("boss", Role.admin, "Support", None)]
    )
    async with (
        _node(node_settings(url, "node-a", tmp, **(LIMITS | more))) as a,
        _node(node_settings(url, "node-b", tmp, **(LIMITS | more))) as b,
    ):
        yield a, b, tokens


async def test_given_two_nodes_with_the_bus_when_a_name_fails_on_both_then_the_limit_is_one_nodes(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    async with _two_nodes(fresh_pg_url, tmp_path, cluster_bus=True) as (a, b, _tokens):
        assert isinstance(a.state.login_limiter, SharedLoginLimiter)
        assert [await _login(node, "agent", "wrong password") for node in (a, b, a)] == [401, 401, 401]
        assert await _login(b, "agent", PASSWORD) == 429  # three failures in all: locked on every node
        assert await _login(a, "Agent", PASSWORD) == 429
        async with _client(b) as boss:  # an admin signed in on B (the pages take a session, not a token)
            r = await boss.post("/api/v1/auth/login", json={"username": "boss", "password": PASSWORD})
            boss.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            page = await boss.get("/admin", headers={"accept": "text/html"})
            assert page.text.count("badge-warn") == 1  # the agent shows locked on the other node's page
            agent_id = next(
                u["id"] for u in (await boss.get("/api/v1/users")).json() if u["username"] == "agent"
            )
            r = await boss.post(f"/api/v1/users/{agent_id}/unlock")
            assert r.status_code == 200 and r.json()["locks_lifted"] == 1
        assert await _login(a, "agent", "wrong password") == 401  # unlocked on A too
        assert await _login(a, "agent", PASSWORD) == 200  # and a success clears the name's failures
        assert [await _login(node, "agent", "wrong password") for node in (b, a)] == [401, 401]
        assert await _login(b, "agent", PASSWORD) == 200


async def test_given_two_nodes_with_the_bus_when_made_up_names_are_sprayed_then_the_address_locks_on_both(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    async with _two_nodes(fresh_pg_url, tmp_path, cluster_bus=True) as (a, b, _tokens):
        codes = [await _login((a, b)[i % 2], f"nobody{i}", "wrong password") for i in range(5)]
        assert codes == [401] * 5
        assert await _login(a, "agent", "wrong password") == 401
        assert await _login(b, "agent", PASSWORD) == 200  # clears the agent's failures, not the address's
        assert await _login(a, "nobody9", "wrong password") == 401  # the seventh from this address
        assert await _login(a, "agent", PASSWORD) == 429  # the address: seven failures whatever the names
        assert await _login(b, "agent", PASSWORD) == 429


async def test_given_two_nodes_without_the_bus_when_a_name_fails_on_both_then_each_counts_its_own(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    async with _two_nodes(fresh_pg_url, tmp_path) as (a, b, _tokens):
        assert not isinstance(a.state.login_limiter, SharedLoginLimiter)
        assert [await _login(node, "agent", "wrong password") for node in (a, b, a)] == [401, 401, 401]
        assert await _login(b, "agent", PASSWORD) == 200  # B saw one failure: the per-process limiter
