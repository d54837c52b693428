"""Fixtures for the IVR tests: one private Asterisk per module, the FastAGI server per test, AMI events."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from app import migrate
from app.ivr_data import AppIvrData
from core.db import Database
from cti.ivr.agi import IvrServer
from cti.ivr.flows import load_flows
from cti.pbx_process import PbxConfig, PrivateAsterisk
from tests.cti.pbx.sipp import register_test_phones


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAsterisk]:
    if not shutil.which("sipp"):
        pytest.fail("SIPp is not installed: run `bash asterisk-conf/install.sh` (make does it)")
    runtime = tmp_path_factory.mktemp("ivr-pbx")
    cfg = PbxConfig.for_tests(runtime, agents=3, supervisors=1, ivr_enabled=True)
    asterisk = PrivateAsterisk(cfg)
    asterisk.start()
    register_test_phones(cfg, runtime / "register")
    # What the caller hears is observable in Asterisk's own log ("Playing 'x.gsm'") at verbose 3.
    asterisk.rx("logger add channel ivr-verbose.log verbose(3)")
    try:
        yield asterisk
    finally:
        asterisk.stop()


@pytest.fixture(scope="module")
def ivr_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ivr-db') / 'plateau.db'}"
    migrate.upgrade(url)
    return url


@pytest_asyncio.fixture
async def ivr_db(ivr_db_url: str) -> AsyncIterator[Database]:
    database = Database(ivr_db_url)
    yield database
    await database.dispose()


@pytest_asyncio.fixture
async def ivr_server(pbx: PrivateAsterisk, ivr_db: Database, flows_dir: Path) -> AsyncIterator[IvrServer]:
    server = IvrServer(
        flows=load_flows(flows_dir),
        db=ivr_db,
        data=AppIvrData(),
        host="127.0.0.1",
        port=pbx.cfg.agi_port,
        region="FR",
    )
    await server.start()
    yield server
    await server.stop()


class AmiEvents:
    """Every AMI event of the private Asterisk, through a small panoramisk Manager of the test's own."""

    def __init__(self, pbx: PrivateAsterisk) -> None:
        from panoramisk import Manager

        cfg = pbx.cfg
        self.events: list[dict[str, Any]] = []
        self.manager = Manager(
            host="127.0.0.1",
            port=cfg.ami_port,
            username=cfg.ami_user,
            secret=cfg.ami_secret,
            ping_delay=0,
            loop=asyncio.get_running_loop(),
        )
        self.manager.register_event("*", self._on_event)

    def _on_event(self, _manager: Any, message: Any) -> None:
        self.events.append(dict(message.items()))

    def named(self, name: str, **match: str) -> list[dict[str, Any]]:
        return [
            e for e in self.events if e.get("Event") == name and all(e.get(k) == v for k, v in match.items())
        ]

    async def start(self) -> None:
        await self.manager.connect()

    def stop(self) -> None:
        self.manager.close()


@pytest_asyncio.fixture
async def ami(pbx: PrivateAsterisk) -> AsyncIterator[AmiEvents]:
    watcher = AmiEvents(pbx)
    await watcher.start()
    yield watcher
    watcher.stop()
