"""AMI transcripts of dialer calls, replayed through the CTI's reader and tracker into the call book.

The transcripts are written as Asterisk sends them on the dialer's path (the events the dialer_live tier
sees with the real Asterisk and SIPp customers): the Originate's Local channel `;1` (Uniqueid = our
ChannelId = the Linkedid) runs `[plateau-dialer-answered]`, its `;2` half dials the trunk, the
UserEvents of that dialplan (AMDResult, DialerAbandon) carry the ChannelId, and app_queue's AgentConnect
names the agent. Replaying does what `CtiService.consume` does: the raw event to the book first, then the
tracker's domain events (the bus) to the book, each at the event's Timestamp; a timer the book asks for
fires once the replay's clock passes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from cti.ami_wire import AmiEvent, AmiReader
from cti.tracker import Tracker
from dialer import leads_model as m
from dialer.engine.call_book import CallBook, Effect, LiveCall, ScheduleTimer

T0 = 1796627415.0  # the transcripts' first Timestamp
STARTED = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
NUMBER = "+33612345678"
TRUNK = "PJSIP/trunk-0000000b"
AGENT = "PJSIP/agent1"


def block(name: str, at: float, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"Event: {name}", "Privilege: call,all", f"Timestamp: {T0 + at:.6f}", "SystemName: plateau"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def snapshot(
    prefix: str, channel: str, uniqueid: str, linkedid: str, context: str = "", exten: str = "s"
) -> list[tuple[str, str]]:
    """A whole channel snapshot, in Asterisk's order (the reader refuses a partial one)."""
    values = {
        "Channel": channel,
        "ChannelState": "6",
        "ChannelStateDesc": "Up",
        "CallerIDNum": "<unknown>",
        "CallerIDName": "<unknown>",
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Language": "en",
        "AccountCode": "",
        "Context": context,
        "Exten": exten,
        "Priority": "1",
        "Uniqueid": uniqueid,
        "Linkedid": linkedid,
    }
    return [(prefix + k, v) for k, v in values.items()]


class Transcript:
    """One dialer call's events, written in the order Asterisk sends them."""

    def __init__(self, channel_id: str = "dial-0001") -> None:
        self.cid = channel_id
        local = f"Local/{NUMBER}@plateau-dialer-dial-00000001"
        self.data = bytearray(b"Asterisk Call Manager/5.0.4\r\n")
        # the Originate's `;1` carries our ChannelId; its `;2` dials the trunk
        self.origin = snapshot("", local + ";1", channel_id, channel_id, "plateau-dialer-answered")
        self.half = snapshot("", local + ";2", "1796627415.2", channel_id, "plateau-dialer-dial", NUMBER)
        self.trunk = snapshot("", TRUNK, "1796627415.3", channel_id, "from-trunk", NUMBER)

    def add(self, name: str, at: float, headers: list[tuple[str, str]]) -> Transcript:
        self.data += block(name, at, headers)
        return self

    def originated(self, at: float = 0.0) -> Transcript:
        return self.add("Newchannel", at, self.origin).add("Newchannel", at, self.half)

    def _dial(self) -> list[tuple[str, str]]:
        return self.half + [("Dest" + k, v) for k, v in self.trunk]

    def dials_trunk(self, at: float) -> Transcript:
        return self.add("DialBegin", at, [*self._dial(), ("DialString", f"{NUMBER}@trunk")])

    def dial_end(self, at: float, status: str) -> Transcript:
        return self.add("DialEnd", at, [*self._dial(), ("DialStatus", status)])

    def user_event(self, at: float, kind: str, **headers: str) -> Transcript:
        body = [("UserEvent", kind), ("ChannelId", self.cid), *headers.items()]
        return self.add("UserEvent", at, [*self.origin, *body])

    def agent_connect(self, at: float) -> Transcript:
        member = snapshot("Dest", f"{AGENT}-0000000c", "1796627415.4", self.cid, "plateau-phones")
        tail = [("Queue", "sales"), ("Interface", AGENT), ("MemberName", "Agent 1"), ("HoldTime", "1")]
        return self.add("AgentConnect", at, [*self.origin, *member, *tail, ("RingTime", "1")])

    def soft_hangup(self, at: float, cause: str) -> Transcript:
        return self.add("SoftHangupRequest", at, [*self.origin, ("Cause", cause)])

    def hangups(self, at: float, cause: int) -> Transcript:
        """The trunk leg first, then the Local halves (the originated `;1` last)."""
        why = [("Cause", str(cause)), ("Cause-txt", "")]
        return (
            self.add("Hangup", at, self.trunk + why)
            .add("Hangup", at, self.half + why)
            .add("Hangup", at, self.origin + why)
        )


def live_call(channel_id: str = "dial-0001", *, amd: bool = True, t0: float = T0, **kw: object) -> LiveCall:
    return LiveCall(
        channel_id=channel_id,
        campaign_id=7,
        campaign_name="spring",
        script=None,
        lead_id=42,
        lead_status=m.LeadStatus.NEW,
        lead_fields={},
        e164=NUMBER,
        started_at=STARTED,
        t0=t0,
        amd=amd,
        **kw,  # type: ignore[arg-type]
    )


@dataclass
class Replay:
    book: CallBook
    effects: list[Effect] = field(default_factory=list)
    now: float = T0
    timers: list[tuple[float, ScheduleTimer]] = field(default_factory=list)

    def _take(self, effects: list[Effect]) -> None:
        self.effects += effects
        self.timers += [(self.now + e.delay_s, e) for e in effects if isinstance(e, ScheduleTimer)]

    def until(self, at: float) -> None:
        """The replay's clock moves to `at`: timers due by then fire, in order."""
        while self.timers and min(t for t, _ in self.timers) <= at:
            due, timer = min(self.timers, key=lambda x: x[0])
            self.timers.remove((due, timer))
            self.now = due
            self._take(self.book.timer_expired(timer.call, due))
        self.now = max(self.now, at)

    def of(self, kind: type) -> list:
        return [e for e in self.effects if isinstance(e, kind)]


def replay(data: bytes, book: CallBook, tracker: Tracker | None = None, settle: float = 5.0) -> Replay:
    """Feed the transcript as the CTI service does, then let `settle` seconds pass."""
    tracker = tracker or Tracker()
    out = Replay(book)
    for msg in AmiReader().feed(bytes(data)):
        if not isinstance(msg, AmiEvent):
            continue
        out.until(msg.ts)
        out._take(book.on_ami(msg, out.now))
        for domain_event in tracker.feed(msg):
            out._take(book.on_bus(domain_event, out.now))
    out.until(out.now + settle)
    return out
