"""Script drafts (`script_drafts`, app/script_service.py `Drafts`) on SQLite and PostgreSQL: what one node
keeps, another reads; an agent reads and drops only their own; the retention purge deletes the drafts
untouched for `script_draft_retention_hours` and keeps the others. The routes that use them are tested in
tests/dialer/test_agent_script_api.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.recording_purge import purge
from app.script_service import Drafts
from core.db import Database
from core.models import AuditLog, Role, ScriptDraft, User
from core.recording_store import store_for
from core.settings import Settings

pytestmark = pytest.mark.db
NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
ANSWERS = {"standard": "decideur", "enjeux": ["couts"], "rdv_date": "2026-12-01", "presentation": True}


async def _agents(db: Database) -> tuple[int, int]:
    async with db.session() as s:
        users = [User(username=n, display_name=n, password_hash="x", role=Role.agent) for n in ("ann", "bob")]
        s.add_all(users)
        await s.commit()
        return users[0].id, users[1].id


async def test_given_answers_kept_on_one_node_when_another_node_reads_them_then_the_same_answers(
    db: Database,
) -> None:
    ann, _ = await _agents(db)
    async with db.session() as s:
        await Drafts(s, ann).keep("c.1", {"standard": "filtre"}, NOW)
        await Drafts(s, ann).keep("c.1", ANSWERS, NOW + timedelta(seconds=5))  # the same row, rewritten
    other_node = Database(db.url)  # its own engine and pool, as another process's
    try:
        async with other_node.session() as s:
            assert await Drafts(s, ann).get("c.1") == ANSWERS
            assert await Drafts(s, ann).get("c.2") == {}
            rows = list(await s.scalars(select(ScriptDraft)))
    finally:
        await other_node.dispose()
    assert [(r.linkedid, r.user_id, r.updated_at) for r in rows] == [("c.1", ann, NOW + timedelta(seconds=5))]


async def test_given_two_agents_on_one_call_when_each_reads_and_drops_then_only_their_own(
    db: Database,
) -> None:
    ann, bob = await _agents(db)
    async with db.session() as s:
        await Drafts(s, ann).keep("c.1", ANSWERS, NOW)
        assert await Drafts(s, bob).get("c.1") == {}  # a transferred call: bob starts from nothing
        await Drafts(s, bob).keep("c.1", {"standard": "filtre"}, NOW)
        await Drafts(s, bob).drop("c.1")
        assert await Drafts(s, ann).get("c.1") == ANSWERS
        assert await Drafts(s, bob).get("c.1") == {}
        await Drafts(s, ann).drop("c.1")
        assert list(await s.scalars(select(ScriptDraft))) == []


@pytest.mark.parametrize(
    ("age", "kept"),
    [
        (timedelta(0), True),
        (timedelta(hours=23, minutes=59), True),
        (timedelta(hours=24), True),  # exactly the bound: not older than it
        (timedelta(hours=24, seconds=1), False),
        (timedelta(days=30), False),
    ],
)
async def test_given_a_draft_of_some_age_when_the_retention_purge_runs_then_deleted_past_the_bound(
    db: Database, tmp_path: Path, age: timedelta, kept: bool
) -> None:
    settings = Settings(
        database_url=db.url, secret_key="k", recordings_dir=tmp_path, script_draft_retention_hours=24
    )
    ann, bob = await _agents(db)
    async with db.session() as s:
        await Drafts(s, ann).keep("c.aged", ANSWERS, NOW - age)
        await Drafts(s, bob).keep("c.fresh", ANSWERS, NOW)
    report = await purge(db, store_for(settings), settings, NOW)
    async with db.session() as s:
        left = {d.linkedid for d in await s.scalars(select(ScriptDraft))}
        logged = list(await s.scalars(select(AuditLog).where(AuditLog.action == "recordings_purged")))
    assert left == ({"c.aged", "c.fresh"} if kept else {"c.fresh"})
    assert report.drafts_deleted == (0 if kept else 1)
    assert [a.detail["drafts_deleted"] for a in logged] == ([] if kept else [1])
