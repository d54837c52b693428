"""Placing one call: claimed in the call book, written to `dialer_calls`, then sent as an AMI Originate."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from cti.ami import AmiError, AmiUnavailable
from cti.phones import AUTO_ANSWER
from dialer import leads_model as m
from dialer.engine.call_book import ForgetCall, LiveCall
from dialer.engine.state import (
    AGENT_CONTEXT,
    AGENT_PICKUP_S,
    ANSWERED_CONTEXT,
    DIAL_CONTEXT,
    CampaignLoop,
    EngineState,
    log,
)
from dialer.messages import message_language, spoken_number
from dialer.models import DialerCall


class Originator(EngineState):
    async def _originate(
        self,
        campaign: dict[str, Any],
        lead: m.Lead,
        e164: str,
        now: datetime,
        *,
        loop: CampaignLoop | None,
        for_agent: str | None = None,
    ) -> LiveCall | None:
        """Place one call: the customer through the queue, or (`for_agent`) the agent's phone first.

        The call is claimed in memory before any await and written to `dialer_calls` before the action
        leaves, so neither a concurrent tick nor a restarted engine dials the lead again."""
        channel_id = f"dial-{uuid.uuid4().hex}"
        call = LiveCall(
            channel_id=channel_id,
            campaign_id=campaign["id"],
            campaign_name=campaign["name"],
            script=campaign["script"],
            lead_id=lead.id,
            lead_status=lead.status,
            lead_fields=dict(lead.fields),
            e164=e164,
            started_at=now,
            t0=time.monotonic(),
            amd=bool(campaign["amd"]) and for_agent is None,
            for_agent=for_agent,
        )
        # recorded before the action leaves: its events may arrive before Originate's response
        self.book.add(call)
        try:
            async with self.db.session() as s:
                s.add(
                    DialerCall(
                        channel_id=channel_id,
                        campaign_id=call.campaign_id,
                        lead_id=lead.id,
                        e164=e164,
                        lead_status=lead.status.value,
                        for_agent=for_agent,
                        started_at=now,
                    )
                )
                await s.commit()
        except Exception:
            log.exception("dialer: could not record the call to lead %s; not dialled", lead.id)
            self._release(call)
            return None
        if (loop is not None and not loop.active) or not self._pbx_up():
            await self._forget(call)  # paused, stopped or cut while the row was written: not one more call
            return None
        if loop is not None:
            loop.originated += 1
        try:
            if for_agent is None:
                await self.cti.link.originate(
                    channel=f"Local/{e164}@{DIAL_CONTEXT}/n",
                    context=ANSWERED_CONTEXT,
                    exten="s",
                    channel_id=channel_id,
                    caller_id=f"<{campaign['caller_id']}>" if campaign["caller_id"] else None,
                    variables=self._variables(campaign, call),
                    timeout_ms=(self.ring_s + 10) * 1000,
                )
            else:
                await self.cti.link.originate(
                    channel=for_agent,
                    context=AGENT_CONTEXT,
                    exten=e164,
                    channel_id=channel_id,
                    caller_id=f"<{e164}>",  # the agent's phone shows whom it is about to call
                    variables={
                        "PLATEAU_CALLER_ID": campaign["caller_id"] or "",
                        "PLATEAU_CHANNEL_ID": channel_id,
                        "PLATEAU_RING_S": str(self.ring_s),
                        "PLATEAU_NUMBER": e164,
                        **AUTO_ANSWER,  # the agent chose this lead: their browser phone takes the ring
                    },
                    timeout_ms=AGENT_PICKUP_S * 1000,
                )
        except AmiUnavailable:
            self.book.originate_lost(call)  # never resent
        except AmiError as exc:
            effects = self.book.originate_refused(call, str(exc), time.monotonic())
            if any(isinstance(e, ForgetCall) for e in effects):
                log.info("dialer: originate to lead %s refused, Asterisk is shutting down", lead.id)
                self._pbx_stopping_at = self.cti.link.stats.connects
                await self._forget(call)
                return None
            log.warning("dialer: originate to lead %s refused: %s", lead.id, exc)
            self._apply(effects)
        return call

    def _variables(self, campaign: dict[str, Any], call: LiveCall) -> dict[str, str]:
        """Channel variables of `[plateau-dialer-answered]`; every value is from a closed alphabet."""
        return {
            "PLATEAU_QUEUE": campaign["queue"],
            "PLATEAU_AMD": "1" if campaign["amd"] else "0",
            "PLATEAU_ABANDON_S": str(campaign["abandon_s"]),
            "PLATEAU_CHANNEL_ID": call.channel_id,
            "PLATEAU_RING_S": str(self.ring_s),
            "PLATEAU_NUMBER": call.e164,
            "PLATEAU_MACHINE_ACTION": campaign["machine_action"],
            "PLATEAU_CALLBACK_DIGITS": spoken_number(campaign["callback_number"], call.e164),
            "PLATEAU_MACHINE_SOUND": campaign["machine_sound"],
            "PLATEAU_LANG": message_language(call.e164),
            # the campaign's recording (app/recordings.py): no announcement unless the campaign names one,
            # since it would play before the agent is connected and count against the abandon time
            "PLATEAU_REC_POLICY": campaign["recording"],
            "PLATEAU_REC_SOUND": campaign["recording_sound"],
        }
