"""Agent state periods written in batches, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.agent_state_log import AgentStateLogWriter
from core.db import Database
from core.directory import AgentDirectory
from core.models import AgentStateLog, Role, User
from cti.events import AgentState, AgentStateChanged

pytestmark = pytest.mark.db
T0 = 1_795_415_613.0


async def _agents(db: Database) -> dict[str, int]:
    async with db.session() as s:
        users = [
            User(
                username=f"agent{n}",
                display_name=f"Agent {n}",
                password_hash="x",
                role=Role.agent,
                sip_endpoint=f"agent{n}",
            )
            for n in (1, 2)
        ]
        s.add_all(users)
        await s.commit()
        return {u.sip_endpoint: u.id for u in users}


def _change(agent: str, state: AgentState, dt: float, reason: str | None = None) -> AgentStateChanged:
    return AgentStateChanged(f"PJSIP/{agent}", state, reason, T0 + dt, ("support",))


async def _periods(db: Database) -> list[tuple[int, str, str | None, float, float | None]]:
    async with db.session() as s:
        by_agent = select(AgentStateLog).order_by(AgentStateLog.user_id, AgentStateLog.started_at)
        rows = await s.scalars(by_agent)
        return [
            (
                r.user_id,
                r.state,
                r.reason,
                r.started_at.timestamp() - T0,
                r.ended_at.timestamp() - T0 if r.ended_at else None,
            )
            for r in rows.all()
        ]


async def test_given_batches_of_state_changes_when_written_then_each_period_ends_where_the_next_starts(db):
    ids = await _agents(db)
    directory = AgentDirectory(db)
    await directory.load()
    writer = AgentStateLogWriter(db, directory)
    assert await writer.write([_change("agent1", AgentState.ready, 0)]) == 1
    batch = [
        _change("agent1", AgentState.ringing, 10),
        _change("agent2", AgentState.paused, 11, "lunch"),
        _change("agent1", AgentState.on_call, 12),
        _change("ghost", AgentState.ready, 13),  # a phone nobody is signed up with
        _change("agent1", AgentState.ready, 40),
    ]
    assert await writer.write(batch) == 4
    a1, a2 = ids["agent1"], ids["agent2"]
    assert await _periods(db) == [  # by agent, then start
        (a1, "ready", None, 0, 10),
        (a1, "ringing", None, 10, 12),
        (a1, "on_call", None, 12, 40),
        (a1, "ready", None, 40, None),
        (a2, "paused", "lunch", 11, None),
    ]
