"""Builders for compliance and lead-selection tables: numbers by place, aware instants, attempts."""

from __future__ import annotations

from datetime import datetime

from dialer.leads_model import Attempt, AttemptResult, Callback, Lead, LeadNumber, LeadStatus

PARIS = "+33612345678"
PARIS_2 = "+33142685300"
CASABLANCA = "+212522123456"
REUNION = "+262692123456"
MARTINIQUE = "+596696123456"
NEW_YORK = "+12125551234"
LONDON = "+442079460000"


def at(iso: str) -> datetime:
    value = datetime.fromisoformat(iso)
    assert value.tzinfo is not None, f"test instants carry their offset: {iso}"
    return value


def lead(
    *numbers: str,
    lead_id: int = 1,
    priority: int = 0,
    attempts: int = 0,
    status: LeadStatus = LeadStatus.NEW,
    consent: bool = False,
    callback: Callback | None = None,
    not_before: datetime | None = None,
) -> Lead:
    return Lead(
        id=lead_id,
        numbers=tuple(LeadNumber.for_e164(n) for n in (numbers or (PARIS,))),
        priority=priority,
        attempts=attempts,
        status=status,
        consent=consent,
        callback=callback,
        not_before=not_before,
    )


def attempt(
    result: AttemptResult,
    started: str,
    number: str = PARIS,
    lead_id: int = 1,
    agent_after_s: float | None = None,
    amd_machine: bool = False,
) -> Attempt:
    """An attempt; live results are answered at the start, with an agent `agent_after_s` later."""
    from datetime import timedelta

    start = at(started)
    answered = start if result not in {AttemptResult.NO_ANSWER, AttemptResult.BUSY} else None
    connected = start + timedelta(seconds=agent_after_s) if agent_after_s is not None else None
    return Attempt(lead_id, number, start, result, answered, connected, amd_machine)
