"""Nodes on one PostgreSQL database with the bus between nodes off (`cluster_bus` false): each runs every PBX
link as if alone, so each notices the others' `node:` leases, logs an error once per change and says so in
/healthz; a lone node says nothing, and its links stay unleased (a database blip must not drop them)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.health import BUS_OFF_WARNING, ClusterCheck
from app.main import create_app
from core.settings import Settings
from tests.app.api.cluster_nodes import node_settings
from tests.conftest import wait_for

pytestmark = pytest.mark.db
FAST = {
    "lease_ttl_s": 2.0,
    "lease_renew_every_s": 0.3,
    "lease_margin_s": 0.6,
}  # a change seen within a second


def _settings(url: str, node: str, tmp: Path, **more: Any) -> Settings:
    return node_settings(url, node, tmp, **(FAST | more))


@contextlib.asynccontextmanager
async def _node(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def _cluster(app: FastAPI) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/healthz")
    assert r.status_code == 200, r.text  # a warning, not a 503: a load balancer would drop every node
    cluster: dict[str, Any] = r.json()["cluster"]
    return cluster


async def _rounds(app: FastAPI, more: int) -> None:
    """Wait for `more` renewal rounds of this node's leases (each reads the other nodes)."""
    target = app.state.leases.rounds + more
    await wait_for(lambda: app.state.leases.rounds >= target, timeout=10, what=f"{more} lease rounds")


def _bus_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and BUS_OFF_WARNING in r.getMessage()
    ]


async def test_given_two_nodes_on_one_postgresql_without_the_bus_when_running_then_each_warns_once(
    fresh_pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.health")
    async with _node(_settings(fresh_pg_url, "node-a", tmp_path)) as app_a:
        async with _node(_settings(fresh_pg_url, "node-b", tmp_path)) as app_b:
            for app, other in ((app_a, "node-b"), (app_b, "node-a")):
                await wait_for(
                    lambda app=app: app.state.cluster_check.other_nodes, timeout=10, what="the other"
                )
                cluster = await _cluster(app)
                assert cluster == {"bus": False, "other_nodes": [other], "warning": BUS_OFF_WARNING}
                assert "PLATEAU_CLUSTER_BUS=true" in cluster["warning"]
            await _rounds(app_a, 3)
            await _rounds(app_b, 3)
            errors = _bus_errors(caplog)
            assert sorted(errors) == sorted(
                f"cluster: {BUS_OFF_WARNING} (other nodes: node-{n})" for n in "ba"
            )  # once
        # B stopped cleanly (its node lease released): A is alone again
        await wait_for(lambda: not app_a.state.cluster_check.other_nodes, timeout=10, what="B gone")
        assert await _cluster(app_a) == {"bus": False, "other_nodes": [], "warning": None}
        assert len(_bus_errors(caplog)) == 2


async def test_given_one_node_on_postgresql_without_the_bus_when_it_runs_then_no_warning(
    fresh_pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with _node(_settings(fresh_pg_url, "solo", tmp_path)) as app:
        await _rounds(app, 3)
        assert await _cluster(app) == {"bus": False, "other_nodes": [], "warning": None}
    assert _bus_errors(caplog) == []


def test_given_the_bus_on_when_other_nodes_are_seen_then_they_are_listed_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    check = ClusterCheck(bus=True)
    check.nodes_changed(["node-b"])
    assert check.health() == {"bus": True, "other_nodes": ["node-b"], "warning": None}
    assert _bus_errors(caplog) == []
