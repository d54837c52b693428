"""Channels coming and going: Newchannel adds a leg, Hangup removes it and ends the call with its last leg."""

from __future__ import annotations

from cti.ami_wire import AmiEvent
from cti.events import (
    AgentRingEnded,
    DomainEvent,
    HeldPartyLeft,
)
from cti.tracking.core import TrackerCore
from cti.tracking.state import (
    CHANNEL_RINGING,
)


class ChannelEvents(TrackerCore):
    """Newchannel and Hangup."""

    def _on_Newchannel(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        self._add_leg(self._leg_from(ev.headers, "", ev.ts), out)

    def _on_Hangup(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        leg = self.legs.pop(ev.get("Uniqueid"), None)
        call = self._call_of(ev.headers)
        if leg is None or call is None:
            return
        call.legs.discard(leg.uniqueid)
        try:
            cause = int(ev.get("Cause", "0"))
        except ValueError:
            cause = 0
        if leg.uniqueid in call.ringing:  # rang and hung up without a DialEnd
            agent = call.ringing.pop(leg.uniqueid)
            out.append(AgentRingEnded(call.linkedid, agent, "cancel", ev.ts))
            self._refresh_agent(agent, ev.ts, out)
        if leg.endpoint in self.trunks or call.hangup_cause is None:
            call.hangup_cause = cause
        if (
            leg.uniqueid == call.origin_leg
            and call.origin_answered_at is None
            and call.dial_status is None
            and cause == 0
            and ev.get("ChannelState") == CHANNEL_RINGING
        ):
            # an Originate's phone still ringing when its Timeout ran out: Asterisk hangs it up with no
            # cause and no DialEnd (and OriginateResponse's Reason is unreliable with chan_pjsip)
            call.dial_status = "NOANSWER"
        if not call.legs:
            self._end(call, ev.ts, out, None)
        elif call.plateau_hold:
            left = tuple(self.legs[u].channel for u in call.legs if u in self.legs)
            out.append(HeldPartyLeft(call.linkedid, left))
