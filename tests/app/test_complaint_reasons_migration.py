"""Migration 0012 on both engines: the free-text complaint categories already in use become categories of
the reasons taxonomy, and their complaints point at them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app import migrate
from core.db import Database
from tests.pg import fresh_database

pytestmark = pytest.mark.db


@pytest.fixture(params=["sqlite", "postgresql"])
def url_at_0008(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        migrate.upgrade(url, "0008")
        yield url
    else:
        with fresh_database(request.getfixturevalue("pg_server")) as url:
            migrate.upgrade(url, "0008")
            yield url


async def _run(url: str, *statements: str) -> list[list[tuple[object, ...]]]:
    db = Database(url)
    try:
        out = []
        async with db.engine.begin() as conn:
            for s in statements:
                result = await conn.execute(text(s))
                out.append([tuple(r) for r in result] if result.returns_rows else [])
        return out
    finally:
        await db.dispose()


COMPLAINT = (
    "INSERT INTO complaints (contact_id, category, channel, description, status, escalation_level,"
    " received_at, ack_due_at, answer_due_at, reopen_count, created_at, updated_at) VALUES"
    " (1, '{}', 'phone', 'x', 'open', 1, '2026-01-05 10:00:00+00', '2026-01-19 10:00:00+00',"
    " '2026-03-05 10:00:00+00', 0, '2026-01-05 10:00:00+00', '2026-01-05 10:00:00+00')"
)


def test_given_free_text_categories_when_migrated_then_each_becomes_a_reason_its_complaints_point_at(
    url_at_0008: str,
) -> None:
    asyncio.run(
        _run(
            url_at_0008,
            "INSERT INTO contacts (id, first_name, last_name, tier, created_at, updated_at)"
            " VALUES (1, 'A', 'B', 'standard', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')",
            *(COMPLAINT.format(c) for c in ("Facturation", "délai", "Facturation", "Délai!")),
        )
    )
    migrate.upgrade(url_at_0008, "0013")
    reasons, links = asyncio.run(
        _run(
            url_at_0008,
            "SELECT code, label_fr, label_en, active, parent_id FROM complaint_reasons ORDER BY code",
            "SELECT c.category, r.code FROM complaints c JOIN complaint_reasons r ON r.id = c.reason_id"
            " ORDER BY c.id",
        )
    )
    assert [(code, fr, en, bool(active), parent) for code, fr, en, active, parent in reasons] == [
        ("delai", "Délai!", "Délai!", True, None),  # sorted texts: "Délai!" < "délai"
        ("delai_2", "délai", "délai", True, None),
        ("facturation", "Facturation", "Facturation", True, None),
    ]
    assert links == [
        ("Facturation", "facturation"),
        ("délai", "delai_2"),
        ("Facturation", "facturation"),
        ("Délai!", "delai"),
    ]
    migrate.downgrade(url_at_0008, "0008")  # and back
