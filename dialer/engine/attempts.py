"""Events in, attempts out: feeds the call book and carries out its effects (notes, statistics, timers,
attempt writes); adopts the calls a previous run left in flight.

Each attempt is written once, when the call is over (`dialer.store.record_attempt`), and updates its lead
from the campaign's retry rules, in the transaction that drops the call's `dialer_calls` row."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from core.dialer_tables import Callback, CallbackStatus, Campaign, DialerCall, Lead, LeadAttempt
from cti.ami_wire import AmiEvent
from dialer import leads_model as m
from dialer.engine.call_book import (
    DialResolved,
    Effect,
    ForgetCall,
    LiveCall,
    NoteCall,
    ScheduleTimer,
    WakeQueues,
    WrapMeasured,
    WriteAttempt,
    attempt_of,
)
from dialer.engine.facts import aware
from dialer.engine.state import EngineState, log
from dialer.outcomes import next_for_lead, retry_rules
from dialer.store import record_attempt, rule_set_named


class Attempts(EngineState):
    # -- events in -----------------------------------------------------------------------------------------
    def on_ami(self, ev: AmiEvent) -> None:
        """Raw AMI events (from CtiService.consume), before the tracker. No I/O here."""
        self._apply(self.book.on_ami(ev, time.monotonic()))

    def on_event(self, event: Any) -> None:
        """Domain events from the CTI bus."""
        self._apply(self.book.on_bus(event, time.monotonic()))

    def _on_timer(self, call: LiveCall) -> None:
        self._apply(self.book.timer_expired(call, time.monotonic()))

    def _sweep(self) -> None:
        """Close calls Asterisk forgot: lost with the link (restart), or never heard of again."""
        tracker = self.cti.tracker
        carried = {
            cid: (self._agent_on(cid) if call.recovered else None)
            for cid, call in self.book.calls.items()
            if cid in tracker.calls
        }
        units = self.cti.units
        if len(units) < 2:
            self._apply(self.book.sweep(time.monotonic(), self.cti.link.ready, carried, self.ring_s))
            return
        # several servers: a call is judged only by its own server's link (maybe run by another node)
        on_link = lambda cid: self.cti.link_of_call(cid).ready  # noqa: E731
        ready = any(u.ready for u in units)
        self._apply(self.book.sweep(time.monotonic(), ready, carried, self.ring_s, on_link))

    def _agent_on(self, linkedid: str) -> str | None:
        """The agent endpoint on one of the tracked call's legs, if any."""
        tracker = self.cti.tracker
        for uid in tracker.calls[linkedid].legs:
            leg = tracker.legs.get(uid)
            if leg is not None and leg.endpoint in tracker.agents:
                return leg.endpoint
        return None

    # -- effects out ---------------------------------------------------------------------------------------
    def _apply(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, NoteCall):
                self._note(e.channel_id, dict(e.values))
            elif isinstance(e, DialResolved):
                loop = self.loops.get(e.campaign_id)
                if loop is not None:
                    loop.stats.dial_resolved(e.live, e.delay_s, answered=e.answered)
            elif isinstance(e, WrapMeasured):
                loop = self.loops.get(e.campaign_id)
                if loop is not None:
                    loop.stats.call_finished(e.talk_s, e.wrap_s)
            elif isinstance(e, WakeQueues):
                for loop in self.loops.values():
                    if loop.queue is None or loop.queue in e.queues:
                        loop.wake.set()
            elif isinstance(e, ScheduleTimer):
                asyncio.get_running_loop().call_later(e.delay_s, self._on_timer, e.call)
            elif isinstance(e, WriteAttempt):
                self._spawn(self._write(e.call))
            elif isinstance(e, ForgetCall):
                self._spawn(self._forget(e.call))

    async def attempt_written(self, linkedid: str, timeout: float) -> bool:
        """Wait until the call's attempt is written (or given up): True at once for a call not in flight,
        False when it is still in flight after `timeout` seconds."""
        if linkedid not in self.book.calls:
            return True
        done = self._written.setdefault(linkedid, asyncio.Event())
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            return linkedid not in self.book.calls
        return True

    # -- the attempt ---------------------------------------------------------------------------------------
    async def _write(self, call: LiveCall) -> None:
        if call.for_agent and not call.dialled:
            await self._forget(call)  # the agent's phone never picked up: nobody was dialled
            return
        agent_id = None
        if call.agent:
            info = self.cti.directory.get(call.agent)
            agent_id = info.user_id if info else None
        attempt, ended = attempt_of(call, time.monotonic(), agent_id)
        result = attempt.result
        try:
            async with self.db.session() as s:
                same_before = int(
                    await s.scalar(
                        select(func.count())
                        .select_from(LeadAttempt)
                        .where(LeadAttempt.lead_id == call.lead_id, LeadAttempt.result == result.value)
                    )
                    or 0
                )
                c = await s.get(Campaign, call.campaign_id)
                rs = await rule_set_named(s, c.rule_set) if c is not None else None
                await record_attempt(s, attempt, ended_at=ended)
                upd = next_for_lead(
                    result,
                    ended_at=ended,
                    rules=retry_rules(c.retry_rules if c is not None else None),
                    same_result_before=same_before,
                    current=call.lead_status,
                    drop_lockout_hours=rs.drop_lockout_hours if rs is not None else 0,
                )
                await s.execute(
                    update(Lead)
                    .where(Lead.id == call.lead_id)
                    .values(status=upd.status.value, next_attempt_at=upd.next_attempt_at)
                )
                if upd.callback_done:
                    await s.execute(
                        update(Callback)
                        .where(Callback.lead_id == call.lead_id, Callback.status == CallbackStatus.pending)
                        .values(status=CallbackStatus.done, closed_at=ended)
                    )
                # in the attempt's transaction: a restarted engine adopts the call, or finds it written
                await s.execute(delete(DialerCall).where(DialerCall.channel_id == call.channel_id))
                await s.commit()
            self.attempts_written += 1
        except Exception:
            log.exception("dialer: could not write the attempt of lead %s (%s)", call.lead_id, result)
        finally:
            self._release(call)
            loop = self.loops.get(call.campaign_id)
            if loop is not None:
                loop.abandon_loaded_at = -math.inf  # reload the abandon rate with this attempt

    async def _forget(self, call: LiveCall) -> None:
        """A call that dialled nobody: no attempt, its row goes, its lead is free again."""
        try:
            async with self.db.session() as s:
                await s.execute(delete(DialerCall).where(DialerCall.channel_id == call.channel_id))
                await s.commit()
        except Exception:
            log.exception("dialer: could not drop the row of call %s", call.channel_id)
        finally:
            self._release(call)

    def _note(self, channel_id: str, values: dict[str, Any]) -> None:
        """What a restarted engine must know of a call (answered, agent): kept on its row, off the event
        path (a lost note only makes an adopted call's times less precise)."""

        async def write() -> None:
            try:
                async with self.db.session() as s:
                    await s.execute(
                        update(DialerCall).where(DialerCall.channel_id == channel_id).values(**values)
                    )
                    await s.commit()
            except Exception:
                log.warning("dialer: could not note %s on call %s", sorted(values), channel_id)

        self._spawn(write())

    # -- restart recovery ----------------------------------------------------------------------------------
    async def _recover(self, campaign_id: int | None = None) -> None:
        """Adopt the calls a previous run (or another node, before this one took `campaign:<id>`) left in
        flight: they keep their lead busy, their events are followed again, and the sweep closes those
        Asterisk no longer carries. Nothing is re-dialled."""
        query = (
            select(DialerCall, Campaign.name, Campaign.script, Lead.fields)
            .join(Campaign, Campaign.id == DialerCall.campaign_id)
            .join(Lead, Lead.id == DialerCall.lead_id)
        )
        if campaign_id is not None:
            query = query.where(DialerCall.campaign_id == campaign_id)
        async with self.db.session() as s:
            rows = [r for r in (await s.execute(query)).all() if r[0].channel_id not in self.book.calls]
        now, mono = self.clock(), time.monotonic()
        for row, name, script, fields in rows:
            started = aware(row.started_at)
            assert started is not None
            t0 = mono - max(0.0, (now - started).total_seconds())

            def mono_of(at: datetime | None, t0: float = t0, started: datetime = started) -> float | None:
                at = aware(at)
                return None if at is None else t0 + max(0.0, (at - started).total_seconds())

            self.book.add(
                LiveCall(
                    channel_id=row.channel_id,
                    campaign_id=row.campaign_id,
                    campaign_name=name,
                    script=script,
                    lead_id=row.lead_id,
                    lead_status=m.LeadStatus(row.lead_status),
                    lead_fields={k: str(v) for k, v in (fields or {}).items()},
                    e164=row.e164,
                    started_at=started,
                    t0=t0,
                    answered_t=mono_of(row.answered_at),
                    agent_t=mono_of(row.agent_connected_at),
                    agent=row.agent,
                    amd_status=row.amd_status,
                    for_agent=row.for_agent,
                    dialled=True,  # unknown: counted as an attempt rather than lost
                    recovered=True,
                    resolved=True,  # its dial delay is unknown: kept out of the pacing statistics
                )
            )
        if rows:
            log.info("dialer: adopted %d call(s) in flight from the previous run", len(rows))

    # kept for the write-path tests and callers that finish a call by hand
    def _finish(self, call: LiveCall) -> None:
        self._apply(self.book.finish(call, time.monotonic()))
