"""The engine's write path on SQLite and PostgreSQL: one attempt per call, the lead and its callback updated.

The CTI service is the real one, not started (no AMI needed to write what a call produced)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.cti_wiring import build_cti
from app.ws_hub import Hub
from core.db import Database
from core.dialer_tables import Callback, CallbackSource, CallbackStatus, CallList, Campaign, Lead, LeadAttempt
from core.settings import Settings
from dialer.engine import DialerService, LiveCall
from dialer.leads_model import LeadStatus

pytestmark = pytest.mark.db
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def _setup(db: Database, status: str = "new") -> tuple[int, int]:
    async with db.session() as s:
        cl = CallList(name="engine list")
        s.add(cl)
        await s.flush()
        lead = Lead(list_id=cl.id, status=status)
        c = Campaign(
            name="engine", rule_set="UK-Ofcom", retry_rules={"busy": {"delay_minutes": 7, "max_attempts": 1}}
        )
        s.add_all([lead, c])
        await s.flush()
        if status == "callback":
            s.add(
                Callback(
                    number_e164="+33611000001",
                    lead_id=lead.id,
                    campaign_id=c.id,
                    due_at=T0,
                    tz="Europe/Paris",
                    source=CallbackSource.agent,
                )
            )
        await s.commit()
        return c.id, lead.id


def _call(campaign_id: int, lead_id: int, status: LeadStatus = LeadStatus.NEW, **kw: object) -> LiveCall:
    return LiveCall(
        channel_id=f"dial-{time.monotonic_ns()}",
        campaign_id=campaign_id,
        campaign_name="engine",
        script=None,
        lead_id=lead_id,
        lead_status=status,
        lead_fields={},
        e164="+33611000001",
        started_at=T0,
        t0=time.monotonic() - 10,
        **kw,  # type: ignore[arg-type]
    )


def _dialer(db: Database) -> DialerService:
    settings = Settings(database_url=db.url, secret_key="k", ami_enabled=False)
    return DialerService(build_cti(settings, db, Hub()), db, clock=lambda: T0)


async def test_given_two_busy_calls_when_written_then_the_second_exhausts_the_busy_retries(
    db: Database,
) -> None:
    cid, lead_id = await _setup(db)
    dialer = _dialer(db)
    await dialer._write(_call(cid, lead_id, dial_status="BUSY"))
    async with db.session() as s:
        lead = await s.get(Lead, lead_id)
        assert lead is not None
        assert (lead.status, lead.attempts) == ("retry", 1)
        assert (
            T0 + timedelta(minutes=7, seconds=10)
            <= lead.next_attempt_at
            <= T0 + timedelta(minutes=7, seconds=20)
        )
    await dialer._write(_call(cid, lead_id, LeadStatus.RETRY, dial_status="BUSY"))
    async with db.session() as s:
        lead = await s.get(Lead, lead_id)
        assert lead is not None
        assert (lead.status, lead.attempts, lead.next_attempt_at) == ("done", 2, None)
        results = list(await s.scalars(select(LeadAttempt.result).where(LeadAttempt.lead_id == lead_id)))
    assert results == ["busy", "busy"]
    assert dialer.attempts_written == 2 and not dialer.busy_leads


async def test_given_a_dropped_call_when_written_then_the_ofcom_lockout_holds_the_lead_72_hours(
    db: Database,
) -> None:
    cid, lead_id = await _setup(db)
    dialer = _dialer(db)
    t = time.monotonic()
    await dialer._write(_call(cid, lead_id, dial_status="ANSWER", answered_t=t - 8, abandon_event=True))
    async with db.session() as s:
        lead = await s.get(Lead, lead_id)
        (attempt,) = list(await s.scalars(select(LeadAttempt).where(LeadAttempt.lead_id == lead_id)))
    assert lead is not None and lead.status == "retry"
    assert lead.next_attempt_at >= T0 + timedelta(hours=72)
    assert attempt.result == "dropped" and attempt.agent_connected_at is None
    # answered 2 s after the originate, laid on the injected clock
    assert abs((attempt.answered_at - T0).total_seconds() - 2) < 0.5


async def test_given_a_callback_lead_when_a_person_is_reached_then_its_callback_is_done(db: Database) -> None:
    cid, lead_id = await _setup(db, status="callback")
    dialer = _dialer(db)
    t = time.monotonic()
    await dialer._write(
        _call(cid, lead_id, LeadStatus.CALLBACK, dial_status="ANSWER", answered_t=t - 5, agent_t=t - 4.5)
    )
    async with db.session() as s:
        lead = await s.get(Lead, lead_id)
        cb = await s.scalar(select(Callback).where(Callback.lead_id == lead_id))
    assert lead is not None and lead.status == "done"
    assert cb is not None and cb.status is CallbackStatus.done and cb.closed_at is not None
