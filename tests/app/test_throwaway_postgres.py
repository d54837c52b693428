"""Where no PostgreSQL runs, the test set-up makes its own: prove that path on every run."""

from __future__ import annotations

import asyncio

import pytest

from app import migrate
from app.customers import find_callers
from core.db import Database
from core.models import Contact, PhoneNumber
from cti.numbers import parse
from tests.pg import fresh_database, throwaway_cluster


@pytest.mark.db
def test_given_no_postgres_server_when_a_throwaway_cluster_is_made_then_migrations_and_lookups_work() -> None:
    with throwaway_cluster() as server, fresh_database(server) as url:
        migrate.upgrade(url)

        async def exercise() -> list[str]:
            db = Database(url)
            p = parse("06 12 34 56 78")
            async with db.session() as s:
                s.add(
                    Contact(last_name="Durand", numbers=[PhoneNumber(e164=p.e164, suffix_key=p.suffix_key)])
                )
                await s.commit()
                names = [m.contact.last_name for m in await find_callers(s, "+33612345678", "FR")]
            await db.dispose()
            return names

        assert asyncio.run(exercise()) == ["Durand"]
