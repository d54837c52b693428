"""Placing one call: claimed in the call book, written to `dialer_calls`, then sent as an AMI Originate."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from core.dialer_tables import DialerCall
from cti.ami_wire import AmiError, AmiUnavailable
from dialer import leads_model as m
from dialer.engine.actions import originate_for
from dialer.engine.call_book import ForgetCall, LiveCall
from dialer.engine.ports import AmiLinkPort
from dialer.engine.state import CampaignLoop, EngineState, campaign_lease, log


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
        link: AmiLinkPort | None = None,
    ) -> LiveCall | None:
        """Place one call: the customer through the queue, or (`for_agent`) the agent's phone first; on
        `link`'s server (default: the agent's, else the first; the loops spread calls over the servers).

        The call is claimed in memory before any await and written to `dialer_calls` before the action
        leaves, so neither a concurrent tick nor a restarted engine dials the lead again."""
        lease = campaign_lease(campaign["id"])
        token = self.leases.token(lease)
        if token is None:
            log.info("dialer: campaign %s is another node's; lead %s not dialled", campaign["id"], lead.id)
            return None
        if link is None:
            link = self.cti.unit_of(for_agent).link if for_agent is not None else self.cti.link
        channel_id = f"{link.id_prefix}dial-{uuid.uuid4().hex}"  # with several servers, the server's name too
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
                        lease_token=token,
                    )
                )
                await s.commit()
        except Exception:
            log.exception("dialer: could not record the call to lead %s; not dialled", lead.id)
            self._release(call)
            return None
        if (loop is not None and not loop.active) or not self._pbx_up() or self.leases.token(lease) != token:
            # paused, stopped, cut or the campaign's lease lost while the row was written: not one more call
            await self._forget(call)
            return None
        if loop is not None:
            loop.originated += 1
        action = originate_for(call, campaign, self.ring_s)
        try:
            await link.originate(
                channel=action.channel,
                context=action.context,
                exten=action.exten,
                channel_id=action.channel_id,
                caller_id=action.caller_id,
                variables=action.variables,
                timeout_ms=action.timeout_ms,
            )
        except AmiUnavailable:
            self.book.originate_lost(call)  # never resent
        except AmiError as exc:
            effects = self.book.originate_refused(call, str(exc), time.monotonic())
            if any(isinstance(e, ForgetCall) for e in effects):
                log.info("dialer: originate to lead %s refused, Asterisk is shutting down", lead.id)
                if link is self.cti.link:
                    self._pbx_stopping_at = link.stats.connects
                await self._forget(call)
                return None
            log.warning("dialer: originate to lead %s refused: %s", lead.id, exc)
            self._apply(effects)
        return call
