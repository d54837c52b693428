"""/healthz tells the truth about writes: a database that answers reads but refuses writes (a write lock
held by another connection, a full disk) is `degraded` with the reason, HTTP 503."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import migrate, recording_purge
from app.health import WriteProbe
from app.main import create_app
from core.db import Database
from core.settings import Settings
from tests.conftest import wait_for


@contextlib.asynccontextmanager
async def _write_lock_held_elsewhere(db: Database) -> AsyncIterator[None]:
    if db.engine.dialect.name == "sqlite":
        other = sqlite3.connect(db.url.split(":///", 1)[1], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the file's write lock, as another process's long write holds it
        try:
            yield
        finally:
            other.rollback()
            other.close()
    else:
        async with db.engine.connect() as other, other.begin():
            await other.exec_driver_sql("LOCK TABLE health_heartbeat IN EXCLUSIVE MODE")
            yield


async def test_given_another_connection_holding_the_write_lock_when_probed_then_the_reason_is_given(
    db: Database,
) -> None:
    probe = WriteProbe(db, every_s=0)
    assert await probe.error() is None
    async with _write_lock_held_elsewhere(db):
        error = await probe.error()
        assert error is not None and "lock" in error
        assert await db.ping() is None  # reads still work: a read-only check would say "ok"
    assert await probe.error() is None


async def test_given_a_recent_probe_when_asked_again_then_the_answer_is_reused(db: Database) -> None:
    probe = WriteProbe(db, every_s=3600)
    assert await probe.error() is None
    async with _write_lock_held_elsewhere(db):
        assert await probe.error() is None  # no second write within the period


def _app(url: str) -> TestClient:
    return TestClient(create_app(Settings(database_url=url, secret_key="k", ami_enabled=False)))


def test_given_a_locked_sqlite_file_when_healthz_is_asked_then_503_degraded_with_the_reason(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    with _app(url) as client:
        client.app.state.write_probe.every_s = 0
        assert client.get("/healthz").status_code == 200
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        r = client.get("/healthz")
        other.rollback()
        other.close()
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "degraded" and "locked" in body["database"]["error"]
        assert client.get("/healthz").status_code == 200


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 8 MiB tmpfs of our own (mounting needs root: skipped otherwise)."""
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_given_a_full_disk_when_healthz_is_asked_then_503_degraded_with_the_reason(tiny_disk: Path) -> None:
    path = tiny_disk / "p.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    with _app(url) as client:
        client.app.state.write_probe.every_s = 0
        assert client.get("/healthz").status_code == 200
        with sqlite3.connect(path) as c:  # the WAL folded back into the file, as after a checkpoint
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with (tiny_disk / "filler").open("wb") as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        r = client.get("/healthz")
        assert r.status_code == 503, r.text
        assert r.json()["status"] == "degraded" and "full" in r.json()["database"]["error"]
        (tiny_disk / "filler").unlink()
        assert client.get("/healthz").status_code == 200


def test_given_sqlite_when_healthz_is_asked_then_the_node_holds_its_jobs_without_a_lease_row(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    migrate.upgrade(url)
    settings = Settings(database_url=url, secret_key="k", ami_enabled=False, node_name="solo")
    with TestClient(create_app(settings)) as client:
        node = client.get("/healthz").json()["node"]
    assert node == {
        "name": "solo",
        "leases": [{"name": recording_purge.LEASE, "token": 0, "expires_in_s": None}],
        "pbx_links": [],  # no PBX here (with one, this lone node would run its link)
    }


@pytest.mark.db
def test_given_postgresql_when_healthz_is_asked_then_the_node_lists_the_leases_it_holds(
    pg_migrated_url: str,
) -> None:
    name = f"health-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        database_url=pg_migrated_url,
        secret_key="k",
        ami_enabled=False,
        node_name=name,
        lease_ttl_s=30,
        lease_renew_every_s=1,
        lease_margin_s=2,
    )
    with TestClient(create_app(settings)) as client:

        def leases() -> dict[str, dict[str, object]]:
            return {lease["name"]: lease for lease in client.get("/healthz").json()["node"]["leases"]}

        # another test's node may hold the purge's lease on this shared database: only ours is sure
        asyncio.run(wait_for(lambda: f"node:{name}" in leases(), what="the node's own lease"))
        body = client.get("/healthz").json()["node"]
    assert body["name"] == name
    own = next(lease for lease in body["leases"] if lease["name"] == f"node:{name}")
    assert isinstance(own["token"], int) and own["token"] >= 1
    assert 0 < own["expires_in_s"] <= 28
