"""A list import interrupted by `kill -9`: a real `plateau serve` is killed mid-import, then started again.

The start-up finds the job its dead process left running, ends it failed with the reason, deletes the
leads it had committed (SQLite commits batch by batch) and the spooled upload; no lead was ever dialable.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app import migrate
from app.security import hash_password, new_token, token_digest
from core.db import Database
from core.dialer_tables import ImportJob, Lead
from core.models import ApiToken, Role, User
from core.settings import ROOT
from cti.pbx_process import free_port
from dialer.store import load_leads
from tests.dialer.test_import_jobs import big_list
from tests.pg import fresh_database

pytestmark = pytest.mark.faults
PLATEAU = Path(sys.executable).parent / "plateau"


def _until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)
    return result


class Server:
    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp, self.port = url, tmp, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PLATEAU_DATABASE_URL": self.url,
            "PLATEAU_AMI_ENABLED": "false",
            "PLATEAU_SECRET_KEY": "t",
            "PLATEAU_HTTP_PORT": str(self.port),
        }
        with open(self.tmp / "serve.log", "ab") as out:
            self.proc = subprocess.Popen(
                [str(PLATEAU), "serve"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (self.tmp / "serve.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _until(up, 60, "plateau serve to answer /healthz")

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def _manager_token(url: str) -> str:
    db = Database(url)
    raw = new_token()
    async with db.session() as s:
        user = User(
            username="manager", display_name="M", password_hash=hash_password("x" * 12), role=Role.manager
        )
        s.add(user)
        await s.flush()
        s.add(ApiToken(user_id=user.id, name="test", token_hash=token_digest(raw)))
        await s.commit()
    await db.dispose()
    return raw


async def _state(url: str, job_id: int, list_id: int) -> tuple[ImportJob, int, int]:
    """The job row, the leads written into the list, and how many a dialer would load."""
    db = Database(url)
    async with db.session() as s:
        job = await s.get(ImportJob, job_id)
        written = await s.scalar(select(func.count()).select_from(Lead).where(Lead.list_id == list_id))
        dialable = len(await load_leads(s, [list_id]))
    await db.dispose()
    return job, int(written or 0), dialable


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
        migrate.upgrade(url)
        yield url
    else:
        with fresh_database(request.getfixturevalue("pg_server")) as url:
            migrate.upgrade(url)
            yield url


def test_given_an_import_running_when_the_server_is_killed_and_restarted_then_the_job_fails_and_nothing_stays(
    database: str, tmp_path: Path
) -> None:
    rows = 150_000
    path = big_list(tmp_path, rows)
    token = asyncio.run(_manager_token(database))
    server = Server(database, tmp_path)
    server.start()
    try:
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{server.port}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        list_id = api.post("/lists", json={"name": "Grande liste"}).json()["id"]
        r = api.post(f"/lists/{list_id}/imports", files={"file": (path.name, path.read_bytes())})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        view = _until(
            lambda: (v := api.get(f"/imports/{job_id}").json())["accepted"] > 0 and v, 60, "the first batch"
        )
        assert view["status"] == "running" and view["rows"] < rows, view
        server.kill()
        job, written, dialable = asyncio.run(_state(database, job_id, list_id))
        spool = Path(job.options["runner"]["spool"])
        assert job.status.value == "running" and spool.exists() and dialable == 0
        if database.startswith("sqlite"):
            assert written > 0  # batches committed before the kill, not dialable

        server.start()
        view = api.get(f"/imports/{job_id}").json()
        assert view["status"] == "failed" and "interrupted" in view["error"], view
        job, written, dialable = asyncio.run(_state(database, job_id, list_id))
        assert (job.status.value, written, dialable) == ("failed", 0, 0)
        assert not spool.exists()
        assert "was interrupted" in (tmp_path / "serve.log").read_text()
    finally:
        server.stop()
