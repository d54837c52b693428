"""Preview: the ready agent sees a lead reserved for them, then dials it (their phone first) or skips it."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from core.dialer_tables import Campaign, CampaignState, DialMode
from core.models import Queue
from cti.events import AgentState
from cti.numbers import try_parse
from dialer import leads_model as m
from dialer.compliance import check
from dialer.engine.facts import campaign_facts, lead_name, lookback, previewing
from dialer.engine.state import PREVIEW_HOLD_S, PREVIEW_SKIP_S, EngineState, PreviewError, Reservation
from dialer.store import dnc_numbers, load_history, load_lead, rule_set_named


class Preview(EngineState):
    def _ready_agent(self, interface: str) -> Any:
        agent = self.cti.tracker.agents.get(interface)
        return agent if agent is not None and agent.state is AgentState.ready else None

    def _expire_reservations(self) -> None:
        mono = time.monotonic()
        for lead_id in [k for k, r in self.reservations.items() if r.until <= mono]:
            del self.reservations[lead_id]
        for key in [k for k, until in self._skipped.items() if until <= mono]:
            del self._skipped[key]

    async def preview_next(self, user_id: int, interface: str) -> dict[str, Any] | None:
        """The lead this ready agent should see next, reserved for them (the one they already hold, if
        any): due callbacks first, theirs before anyone's; None when there is nothing to preview."""
        self._expire_reservations()
        agent = self._ready_agent(interface)
        if agent is None:
            return None
        now = self.clock()
        async with self.db.session() as s:
            held = next((r for r in self.reservations.values() if r.user_id == user_id), None)
            if held is not None:
                c = await s.get(Campaign, held.campaign_id)
                lead = await load_lead(s, held.lead_id)
                if c is not None and lead is not None and previewing(c):
                    held.until = time.monotonic() + PREVIEW_HOLD_S
                    return self._preview_view(c, lead, held)
                self.reservations.pop(held.lead_id, None)
            campaigns = await s.execute(
                select(Campaign, Queue.name)
                .join(Queue, Queue.id == Campaign.queue_id)
                .where(Campaign.state == CampaignState.running, Campaign.dial_mode == DialMode.preview)
                .order_by(Campaign.id)
            )
            for c, queue in campaigns.all():
                if queue not in agent.queues:
                    continue
                rs = await rule_set_named(s, c.rule_set)
                if rs is None:
                    continue
                skipped = {lead for (user, lead) in self._skipped if user == user_id}
                found = await self._candidates(s, c, rs, now, 5, {user_id}, exclude=skipped, guaranteed=True)
                # awaits above: another agent may have reserved one of them meanwhile
                sel = next((x for x in found if x.lead.id not in self.reservations), None)
                if sel is None or sel.lead.id in self.busy_leads:
                    continue
                held = Reservation(
                    sel.lead.id, c.id, user_id, sel.number.e164, time.monotonic() + PREVIEW_HOLD_S
                )
                self.reservations[sel.lead.id] = held
                return self._preview_view(c, sel.lead, held)
        return None

    def _preview_view(self, c: Campaign, lead: m.Lead, held: Reservation) -> dict[str, Any]:
        fields = dict(lead.fields)
        parsed = try_parse(held.e164, self.cti.settings.default_region)
        if parsed is None:
            display = held.e164
        elif parsed.region == self.cti.settings.default_region:
            display = parsed.national()
        else:
            display = parsed.international()
        callback = lead.callback if lead.status is m.LeadStatus.CALLBACK else None
        return {
            "lead_id": lead.id,
            "campaign": {"id": c.id, "name": c.name, "script": c.script},
            "name": lead_name(fields),
            "number": held.e164,
            "number_display": display,
            "fields": fields,
            "attempts": lead.attempts,
            "callback": None
            if callback is None
            else {"due_at": callback.at.isoformat(), "agent_only": callback.agent_id is not None},
            "reserved_for_s": round(max(0.0, held.until - time.monotonic())),
        }

    async def preview_dial(self, user_id: int, interface: str, lead_id: int) -> str:
        """Dial the lead the agent holds, agent's phone first. The rules are checked again at the click:
        the window may have closed, a cap been reached or the number gone on a do-not-call list since
        it was shown. Returns the call's ChannelId (its Linkedid)."""
        self._expire_reservations()
        held = self.reservations.get(lead_id)
        if held is None or held.user_id != user_id:
            raise PreviewError(
                409, "this lead is not held for you (expired, skipped or dialled): ask for the next"
            )
        if self._ready_agent(interface) is None:
            raise PreviewError(409, "be ready before dialling")
        if not self.cti.unit_of(interface).ready:  # the agent's phone's server
            raise PreviewError(503, "the PBX is unavailable")
        now = self.clock()
        async with self.db.session() as s:
            c = await s.get(Campaign, held.campaign_id)
            lead = await load_lead(s, lead_id)
            if c is None or lead is None or not previewing(c):
                self.reservations.pop(lead_id, None)
                raise PreviewError(409, "the campaign is not running in preview any more")
            rs = await rule_set_named(s, c.rule_set)
            queue = await s.scalar(select(Queue.name).where(Queue.id == c.queue_id))
            number = next((n for n in lead.numbers if n.e164 == held.e164), None)
            if rs is None or queue is None or number is None:
                self.reservations.pop(lead_id, None)
                raise PreviewError(409, "the campaign has no rule set or queue, or the number left the lead")
            reasons = []
            if lead.status not in m.DIALABLE_STATUSES:
                reasons.append(f"lead {lead.status.value}")
            if await dnc_numbers(s, [number.e164], c.id):
                reasons.append("do_not_call")
            history = await load_history(s, [lead], since=now - lookback(rs))
            verdict = check(lead, number, history, rs, now, agent_guaranteed=True, find_next=False)
            reasons.extend(r.value for r in verdict.reasons)
            if reasons:
                self.reservations.pop(lead_id, None)
                raise PreviewError(409, "not dialable now: " + ", ".join(reasons))
            campaign = campaign_facts(c, rs, queue)
        if self.reservations.get(lead_id) is not held:
            raise PreviewError(409, "this lead is not held for you any more")
        del self.reservations[lead_id]
        call = await self._originate(
            campaign, lead, number.e164, now, loop=self.loops.get(c.id), for_agent=interface
        )
        if call is None:
            raise PreviewError(503, "the call could not be placed")
        return call.channel_id

    def preview_skip(self, user_id: int, lead_id: int) -> bool:
        """Give the lead back; the same agent is not shown it again for a while. False: not theirs."""
        held = self.reservations.get(lead_id)
        if held is None or held.user_id != user_id:
            return False
        del self.reservations[lead_id]
        self._skipped[(user_id, lead_id)] = time.monotonic() + PREVIEW_SKIP_S
        return True
