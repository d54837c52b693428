"""Calls the history does not hold yet, as KPI facts (app/kpi.py), so that the wallboard's counters tell
the truth while calls are in progress. Pure (`live_call_facts`): the tracker's state and the recently ended
records in, facts out; `service_live_facts` reads them off the running CTI service and the clock.

A call in progress is offered once it has entered a queue and answered once an agent answered; an ended call
is counted from its record exactly as its history row will be (`app.call_history.call_row`), until the row
is written; `app.reporting.with_live` then counts the row instead (one call, one fact, by Linkedid).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import SimpleNamespace

from app import kpi
from app.call_history import call_row
from app.reporting import fact_of_row
from cti.events import CallRecord, Direction
from cti.service import CtiService
from cti.tracker import Tracker

UserIdOf = Callable[[str | None], int | None]


def record_fact(rec: CallRecord, agent_id: int | None) -> kpi.CallFact:
    """An ended call's fact: the one its history row will give."""
    return fact_of_row(SimpleNamespace(**call_row(rec, agent_id, None, None)))


def live_call_facts(
    tracker: Tracker, ended: Iterable[CallRecord], now: float, user_id: UserIdOf
) -> list[kpi.CallFact]:
    """Inbound queue calls in progress (as of `now`) and the ended ones given, as KPI facts."""
    out = [
        record_fact(rec, user_id(rec.agent))
        for rec in ended
        if rec.direction is Direction.inbound and rec.queue
    ]
    for call in list(tracker.calls.values()):
        if call.direction is not Direction.inbound or call.queue is None:
            continue
        out.append(
            kpi.CallFact(
                offered_at=datetime.fromtimestamp(call.offered_at, UTC),
                answered_at=datetime.fromtimestamp(call.answered_at, UTC) if call.answered_at else None,
                wait_s=tracker.wait_of(call.linkedid, now),
                queue=call.queue,
                agent_id=user_id(call.first_agent),
                linkedid=call.linkedid,
            )
        )
    return out


def service_live_facts(service: CtiService, now: float | None = None) -> list[kpi.CallFact]:
    """Inbound queue calls the history may not hold yet, as KPI facts: those in progress (offered once
    queued, answered once an agent answered) and those ended in the last few minutes. Merged with the
    history by `app.reporting.with_live`, which counts a written call once, as its row."""
    now = time.time() if now is None else now
    return live_call_facts(service.tracker, service.recently_ended(now), now, service.user_id)
