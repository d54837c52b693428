"""The pop's unhappy badge (app/screenpop.py with app/unhappy_segment.SegmentCache) on both engines: a
known caller in the file, an unknown caller in it by their number, and a caller who is not in it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.screenpop import ScreenPop
from app.unhappy_segment import SegmentCache
from core.bus import Message
from core.db import Database
from core.models import Call, CallDirection, utcnow
from tests.cti.test_history_and_pop_db import _full_pop, _ring, _seed


async def _pop_with_file(db: Database, number: str) -> dict[str, Any]:
    cache = SegmentCache()
    await cache.refresh(db)
    sent: list[Message] = []
    pop = ScreenPop(db, sent.append, "FR", unhappy=cache.reasons)
    try:
        return await _full_pop(pop, sent, _ring(f"uh-{number}", number))
    finally:
        await pop.close()


async def test_given_a_caller_with_an_open_complaint_when_ringing_then_the_pop_carries_the_reason(db):
    await _seed(db)  # José (Acme) on 0612345678 has an open complaint
    got = await _pop_with_file(db, "0612345678")
    assert [(r["code"], r["count"]) for r in got["matches"][0]["unhappy"]] == [("open_complaint", 1)]
    assert got["unhappy"] == []


async def test_given_an_unknown_caller_who_abandoned_twice_today_when_ringing_then_the_pop_says_so(db):
    await _seed(db)
    now = utcnow()
    async with db.session() as s:
        for n in (1, 2):
            s.add(
                Call(
                    linkedid=f"uh-ab-{n}",
                    direction=CallDirection.inbound,
                    caller_number="0698765432",
                    queue="support",
                    offered_at=now - timedelta(hours=n),
                    outcome="abandoned",
                )
            )
        await s.commit()
    got = await _pop_with_file(db, "0698765432")
    assert got["matches"] == []
    assert [(r["code"], r["count"]) for r in got["unhappy"]] == [("abandoned_calls", 2)]


async def test_given_a_caller_not_in_the_file_when_ringing_then_no_reason(db):
    await _seed(db)
    got = await _pop_with_file(db, "0677777777")
    assert got["unhappy"] == [] and got["matches"] == []
