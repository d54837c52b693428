"""Browser tests against the real Asterisk: Plateau under uvicorn (the browser tier's LiveServer) with its
AMI link pointed at the integration tier's private Asterisk (`pbx`), seeded by the integration tier's
`seed()` (agents agent1…agent6 on PJSIP/agentN in every queue, supervisor `boss` on PJSIP/supervisor1,
José Müller on KNOWN_NUMBER, disposition `resolved`, pause reason `lunch`)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import migrate
from core.db import Database
from cti.pbx_process import PrivateAsterisk
from tests.app.browser.conftest import LiveServer
from tests.cti.pbx.conftest import seed

PASSWORD = "irrelevant-password"  # what seed() gives every user
# The browser tier's WCAG contrast probe (tests/app/browser/contrast.js), run on the live states too.
CONTRAST_JS = "".join(
    line
    for line in (Path(__file__).parent / "contrast.js").read_text().splitlines(True)
    if not line.startswith("//")
)


@dataclass
class CtiServer:
    server: LiveServer
    tokens: dict[str, str]
    users: dict[str, int]

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, username: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[username]}"}, timeout=10
        )

    def agent(self, username: str) -> dict[str, Any]:
        """The agent's live state as a supervisor's snapshot shows it ({} when Asterisk does not know it)."""
        with self.api("boss") as c:
            r = c.get("/api/v1/supervisor/live")
            r.raise_for_status()
            items = r.json()["items"]
        phone = f"PJSIP/{username}"
        return next(
            (i for i in items if i.get("type") == "agent_state_changed" and i.get("agent") == phone), {}
        )

    def wait_ami_ready(self) -> None:
        wait_until(lambda: _ami_ready(self), 30, "Plateau's AMI link to the test Asterisk")

    def reset_agents(self) -> None:
        """Every agent logged out of the queues: the next test starts from a quiet PBX. A test that
        restarted Asterisk may leave Plateau's AMI link still reconnecting: wait for it first, or the
        logouts (and the next test's logins) are 503s."""
        self.wait_ami_ready()
        for n in range(1, 7):
            with self.api(f"agent{n}") as c:
                c.post("/api/v1/agent/logout")


def run_in_own_thread(fn: Callable[[], Any]) -> Any:
    """`fn()` on a thread of its own (Playwright owns this thread's event loop); its error re-raised."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def _prepare(url: str) -> tuple[dict[str, str], dict[str, int]]:
    async def go() -> tuple[dict[str, str], dict[str, int]]:
        db = Database(url)
        try:
            return await seed(db)
        finally:
            await db.dispose()

    def run() -> tuple[dict[str, str], dict[str, int]]:
        migrate.upgrade(url)
        return asyncio.run(go())

    return run_in_own_thread(run)


def serve_with_pbx(
    pbx: PrivateAsterisk,
    work: Path,
    env: dict[str, str] | None = None,
    prepare: Callable[[str], None] | None = None,
    provision: bool = False,
) -> Iterator[CtiServer]:
    """`env`: more settings for the server; `prepare(url)`: more seeding before the server starts;
    `provision`: the app re-renders the users' phones into `pbx` and reloads its PJSIP (a user deactivated,
    a new phone password)."""
    url = f"sqlite+aiosqlite:///{work / 'plateau.db'}"
    tokens, users = _prepare(url)
    if prepare is not None:
        prepare(url)
    server = LiveServer(url, work)
    server.env.update(env or {})
    server.env.update(
        {
            "PLATEAU_AMI_ENABLED": "true",
            "PLATEAU_AMI_HOST": "127.0.0.1",
            "PLATEAU_AMI_PORT": str(pbx.cfg.ami_port),
            "PLATEAU_AMI_USER": pbx.cfg.ami_user,
            "PLATEAU_AMI_SECRET": pbx.cfg.ami_secret,
            "PLATEAU_AMI_PING_INTERVAL_S": "1",
            "PLATEAU_AMI_PING_TIMEOUT_S": "1",
            "PLATEAU_WRAPUP_TIMEOUT_S": "0",  # wrap-up lasts until the disposition
            "PLATEAU_PBX_HTTP_PORT": str(pbx.cfg.http_port),  # the browser phones' ws://
        }
    )
    if provision:
        server.env["PLATEAU_TEST_PBX_RUNTIME"] = str(pbx.cfg.runtime)
    server.start()
    live = CtiServer(server, tokens, users)
    live.wait_ami_ready()
    try:
        yield live
    finally:
        server.stop()


def _ami_ready(live: CtiServer) -> bool:
    try:
        r = httpx.get(f"{live.url}/healthz", timeout=2)
    except httpx.HTTPError:
        return False
    return bool(r.json().get("ami", {}).get("ok"))


def screenshot(page: Any, name: str) -> None:
    """With PLATEAU_SCREENSHOTS=<dir>, keep a picture of a live state (for the docs and for review)."""
    folder = os.environ.get("PLATEAU_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def wait_until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
