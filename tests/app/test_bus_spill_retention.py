"""The bus's spilled events (`bus_spill`) may quote a caller: the retention purge deletes those older than
SPILL_KEEP_S on either engine (left behind when the bus was turned off; while it runs, the nodes sweep them,
tests/app/test_bus_relay.py), unaudited like the bus itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.recording_purge import purge
from core.bus_relay import SPILL_KEEP_S
from core.bus_tables import BusSpill
from core.db import Database
from core.models import AuditLog
from core.recording_store import store_for
from core.settings import Settings

pytestmark = pytest.mark.db
NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


async def test_given_spilled_events_of_some_ages_when_the_retention_purge_runs_then_the_expired_ones_go(
    db: Database, tmp_path: Path
) -> None:
    ages = {1: 0, 2: SPILL_KEEP_S - 1, 3: SPILL_KEEP_S + 1, 4: 86_400}  # seq: age in seconds
    async with db.session() as s:
        s.add_all(
            BusSpill(sender="gone/1", seq=seq, payload='{"p": {"caller": "0612345678"}}',
                     created_at=NOW - timedelta(seconds=age))
            for seq, age in ages.items()
        )  # fmt: skip
        await s.commit()
    settings = Settings(database_url=db.url, secret_key="k", recordings_dir=tmp_path)
    await purge(db, store_for(settings), settings, NOW)
    async with db.session() as s:
        assert sorted(await s.scalars(select(BusSpill.seq))) == [1, 2]
        assert list(await s.scalars(select(AuditLog))) == []
