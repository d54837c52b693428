"""The dialer on two nodes of one PostgreSQL database: a campaign's loop runs on the node holding
`campaign:<id>` only, stops the moment that node loses the lease, and its originates carry the token.

The CTI services are the real ones, not started (no AMI: the loops tick without dialling)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, func, select

from app.cti_wiring import build_cti
from app.ws_hub import Hub
from core.db import Database
from core.dialer_tables import CallList, Campaign, CampaignState, DialerCall, Lead
from core.leases import LeaseKeeper
from core.settings import Settings
from dialer.engine import DialerService
from dialer.engine.state import campaign_lease
from dialer.store import load_lead
from tests.conftest import wait_for

pytestmark = pytest.mark.db
TTL, EVERY, MARGIN = 2.0, 0.3, 0.6


@pytest_asyncio.fixture
async def pg(pg_migrated_url: str) -> AsyncIterator[Database]:
    db = Database(pg_migrated_url)
    yield db
    await db.dispose()


@contextlib.asynccontextmanager
async def _node(db: Database, name: str) -> AsyncIterator[DialerService]:
    keeper = LeaseKeeper(db, name, TTL, EVERY, MARGIN)
    await keeper.start()
    settings = Settings(database_url=db.url, secret_key="k", ami_enabled=False, node_name=name)
    dialer = DialerService(build_cti(settings, db, Hub()), db, leases=keeper)
    try:
        yield dialer
    finally:
        await dialer.stop()
        await keeper.stop()


async def _running_campaign(db: Database) -> tuple[int, int]:
    async with db.session() as s:
        cl = CallList(name=f"leases {uuid.uuid4().hex[:6]}")
        s.add(cl)
        await s.flush()
        lead = Lead(list_id=cl.id, status="new")
        c = Campaign(name=f"leases {uuid.uuid4().hex[:6]}", rule_set="UK-Ofcom", state=CampaignState.running)
        s.add_all([lead, c])
        await s.commit()
        return c.id, lead.id


def _runs(dialer: DialerService, cid: int) -> bool:
    loop = dialer.loops.get(cid)
    return loop is not None and loop.active and loop.task is not None and not loop.task.done()


async def test_given_two_nodes_when_a_campaign_runs_then_one_node_runs_its_loop_and_the_other_takes_over(
    pg: Database,
) -> None:
    cid, _ = await _running_campaign(pg)
    name = campaign_lease(cid)
    async with _node(pg, "d1") as d1, _node(pg, "d2") as d2:
        for d in (d1, d2):
            await d._sync_loops()  # wants the campaign's lease
        await wait_for(lambda: d1.leases.holds(name) or d2.leases.holds(name), what="a holder")
        holder, other = (d1, d2) if d1.leases.holds(name) else (d2, d1)
        await wait_for(lambda: other.leases.rounds >= 3, what="the other contending")
        for d in (holder, other):
            await d._sync_loops()
        assert _runs(holder, cid) and not _runs(other, cid)

        await holder.leases.stop(release=False)  # the holder's node is cut off: its loop stops now
        assert not holder.loops[cid].active
        await wait_for(lambda: other.leases.holds(name), timeout=4 * TTL, what="the takeover")
        await other._sync_loops()  # its supervisor, woken by the gain
        assert _runs(other, cid)


async def test_given_a_campaign_held_elsewhere_when_this_node_would_originate_then_nothing_is_placed(
    pg: Database,
) -> None:
    cid, lead_id = await _running_campaign(pg)
    inserted: list[int | None] = []  # the lease token of each dialer_calls row written

    def note(_mapper: Any, _conn: Any, row: DialerCall) -> None:
        inserted.append(row.lease_token)

    event.listen(DialerCall, "before_insert", note)
    try:
        await _originates(pg, cid, lead_id, inserted)
    finally:
        event.remove(DialerCall, "before_insert", note)
    async with pg.session() as s:
        assert await s.scalar(select(func.count()).select_from(DialerCall)) == 0


async def _originates(pg: Database, cid: int, lead_id: int, inserted: list[int | None]) -> None:
    name = campaign_lease(cid)
    campaign = {"id": cid, "name": "leases", "script": None, "amd": False}
    async with _node(pg, "holds") as holds, _node(pg, "not") as other:
        holds.leases.want(name)
        await wait_for(lambda: holds.leases.holds(name), what="the holder")
        other.leases.want(name)
        await wait_for(lambda: other.leases.rounds >= 2, what="the other contending")
        async with pg.session() as s:
            lead = await load_lead(s, lead_id)
        assert lead is not None
        now = other.clock()
        assert await other._originate(campaign, lead, "+33611000001", now, loop=None) is None
        assert inserted == []  # not even written: the lease is checked first
        # the holder writes its call with its token (then drops it: no PBX link in this test)
        token = holds.leases.token(name)
        await holds._originate(campaign, lead, "+33611000001", now, loop=None)
    assert token is not None and token >= 1 and inserted == [token]
