"""Shared fixtures. The `db_url` fixture runs each database test on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from app import migrate
from core.db import Database
from core.models import Base
from tests.pg import fresh_database, postgres_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database per engine, shared by the session (tests clean up through `db`)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'plateau.db'}"
        migrate.upgrade(url)
        yield url
    else:
        server = request.getfixturevalue("pg_server")
        with fresh_database(server) as url:
            migrate.upgrade(url)
            yield url


@pytest.fixture(scope="session")
def pg_migrated_url(pg_server: str) -> Iterator[str]:
    """A migrated PostgreSQL database for the tests that need PostgreSQL itself (several nodes' leases)."""
    with fresh_database(pg_server) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def fresh_pg_url(pg_server: str) -> Iterator[str]:
    """A migrated PostgreSQL database of the test's own (several nodes meeting on it)."""
    with fresh_database(pg_server) as url:
        migrate.upgrade(url)
        yield url


@pytest_asyncio.fixture
async def db(migrated_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_url)
    yield database
    async with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    await database.dispose()


async def wait_for(
    predicate: Callable[[], Awaitable[bool] | bool],
    timeout: float = 5.0,
    interval: float = 0.02,
    what: str = "condition",
) -> None:
    """Poll until `predicate` holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "migrated_url" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("db"):
            item.add_marker(pytest.mark.db)
    # Playwright's sync API keeps an event loop running in the main thread for the whole session once it
    # starts, after which asyncio.run() (migrations, CLI) cannot run: the browser tier goes last.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


ROOT = Path(__file__).resolve().parent.parent
