"""`DialerService.attempt_written`: a caller awaits the attempt of a dialer call instead of polling."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.cti_wiring import build_cti
from app.ws_hub import Hub
from core.db import Database
from core.dialer_tables import CallList, Campaign, Lead, LeadAttempt
from core.settings import Settings
from cti.ami_wire import AmiEvent
from dialer.engine import DialerService, LiveCall
from dialer.leads_model import LeadStatus

pytestmark = pytest.mark.db
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def _service(db: Database) -> tuple[DialerService, LiveCall]:
    async with db.session() as s:
        cl = CallList(name="waited list")
        s.add(cl)
        await s.flush()
        lead = Lead(list_id=cl.id, status="new")
        c = Campaign(name="waited", rule_set="UK-Ofcom")
        s.add_all([lead, c])
        await s.commit()
        cid, lead_id = c.id, lead.id
    settings = Settings(database_url=db.url, secret_key="k", ami_enabled=False)
    service = DialerService(build_cti(settings, db, Hub()), db, clock=lambda: T0)
    call = LiveCall(
        channel_id="dial-waited",
        campaign_id=cid,
        campaign_name="waited",
        script=None,
        lead_id=lead_id,
        lead_status=LeadStatus.NEW,
        lead_fields={},
        e164="+33611000001",
        started_at=T0,
        t0=time.monotonic() - 10,
    )
    service.book.add(call)
    return service, call


async def test_given_no_such_call_in_flight_when_awaited_then_it_is_written_already(db: Database) -> None:
    service, _ = await _service(db)

    assert await service.attempt_written("dial-unknown", timeout=5) is True


async def test_given_a_call_in_flight_when_it_ends_then_the_waiter_wakes_once_its_attempt_is_written(
    db: Database,
) -> None:
    service, call = await _service(db)
    waiter = asyncio.create_task(service.attempt_written(call.channel_id, timeout=10))
    await asyncio.sleep(0)  # the waiter is waiting

    for name, headers in (
        ("DialEnd", {"DestChannel": "PJSIP/trunk-01", "DialStatus": "BUSY"}),
        ("Hangup", {"Channel": "PJSIP/trunk-01", "Cause": "17"}),
        ("Hangup", {"Uniqueid": call.channel_id, "Cause": "17"}),
    ):
        service.on_ami(AmiEvent(name, {"Linkedid": call.channel_id, **headers}))

    assert await waiter is True
    async with db.session() as s:
        results = list(await s.scalars(select(LeadAttempt.result).where(LeadAttempt.lead_id == call.lead_id)))
    assert results == ["busy"]
    assert call.channel_id not in service.calls


async def test_given_a_call_still_up_when_the_wait_runs_out_then_it_says_not_written(db: Database) -> None:
    service, call = await _service(db)

    assert await service.attempt_written(call.channel_id, timeout=0.05) is False
    assert call.channel_id in service.calls
