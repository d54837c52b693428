"""`plateau cluster status`: every lease as the database has it, and the nodes seen; SQLite has one node."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from app import migrate
from app.cli import build_parser, main
from core.db import Database
from core.leases import LeaseKeeper
from core.settings import get_settings
from tests.conftest import wait_for


def _use(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATEAU_DATABASE_URL", url)
    monkeypatch.setenv("PLATEAU_SECRET_KEY", "cli-test-secret")
    get_settings.cache_clear()


def test_given_sqlite_when_cluster_status_is_asked_then_one_node_owns_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"
    migrate.upgrade(url)
    _use(url, monkeypatch)
    monkeypatch.setenv("PLATEAU_NODE_NAME", "solo")
    assert main(["cluster", "status"]) == 0
    assert capsys.readouterr().out == "SQLite: one node (solo) owns everything; no leases\n"


async def _hold(url: str, node: str, lease: str, release: bool) -> int:
    """A node takes `lease` and stops: without release its rows stay live for the ttl, as after a crash."""
    db = Database(url)
    keeper = LeaseKeeper(db, node, ttl_s=60, renew_every_s=1, margin_s=2)
    await keeper.start()
    keeper.want(lease)
    await wait_for(lambda: keeper.holds(lease), what=f"{node} holding {lease}")
    token = keeper.token(lease)
    assert token is not None
    await keeper.stop(release=release)
    await db.dispose()
    return token


@pytest.mark.db
def test_given_leases_on_postgresql_when_cluster_status_is_asked_then_each_with_owner_token_and_expiry(
    pg_migrated_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    live, gone = f"live-{tag}", f"gone-{tag}"
    token = asyncio.run(_hold(pg_migrated_url, live, f"campaign:{tag}", release=False))
    asyncio.run(_hold(pg_migrated_url, gone, f"job:{tag}", release=True))
    _use(pg_migrated_url, monkeypatch)

    assert main(["cluster", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["lease", "owner", "token", "expires", "in"]
    held = next(line.split() for line in lines if line.startswith(f"campaign:{tag}"))
    assert held[:3] == [f"campaign:{tag}", live, str(token)] and held[4] == "s"
    assert 0 < float(held[3]) <= 60
    released = next(line.split() for line in lines if line.startswith(f"job:{tag}"))
    assert released[1:] == [gone, "1", "expired"]
    assert f"  {live} (alive, renewed" in "\n".join(lines)
    assert any(line.startswith(f"  {gone} (gone, renewed") for line in lines)

    assert main(["cluster", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    nodes = {node["name"]: node["alive"] for node in status["nodes"]}
    assert status["engine"] == "postgresql" and nodes[live] is True and nodes[gone] is False


def test_given_serve_with_a_node_name_when_parsed_then_the_name_is_taken() -> None:
    assert build_parser().parse_args(["serve", "--node-name", "node-b"]).node_name == "node-b"
