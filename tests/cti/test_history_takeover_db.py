"""A server's link taken over from another node (app/call_history.py `take_notes`, `close_gap`,
`forget`): the previous owner's
notes of that server's calls are this node's to write, those of the other servers are left alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select

from app.call_history import CallHistoryWriter
from core.db import Database
from core.directory import AgentDirectory
from core.models import Call, OpenCall

pytestmark = pytest.mark.db

NOTE = {"direction": "inbound", "caller_number": "0612345678", "caller_name": "José", "offered_at": 100.0}
ANSWERED = NOTE | {"queue": "support", "agent": "PJSIP/agent1", "answered_at": 106.0}


@pytest_asyncio.fixture
async def writer(db: Database, tmp_path: Path) -> AsyncIterator[CallHistoryWriter]:
    w = CallHistoryWriter(db, AgentDirectory(db), "FR", dead_letter=tmp_path / "dead.jsonl")
    w.start()
    yield w
    await w.stop()


async def _notes(db: Database, notes: dict[str, dict[str, object]]) -> None:
    async with db.session() as s:
        now = datetime.now(UTC)
        s.add_all(OpenCall(linkedid=k, data=v, noted_at=now) for k, v in notes.items())
        await s.commit()


async def test_given_notes_of_two_servers_when_a_is_taken_over_then_its_ended_calls_are_written_and_b_left(
    db: Database, writer: CallHistoryWriter
) -> None:
    await _notes(db, {"pbx-a-1.1": ANSWERED, "pbx-a-2.1": NOTE, "pbx-b-1.1": ANSWERED})

    await writer.take_notes("pbx-a-")
    gone = writer.close_gap("pbx-a-", {"pbx-a-2.1"}, [], set(), now=200.0)
    await writer.drain()

    assert [r.linkedid for r in gone] == ["pbx-a-1.1"]
    async with db.session() as s:
        rows = [(c.linkedid, c.outcome) for c in await s.scalars(select(Call))]
        left = set(await s.scalars(select(OpenCall.linkedid)))
    assert rows == [("pbx-a-1.1", "answered")]
    assert left == {"pbx-a-2.1", "pbx-b-1.1"}  # A's live call ends later here; B's is B's owner's
    assert set(writer.recovered) == {"pbx-a-2.1"}

    writer.forget("pbx-a-")  # the link lost again: its calls are the next owner's
    assert writer.recovered == {}
