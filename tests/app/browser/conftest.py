"""Browser tier: Debian's Chromium driven by Playwright against the real app under uvicorn.

- `live_server`: a migrated SQLite database with the demo data set plus a few fixed facts (calls and agent
  states today, a long contact history, an agent whose name is a spreadsheet formula), served by uvicorn
  in a child process on a free port. It can be stopped and restarted (reconnect tests).
- `page`: a fresh browser context per test; on failure a full-page screenshot is kept under
  var/test-artifacts/ (uploaded as a CI artefact).
Playwright cannot download browsers here: it launches /usr/bin/chromium (`make setup` installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy import select

from app import migrate
from app.demo import DEMO_PASSWORD, seed_demo
from app.security import hash_password
from core.db import Database
from core.models import (
    AgentStateLog,
    Call,
    CallDirection,
    Contact,
    Interaction,
    InteractionKind,
    Role,
    User,
    utcnow,
)
from cti.pbx_process import free_port

if TYPE_CHECKING:
    from cti.pbx_process import PrivateAsterisk
    from tests.app.browser.cti_live import CtiServer

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MEDIA_ARGS = [
    "--use-fake-ui-for-media-stream",  # the microphone permission granted without a prompt
    "--use-fake-device-for-media-stream",  # a beeping fake microphone
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",  # ICE on 127.0.0.1, where the test Asterisk is
]
PASSWORD = DEMO_PASSWORD
EVIL_AGENT = "@SUM(1+1)*cmd|' /C calc'!A0"  # a display name that a spreadsheet would run as a formula
HISTORY_NOTES = 30  # more than one timeline page (25)

expect.set_options(timeout=10_000)  # generous: CI shares 2 cores with the other tiers


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


async def _seed(url: str) -> None:
    """Demo data plus facts the tests rely on, all relative to now so that 'today' has activity."""
    db = Database(url)
    try:
        async with db.session() as s:
            await seed_demo(s)
            now = utcnow()
            agents = {u.username: u for u in await s.scalars(select(User))}
            evil = User(
                username="agent-evil",
                display_name=EVIL_AGENT,
                role=Role.agent,
                password_hash=hash_password(PASSWORD),
                team_id=agents["agent1"].team_id,
            )
            s.add(evil)
            await s.flush()
            # Today, within the last hour: answered and abandoned calls on the support queue.
            base = now - timedelta(minutes=50)
            for i, (wait, answered, agent) in enumerate(
                [(5, True, "agent1"), (12, True, "agent2"), (40, True, "agent1"), (3, False, None),
                 (25, False, None), (8, True, "agent-evil"), (15, True, "agent2")]
            ):  # fmt: skip
                offered = base + timedelta(minutes=6 * i)
                agent_id = (evil.id if agent == "agent-evil" else agents[agent].id) if agent else None
                s.add(
                    Call(
                        linkedid=f"browser.{i}",
                        direction=CallDirection.inbound,
                        caller_number="+33612345678",
                        queue="support",
                        agent_id=agent_id,
                        offered_at=offered,
                        answered_at=offered + timedelta(seconds=wait) if answered else None,
                        ended_at=offered + timedelta(seconds=wait + (180 if answered else 0)),
                        wait_s=wait,
                        talk_s=170 if answered else None,
                        hold_s=10 if answered else None,
                        wrap_s=30 if answered else None,
                        outcome="answered" if answered else "abandoned",
                    )
                )
            # Agent states today: ready, talk, wrap, pauses with reasons.
            t = now - timedelta(hours=2)
            for user in ("agent1", "agent2"):
                uid = agents[user].id
                for state, minutes, reason in [  # cti.events.AgentState names
                    ("ready", 20, None), ("on_call", 25, None), ("wrap_up", 5, None),
                    ("paused", 15, "dejeuner"), ("ready", 10, None), ("on_call", 20, None),
                    ("paused", 10, "brief"),
                ]:  # fmt: skip
                    s.add(
                        AgentStateLog(
                            user_id=uid, state=state, reason=reason, started_at=t,
                            ended_at=t + timedelta(minutes=minutes),
                        )
                    )  # fmt: skip
                    t += timedelta(minutes=minutes)
                t = now - timedelta(hours=2)
            # A contact with a long history (pagination) — Hélène Lefèvre, 06 12 34 56 78 in the demo set.
            helene = await s.scalar(
                select(Contact).where(Contact.last_name == "Lefèvre", Contact.first_name == "Hélène")
            )
            for i in range(HISTORY_NOTES):
                s.add(
                    Interaction(
                        contact_id=helene.id,
                        account_id=helene.account_id,
                        kind=InteractionKind.note,
                        agent_id=agents["agent1"].id,
                        body=f"Note de suivi n°{i + 1}",
                        at=now - timedelta(days=90) + timedelta(hours=i),
                    )
                )
            await s.commit()
    finally:
        await db.dispose()


class LiveServer:
    def __init__(self, db_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "server.log"
        self.env = {
            **os.environ,
            "PLATEAU_DATABASE_URL": db_url,
            "PLATEAU_SECRET_KEY": "browser-tests",
            "PLATEAU_AMI_ENABLED": "false",
            "PLATEAU_IVR_ENABLED": "false",
            "PLATEAU_LOGIN_RATE_LIMIT": "100",
            "PLATEAU_PBX_SOUNDS_DIR": str(workdir / "sounds"),  # campaign recordings: not the system's
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "tests.app.browser.server_app:build",
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
               "--timeout-graceful-shutdown", "1"]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60  # a loaded 2-core machine can take 20 s and more
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start; see {self.log}:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self, crash: bool = False) -> None:
        """Graceful shutdown, or `crash=True`: SIGKILL, as a dead server looks to its clients."""
        if self.proc and crash:
            self.proc.kill()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = seeded_server(tmp_path_factory.mktemp("browser"))
    server.start()
    yield server
    server.stop()


def seeded_server(work: Path, **env: str) -> LiveServer:
    """A server (not started yet) on a fresh migrated SQLite database with the seed data; `env` adds
    PLATEAU_* settings (a module that locks users out needs a low limit of its own)."""
    url = f"sqlite+aiosqlite:///{work / 'plateau.db'}"
    # In a thread of its own: Playwright's sync API may already run an event loop in this one.
    errors: list[BaseException] = []

    def prepare() -> None:
        try:
            migrate.upgrade(url)
            asyncio.run(_seed(url))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=prepare)
    t.start()
    t.join()
    if errors:
        raise errors[0]
    server = LiveServer(url, work)
    server.env.update(env)
    return server


@pytest.fixture(scope="session")
def playwright_() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (installs Debian's chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_: Playwright) -> Iterator[Browser]:
    b = playwright_.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture(scope="module")
def media_browser(playwright_: Playwright) -> Iterator[Browser]:
    """Chromium with a fake microphone and camera that needs no permission prompt (the browser phone)."""
    b = playwright_.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *MEDIA_ARGS]
    )
    yield b
    b.close()


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test that requested this fixture failed (its report, kept by pytest_runtest_makereport)."""
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


def _test_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])[:150]


def keep_screenshot(page: Page, request: pytest.FixtureRequest, name: str = "") -> None:
    """A failed test's page, pictured into var/test-artifacts (named after the test, or `name`)."""
    if not failed(request):
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = name or _test_name(request)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    except Exception as exc:  # a dead page must not hide the test's own failure
        print(f"screenshot failed: {exc}")


@contextlib.contextmanager
def browser_page(browser: Browser, request: pytest.FixtureRequest, **context: Any) -> Iterator[Page]:
    """A page in a browser context of its own (`context`: Playwright's new_context arguments), pictured if
    its test failed, then closed."""
    ctx = browser.new_context(**context)
    pg = ctx.new_page()
    yield pg
    keep_screenshot(pg, request)
    ctx.close()


DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def open_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """For tests with several people at once: `open_page(url, user)` opens a page in a browser context of
    its own on `url`, signed in as `user` (when given). Each is pictured if the test failed, then closed."""
    made: list[Page] = []

    def open_(base_url: str, user: str | None = None, password: str = PASSWORD, **context: Any) -> Page:
        pg = browser.new_context(**({"base_url": base_url, "viewport": DESKTOP} | context)).new_page()
        made.append(pg)
        if user is not None:
            login(pg, user, password)
        return pg

    yield open_
    for n, pg in enumerate(made, 1):
        keep_screenshot(pg, request, f"{_test_name(request)}-{n}")
        pg.context.close()


def record_dialogs(page: Page) -> None:
    """Dismiss every alert/confirm the page opens and keep its message in `page.dialogs` (a test expects
    none)."""
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def cti(
    pbx: PrivateAsterisk, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CtiServer]:
    """Plateau serving on the module's private Asterisk (its `pbx`) with the desk tests' seed; a module that
    needs other settings defines its own `cti`."""
    from tests.app.browser.cti_live import serve_with_pbx  # it imports this module: not at the top

    yield from serve_with_pbx(pbx, tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))


@pytest.fixture
def contexts(
    media_browser: Browser, cti: CtiServer, pbx: PrivateAsterisk, request: pytest.FixtureRequest
) -> Iterator[list[BrowserContext]]:
    """Browser contexts a test opens on its module's `cti` (each one a browser profile of its own), closed
    after the test, pictures kept on a failure; the PBX left without calls and the agents logged out."""
    made: list[BrowserContext] = []
    yield made
    name = _test_name(request)
    for i, context in enumerate(made):
        for j, pg in enumerate(context.pages):
            keep_screenshot(pg, request, f"{name}-{i}-{j}")
        context.close()
    pbx.rx("channel request hangup all")
    cti.reset_agents()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Page]:
    with browser_page(
        browser,
        request,
        base_url=live_server.url,
        viewport=DESKTOP,
        accept_downloads=True,
    ) as pg:
        yield pg


def login(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: "/login" not in url)
