"""Mid-call events: hold (the phone's or Plateau's), hang-up requests, and transfers."""

from __future__ import annotations

from cti.ami_wire import AmiEvent
from cti.events import (
    CallHeld,
    CallTransferred,
    DomainEvent,
    endpoint_of,
)
from cti.tracking.core import TrackerCore
from cti.tracking.state import (
    BUSY_CAUSES,
    SOFTHANGUP_SHUTDOWN,
)


class MidCallEvents(TrackerCore):
    """Hold, Unhold, HangupRequest, SoftHangupRequest, UserEvent, BridgeEnter and the transfers."""

    def _on_Hold(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is not None and call.hold_since is None and call.answered_at is not None:
            call.hold_since = ev.ts
            out.append(CallHeld(call.linkedid, True, ev.ts))

    def _on_Unhold(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is not None and call.hold_since is not None:
            call.hold_s += ev.ts - call.hold_since
            call.hold_since = None
            out.append(CallHeld(call.linkedid, False, ev.ts))

    def _on_HangupRequest(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        # app_queue reports a phone that answered 486 as NOANSWER; the request's cause tells the truth
        call = self._call_of(ev.headers)
        if call is not None and ev.get("Uniqueid") in call.ringing and ev.get("Cause") in BUSY_CAUSES:
            call.busy_legs.add(ev.get("Uniqueid"))

    def _on_SoftHangupRequest(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is not None and ev.get("Cause") == SOFTHANGUP_SHUTDOWN:
            call.cut_by_shutdown = True

    def _on_UserEvent(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        if ev.get("UserEvent") != "PlateauHold":
            return
        call = self._call_of(ev.headers)
        if call is not None and call.hold_since is None:
            call.hold_since, call.plateau_hold = ev.ts, True
            out.append(CallHeld(call.linkedid, True, ev.ts))

    def _on_BridgeEnter(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is not None and call.plateau_hold and ev.get("BridgeNumChannels") == "2":
            assert call.hold_since is not None
            call.hold_s += ev.ts - call.hold_since
            call.hold_since, call.plateau_hold = None, False
            out.append(CallHeld(call.linkedid, False, ev.ts))

    def _on_BlindTransfer(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers, "Transferee") or self._call_of(ev.headers, "Transferer")
        if call is None or ev.get("Result") not in ("Success", ""):
            return
        target = ev.get("Extension")
        call.transfers.append(f"blind:{target}")
        by = endpoint_of(ev.get("TransfererChannel"))
        out.append(CallTransferred(call.linkedid, "blind", by if self._is_agent(by) else None, target, ev.ts))

    def _on_AttendedTransfer(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers, "OrigTransferer")
        if call is None or ev.get("Result") not in ("Success", ""):
            return
        target = ev.get("TransferTargetExten") or endpoint_of(ev.get("TransferTargetChannel"))
        call.transfers.append(f"attended:{target}")
        by = endpoint_of(ev.get("OrigTransfererChannel"))
        out.append(
            CallTransferred(call.linkedid, "attended", by if self._is_agent(by) else None, target, ev.ts)
        )
        if call.hold_since is not None:  # the transferee leaves music on hold without an Unhold event
            call.hold_s += ev.ts - call.hold_since
            call.hold_since = None
            out.append(CallHeld(call.linkedid, False, ev.ts))
        second = self.calls.get(ev.get("SecondTransfererLinkedid"))
        if second is not None and second is not call:  # a consultation made as a separate call merges in
            self.calls.pop(second.linkedid, None)
            self._ended[second.linkedid] = None
            call.legs |= second.legs
        agent = self.agents.get(by)
        if agent is not None and agent.linkedid == call.linkedid:
            self._release(agent, call, ev.ts, out)
