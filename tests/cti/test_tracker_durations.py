"""The tracker's durations, outcomes and causes on written transcripts with exact timestamps.

Each transcript is the AMI event sequence Asterisk 16 sends for the case (the recorded ones in
tests/fixtures/ami have real, unround timestamps; these have round ones so every second can be asserted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cti.ami_wire import AmiEvent
from cti.events import (
    AgentRingEnded,
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallerId,
    CallHeld,
    CallLeftQueue,
    CallOffered,
    CallQueued,
    CallRecord,
    CallTransferred,
    Direction,
    DomainEvent,
    HeldPartyLeft,
    PhoneRegistration,
    QueueChanged,
    Snapshot,
    WrapUpStarted,
)
from cti.tracker import Tracker

TRUNK = "PJSIP/trunk"
CUSTOMER = "0612345678"


def ev(name: str, ts: float, **headers: object) -> AmiEvent:
    return AmiEvent(name, {k: str(v) for k, v in headers.items()}, float(ts))


@dataclass
class Script:
    """Writes the events of one call (Linkedid L1) and feeds them to a tracker."""

    tracker: Tracker = field(default_factory=Tracker)
    out: list[DomainEvent] = field(default_factory=list)
    linkedid: str = "L1"

    def feed(self, *events: AmiEvent) -> list[DomainEvent]:
        new: list[DomainEvent] = []
        for e in events:
            new.extend(self.tracker.feed(e))
        self.out.extend(new)
        return new

    def leg(self, ts: float, uid: str, channel: str, num: str = "", exten: str = "s") -> list[DomainEvent]:
        return self.feed(
            ev(
                "Newchannel",
                ts,
                Channel=channel,
                Uniqueid=uid,
                Linkedid=self.linkedid,
                CallerIDNum=num,
                CallerIDName="",
                Exten=exten,
                Context="from-trunk",
            )
        )

    def inbound(self, ts: float) -> list[DomainEvent]:
        return self.leg(ts, "u1", f"{TRUNK}-00000001", CUSTOMER, "5551000")

    def join(self, ts: float, queue: str = "support") -> list[DomainEvent]:
        return self.feed(ev("QueueCallerJoin", ts, Linkedid=self.linkedid, Queue=queue, Position=1))

    def member(self, ts: float, agent: int, queue: str = "support", **kw: object) -> list[DomainEvent]:
        headers = {"Queue": queue, "Interface": f"PJSIP/agent{agent}", "Paused": 0, "Status": 1, **kw}
        return self.feed(ev("QueueMemberAdded", ts, **headers))

    def device(self, ts: float, agent: int, state: str) -> list[DomainEvent]:
        return self.feed(ev("DeviceStateChange", ts, Device=f"PJSIP/agent{agent}", State=state))

    def ring(self, ts: float, agent: int, uid: str, queue: str = "support") -> list[DomainEvent]:
        return self.feed(
            ev(
                "AgentCalled",
                ts,
                Linkedid=self.linkedid,
                Queue=queue,
                DestChannel=f"PJSIP/agent{agent}-0000000{agent}",
                DestUniqueid=uid,
                DestLinkedid=self.linkedid,
                DestCallerIDNum=CUSTOMER,
                DestExten="s",
            ),
            ev("DeviceStateChange", ts, Device=f"PJSIP/agent{agent}", State="RINGING"),
        )

    def dial_end(self, ts: float, agent: int, uid: str, status: str) -> list[DomainEvent]:
        return self.feed(
            ev(
                "DialEnd",
                ts,
                Channel=f"{TRUNK}-00000001",
                Linkedid=self.linkedid,
                DestChannel=f"PJSIP/agent{agent}-0000000{agent}",
                DestUniqueid=uid,
                DestLinkedid=self.linkedid,
                DialStatus=status,
            )
        )

    def connect(self, ts: float, agent: int, uid: str, queue: str = "support") -> list[DomainEvent]:
        new = self.dial_end(ts, agent, uid, "ANSWER")
        return new + self.feed(
            ev("QueueCallerLeave", ts, Linkedid=self.linkedid, Queue=queue),
            ev(
                "AgentConnect",
                ts,
                Linkedid=self.linkedid,
                Queue=queue,
                DestChannel=f"PJSIP/agent{agent}-0000000{agent}",
                DestUniqueid=uid,
                Interface=f"PJSIP/agent{agent}",
            ),
            ev("DeviceStateChange", ts, Device=f"PJSIP/agent{agent}", State="INUSE"),
        )

    def hangup(self, ts: float, uid: str, cause: int = 16) -> list[DomainEvent]:
        return self.feed(ev("Hangup", ts, Uniqueid=uid, Linkedid=self.linkedid, Cause=cause))

    def record(self) -> CallRecord:
        (ended,) = [e for e in self.out if isinstance(e, CallEnded)]
        return ended.record


def answered_call(s: Script) -> None:
    """Offered at 100, queued at 101, agent1 rings at 102 and answers at 105."""
    s.member(90, 1)
    s.inbound(100)
    s.join(101)
    s.ring(102, 1, "u2")
    s.connect(105, 1, "u2")


def test_given_an_answered_queue_call_when_it_ends_then_wait_talk_and_cause_are_exact() -> None:
    s = Script()
    answered_call(s)
    s.hangup(120, "u2", 16)
    s.hangup(120.5, "u1", 16)
    r = s.record()
    assert (r.offered_at, r.answered_at, r.ended_at) == (100, 105, 120.5)
    assert (r.wait_s, r.talk_s, r.hold_s) == (4.0, 15.5, 0.0)
    assert (r.outcome, r.queue, r.agent, r.hangup_cause) == ("answered", "support", "PJSIP/agent1", 16)
    assert (r.direction, r.caller.number, r.called_number) == (Direction.inbound, CUSTOMER, "5551000")
    assert r.agents_rung == ("PJSIP/agent1",)


@pytest.mark.parametrize(
    ("holds", "hold_s"),
    [
        ([(110, 114)], 4.0),
        ([(110, 111), (112, 115)], 4.0),
        ([(110, None)], 10.0),  # still held at the hang-up (120): counted up to the end
        ([(105, 120)], 15.0),
    ],
)
def test_given_a_held_call_when_it_ends_then_hold_is_counted_and_taken_off_talk(
    holds: list[tuple[int, int | None]], hold_s: float
) -> None:
    s = Script()
    answered_call(s)
    held = []
    for start, end in holds:
        held += s.feed(ev("Hold", start, Linkedid="L1", Channel=f"{TRUNK}-00000001"))
        if end is not None:
            held += s.feed(ev("Unhold", end, Linkedid="L1", Channel=f"{TRUNK}-00000001"))
    s.hangup(120, "u1")
    s.hangup(120, "u2")
    r = s.record()
    assert r.hold_s == hold_s
    assert r.talk_s == 15.0 - hold_s
    flags = [(e.held, e.at) for e in held if isinstance(e, CallHeld)]
    expected = [x for start, end in holds for x in ((True, start), *(((False, end),) if end else ()))]
    assert flags == expected


def test_given_a_second_hold_while_held_when_unheld_then_hold_counts_from_the_first() -> None:
    s = Script()
    answered_call(s)
    assert [e.at for e in s.feed(ev("Hold", 110, Linkedid="L1")) if isinstance(e, CallHeld)] == [110]
    assert s.feed(ev("Hold", 112, Linkedid="L1")) == [], "already held: no news"
    s.feed(ev("Unhold", 116, Linkedid="L1"))
    assert s.feed(ev("Unhold", 117, Linkedid="L1")) == [], "not held: no news"
    s.hangup(120, "u1")
    s.hangup(120, "u2")
    assert s.record().hold_s == 6.0


def test_given_a_hold_before_the_answer_when_the_call_ends_then_it_is_not_hold_time() -> None:
    s = Script()
    s.inbound(100)
    s.join(101)
    assert s.feed(ev("Hold", 102, Linkedid="L1")) == []
    s.hangup(110, "u1")
    r = s.record()
    assert (r.hold_s, r.talk_s, r.outcome, r.wait_s) == (0.0, None, "abandoned", 9.0)


def test_given_plateaus_own_hold_when_the_call_is_bridged_again_then_hold_stops_at_the_bridge() -> None:
    s = Script()
    answered_call(s)
    s.feed(ev("UserEvent", 108, UserEvent="Other", Linkedid="L1"))
    held = s.feed(ev("UserEvent", 110, UserEvent="PlateauHold", Linkedid="L1"))
    assert [(e.held, e.at) for e in held if isinstance(e, CallHeld)] == [(True, 110)]
    assert s.feed(ev("BridgeEnter", 111, Linkedid="L1", BridgeNumChannels="1")) == []
    back = s.feed(ev("BridgeEnter", 113, Linkedid="L1", BridgeNumChannels="2"))
    assert [(e.held, e.at) for e in back if isinstance(e, CallHeld)] == [(False, 113)]
    s.hangup(120, "u2")
    s.hangup(120, "u1")
    assert s.record().hold_s == 3.0


def test_given_plateaus_hold_when_one_side_hangs_up_then_the_others_channels_are_named() -> None:
    s = Script()
    answered_call(s)
    s.feed(ev("UserEvent", 110, UserEvent="PlateauHold", Linkedid="L1"))
    left = s.hangup(112, "u1")
    assert [e for e in left if isinstance(e, HeldPartyLeft)] == [
        HeldPartyLeft("L1", ("PJSIP/agent1-00000001",))
    ]
    assert not [e for e in left if isinstance(e, CallEnded)]
    s.hangup(113, "u2")
    assert s.record().hold_s == 3.0


@pytest.mark.parametrize(
    ("first", "second", "cause"),
    [
        (("u2", 16), ("u1", 17), 17),  # the trunk's cause wins even when it comes last
        (("u1", 17), ("u2", 16), 17),  # ... and when it comes first
        (("u2", 21), ("u1", 0), 0),
    ],
)
def test_given_both_legs_hang_up_when_the_call_ends_then_the_trunks_cause_is_kept(
    first: tuple[str, int], second: tuple[str, int], cause: int
) -> None:
    s = Script()
    answered_call(s)
    s.hangup(120, *first)
    s.hangup(121, *second)
    assert s.record().hangup_cause == cause


def test_given_an_internal_call_when_legs_hang_up_then_the_first_cause_is_kept() -> None:
    s = Script()
    s.leg(100, "a1", "PJSIP/agent1-00000001")
    s.leg(100, "a2", "PJSIP/agent2-00000002")
    s.hangup(110, "a1", 16)
    s.hangup(110, "a2", 19)
    r = s.record()
    assert (r.direction, r.hangup_cause, r.caller.number, r.called_number) == (
        Direction.internal,
        16,
        None,
        None,
    )


@pytest.mark.parametrize("cause", ["x", ""])
def test_given_a_hangup_cause_that_is_not_a_number_when_read_then_it_is_zero(cause: str) -> None:
    s = Script()
    s.inbound(100)
    s.feed(ev("Hangup", 101, Uniqueid="u1", Linkedid="L1", Cause=cause))
    assert s.record().hangup_cause == 0


def test_given_an_abandon_in_queue_when_the_caller_hangs_up_then_wait_runs_to_the_hang_up() -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    s.join(101)
    s.ring(103, 1, "u2")
    s.feed(ev("QueueCallerAbandon", 109, Linkedid="L1", Queue="support"))
    left = s.feed(ev("QueueCallerLeave", 109, Linkedid="L1", Queue="support"))
    assert [(e.reason, e.wait_s) for e in left if isinstance(e, CallLeftQueue)] == [("abandoned", 8.0)]
    ended = s.hangup(109.25, "u2", 0) + s.hangup(109.5, "u1", 16)
    assert [e.reason for e in ended if isinstance(e, AgentRingEnded)] == ["cancel"]
    r = s.record()
    assert (r.outcome, r.wait_s, r.talk_s, r.answered_at, r.agent) == ("abandoned", 8.0, None, None, None)
    assert r.agents_rung == ("PJSIP/agent1",)
    assert r.hangup_cause == 16


def test_given_a_caller_who_hangs_up_without_a_queue_leave_when_ended_then_abandoned_at_the_hang_up() -> None:
    s = Script()
    s.inbound(100)
    s.join(101)
    s.hangup(107, "u1")
    r = s.record()
    assert (r.outcome, r.wait_s) == ("abandoned", 6.0)
    left = [e for e in s.out if isinstance(e, CallLeftQueue)]
    assert [(e.reason, e.wait_s, e.at) for e in left] == [("abandoned", 6.0, 107)]
    changed = [e for e in s.out if isinstance(e, QueueChanged)]
    assert [(e.waiting, e.oldest_since) for e in changed] == [(1, 101), (0, None)]


def test_given_a_call_that_leaves_the_queue_unanswered_when_it_ends_then_it_is_unanswered() -> None:
    s = Script()
    s.inbound(100)
    s.join(101)
    left = s.feed(ev("QueueCallerLeave", 131, Linkedid="L1", Queue="support"))
    assert [(e.reason, e.wait_s) for e in left if isinstance(e, CallLeftQueue)] == [("left", 30.0)]
    s.hangup(140, "u1")
    assert (s.record().outcome, s.record().wait_s) == ("unanswered", 30.0)


def test_given_an_inbound_call_without_queue_when_rung_and_hung_up_then_missed_else_abandoned() -> None:
    s = Script()
    s.inbound(100)
    s.feed(
        ev(
            "DialBegin",
            101,
            Channel=f"{TRUNK}-00000001",
            Linkedid="L1",
            DestChannel="PJSIP/agent1-00000002",
            DestUniqueid="u2",
            DestLinkedid="L1",
        )
    )
    s.hangup(105, "u2")
    s.hangup(105, "u1")
    r = s.record()
    assert (r.outcome, r.wait_s, r.agents_rung) == ("missed", None, ("PJSIP/agent1",))
    lone = Script()
    lone.inbound(100)
    lone.hangup(101, "u1")
    assert lone.record().outcome == "abandoned"


def test_given_a_ring_no_answer_then_the_next_agent_when_answered_then_wait_runs_to_the_second_answer() -> (
    None
):
    s = Script()
    s.member(90, 1)
    s.member(90, 2)
    s.inbound(100)
    s.join(101)
    s.ring(102, 1, "u2")
    ended = s.dial_end(117, 1, "u2", "NOANSWER")
    assert [(e.agent, e.reason) for e in ended if isinstance(e, AgentRingEnded)] == [
        ("PJSIP/agent1", "noanswer")
    ]
    s.hangup(117, "u2", 19)
    s.device(117, 1, "NOT_INUSE")
    s.ring(118, 2, "u3")
    answered = s.connect(121, 2, "u3")
    assert [(e.agent, e.wait_s) for e in answered if isinstance(e, CallAnswered)] == [("PJSIP/agent2", 20.0)]
    s.hangup(130, "u3")
    s.hangup(130, "u1")
    r = s.record()
    assert (r.agent, r.wait_s, r.talk_s) == ("PJSIP/agent2", 20.0, 9.0)
    assert r.agents_rung == ("PJSIP/agent1", "PJSIP/agent2")
    assert s.tracker.call_of_agent("PJSIP/agent1") is None


@pytest.mark.parametrize(
    ("status", "reason"),
    [("NOANSWER", "noanswer"), ("BUSY", "busy"), ("CANCEL", "cancel"), ("CHANUNAVAIL", "unavailable")],
)
def test_given_a_ring_that_ends_when_dial_end_says_why_then_the_reason_is_reported(
    status: str, reason: str
) -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    s.join(101)
    s.ring(102, 1, "u2")
    assert s.tracker.call_of_agent("PJSIP/agent1") == "L1"
    ended = s.dial_end(104, 1, "u2", status)
    assert [(e.reason, e.at) for e in ended if isinstance(e, AgentRingEnded)] == [(reason, 104)]
    assert s.tracker.call_of_agent("PJSIP/agent1") is None, "the agent is free for the next call"


@pytest.mark.parametrize(("cause", "reason"), [("17", "busy"), ("21", "busy"), ("16", "noanswer")])
def test_given_a_phone_that_refuses_when_app_queue_says_noanswer_then_the_request_cause_decides(
    cause: str, reason: str
) -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    s.join(101)
    s.ring(102, 1, "u2")
    s.feed(ev("HangupRequest", 103, Uniqueid="u2", Linkedid="L1", Cause=cause))
    ended = s.dial_end(103, 1, "u2", "NOANSWER")
    assert [e.reason for e in ended if isinstance(e, AgentRingEnded)] == [reason]


def test_given_a_blind_transfer_when_the_target_answers_then_the_first_agent_keeps_the_record() -> None:
    s = Script()
    answered_call(s)
    s.member(90, 2)
    moved = s.feed(
        ev(
            "BlindTransfer",
            110,
            Result="Success",
            TransfererChannel="PJSIP/agent1-00000001",
            TransfereeLinkedid="L1",
            Extension="7002",
        )
    )
    assert [(e.kind, e.by_agent, e.target) for e in moved if isinstance(e, CallTransferred)] == [
        ("blind", "PJSIP/agent1", "7002")
    ]
    assert s.feed(ev("BlindTransfer", 111, Result="Fail", TransfereeLinkedid="L1", Extension="9")) == []
    s.hangup(110, "u2")
    s.device(110, 1, "NOT_INUSE")
    s.feed(
        ev(
            "DialBegin",
            111,
            Channel=f"{TRUNK}-00000001",
            Linkedid="L1",
            DestChannel="PJSIP/agent2-00000002",
            DestUniqueid="u3",
            DestLinkedid="L1",
        )
    )
    s.dial_end(113, 2, "u3", "ANSWER")
    s.device(113, 2, "INUSE")
    s.hangup(130, "u3")
    s.hangup(130, "u1")
    r = s.record()
    assert (r.agent, r.answered_at, r.talk_s, r.transfers) == ("PJSIP/agent1", 105, 25.0, ("blind:7002",))
    assert r.agents_rung == ("PJSIP/agent1", "PJSIP/agent2")
    (ended,) = [e for e in s.out if isinstance(e, CallEnded)]
    assert ended.agents == ("PJSIP/agent1", "PJSIP/agent2")
    wraps = [(e.agent, e.at) for e in s.out if isinstance(e, WrapUpStarted)]
    assert wraps == [("PJSIP/agent1", 110), ("PJSIP/agent2", 130)], "each agent wraps up their own part"


def test_given_an_attended_transfer_from_hold_when_completed_then_hold_stops_and_the_agent_is_released() -> (
    None
):
    s = Script()
    answered_call(s)
    s.feed(ev("Hold", 110, Linkedid="L1"))
    done = s.feed(
        ev(
            "AttendedTransfer",
            116,
            Result="Success",
            OrigTransfererLinkedid="L1",
            OrigTransfererChannel="PJSIP/agent1-00000001",
            TransferTargetExten="7003",
            SecondTransfererLinkedid="L1",
        )
    )
    assert [(e.kind, e.by_agent, e.target) for e in done if isinstance(e, CallTransferred)] == [
        ("attended", "PJSIP/agent1", "7003")
    ]
    assert [(e.held, e.at) for e in done if isinstance(e, CallHeld)] == [(False, 116)]
    assert [e.agent for e in done if isinstance(e, WrapUpStarted)] == ["PJSIP/agent1"]
    assert s.tracker.call_of_agent("PJSIP/agent1") is None
    s.hangup(130, "u1")
    s.hangup(130, "u2")
    r = s.record()
    assert (r.hold_s, r.talk_s, r.transfers) == (6.0, 19.0, ("attended:7003",))


@pytest.mark.parametrize(
    ("dial_status", "cause", "outcome"),
    [
        ("BUSY", 17, "busy"),
        ("NOANSWER", 16, "no_answer"),
        ("CONGESTION", 34, "congestion"),
        ("CHANUNAVAIL", 0, "failed"),
        ("CANCEL", 16, "cancelled"),
        (None, 17, "busy"),
        (None, 18, "no_answer"),
        (None, 19, "no_answer"),
        (None, 21, "rejected"),
        (None, 34, "congestion"),
        (None, 38, "congestion"),
        (None, 1, "failed"),
        (None, 3, "failed"),
        (None, 16, "failed"),
    ],
)
def test_given_an_outbound_dial_that_fails_when_it_ends_then_the_outcome_comes_from_status_then_cause(
    dial_status: str | None, cause: int, outcome: str
) -> None:
    s = Script()
    s.member(90, 1)
    s.leg(100, "a1", "PJSIP/agent1-00000001")
    offered = s.feed(
        ev(
            "DialBegin",
            100.5,
            Channel="PJSIP/agent1-00000001",
            Linkedid="L1",
            DestChannel=f"{TRUNK}-00000002",
            DestUniqueid="t1",
            DestLinkedid="L1",
            DialString=f"{CUSTOMER}@trunk",
        )
    )
    assert [(e.direction, e.called_number) for e in offered if isinstance(e, CallOffered)] == [
        (Direction.outbound, CUSTOMER)
    ]
    assert s.tracker.call_of_agent("PJSIP/agent1") == "L1"
    if dial_status:
        s.feed(
            ev(
                "DialEnd",
                104,
                Channel="PJSIP/agent1-00000001",
                Linkedid="L1",
                DestChannel=f"{TRUNK}-00000002",
                DestUniqueid="t1",
                DestLinkedid="L1",
                DialStatus=dial_status,
            )
        )
    s.hangup(104, "t1", cause)
    s.hangup(104, "a1", 16)
    r = s.record()
    assert (r.direction, r.outcome, r.answered_at, r.talk_s, r.channel_id) == (
        Direction.outbound,
        outcome,
        None,
        None,
        "L1",
    )
    assert r.hangup_cause == cause


def test_given_an_outbound_call_answered_when_it_ends_then_talk_runs_from_the_answer() -> None:
    s = Script()
    s.member(90, 1)
    s.leg(100, "a1", "PJSIP/agent1-00000001")
    s.feed(
        ev(
            "DialBegin",
            100,
            Channel="PJSIP/agent1-00000001",
            Linkedid="L1",
            DestChannel=f"{TRUNK}-00000002",
            DestUniqueid="t1",
            DestLinkedid="L1",
            DestExten="0140000000",
        )
    )
    answered = s.feed(
        ev(
            "DialEnd",
            106,
            Channel="PJSIP/agent1-00000001",
            Linkedid="L1",
            DestChannel=f"{TRUNK}-00000002",
            DestUniqueid="t1",
            DestLinkedid="L1",
            DialStatus="ANSWER",
        )
    )
    assert [(e.agent, e.wait_s) for e in answered if isinstance(e, CallAnswered)] == [("PJSIP/agent1", None)]
    s.hangup(130, "t1")
    s.hangup(130, "a1")
    r = s.record()
    assert (r.outcome, r.answered_at, r.talk_s, r.called_number, r.agent) == (
        "answered",
        106,
        24.0,
        "0140000000",
        "PJSIP/agent1",
    )


def test_given_a_restart_when_asterisk_cuts_the_call_then_it_ends_interrupted() -> None:
    s = Script()
    answered_call(s)
    s.feed(ev("SoftHangupRequest", 110, Linkedid="L1", Cause="2"))
    s.feed(ev("SoftHangupRequest", 110, Linkedid="L1", Cause="4"))
    s.hangup(110, "u1")
    s.hangup(110, "u2")
    assert s.record().outcome == "interrupted"


def test_given_a_soft_hangup_that_is_not_a_shutdown_when_the_call_ends_then_it_is_answered() -> None:
    s = Script()
    answered_call(s)
    s.feed(ev("SoftHangupRequest", 110, Linkedid="L1", Cause="2"))
    s.hangup(110, "u1")
    s.hangup(110, "u2")
    assert s.record().outcome == "answered"


def _states(out: list[DomainEvent], agent: str) -> list[AgentState]:
    return [e.state for e in out if isinstance(e, AgentStateChanged) and e.agent == agent]


def test_given_an_agent_on_an_answered_call_when_the_phone_goes_idle_then_their_call_is_over() -> None:
    s = Script()
    answered_call(s)
    assert s.tracker.call_of_agent("PJSIP/agent1") == "L1"
    assert s.device(110, 1, "ONHOLD") == [] or _states(s.out, "PJSIP/agent1")[-1] is AgentState.on_call
    assert s.tracker.call_of_agent("PJSIP/agent1") == "L1", "on hold is still on the call"
    out = s.device(111, 1, "NOT_INUSE")
    assert [e.agent for e in out if isinstance(e, WrapUpStarted)] == ["PJSIP/agent1"]
    assert _states(out, "PJSIP/agent1") == [AgentState.wrap_up]
    assert s.tracker.call_of_agent("PJSIP/agent1") is None
    # the customer's leg is still up: the call goes on without the agent
    assert "L1" in s.tracker.calls


def test_given_an_agent_without_wrapup_when_the_call_ends_then_they_are_ready_at_once() -> None:
    s = Script(tracker=Tracker(wrapup=False))
    answered_call(s)
    s.hangup(120, "u2")
    out = s.device(120, 1, "NOT_INUSE")
    assert not [e for e in s.out if isinstance(e, WrapUpStarted)]
    assert _states(out, "PJSIP/agent1")[-1] is AgentState.ready


def test_given_an_agent_in_wrap_up_when_unpaused_after_the_disposition_then_ready() -> None:
    s = Script()
    answered_call(s)
    s.hangup(120, "u2")
    s.hangup(120, "u1")
    s.device(120, 1, "NOT_INUSE")
    assert _states(s.out, "PJSIP/agent1")[-1] is AgentState.wrap_up
    paused = s.feed(
        ev(
            "QueueMemberPause",
            121,
            Queue="support",
            Interface="PJSIP/agent1",
            Paused=1,
            PausedReason="wrapup",
        )
    )
    assert _states(paused, "PJSIP/agent1") in ([], [AgentState.wrap_up])
    ready = s.feed(ev("QueueMemberPause", 150, Queue="support", Interface="PJSIP/agent1", Paused=0))
    assert [(e.state, e.since) for e in ready if isinstance(e, AgentStateChanged)] == [
        (AgentState.ready, 150)
    ]


@pytest.mark.parametrize(
    ("device", "state"),
    [
        ("RINGING", AgentState.ringing),
        ("RINGINUSE", AgentState.ringing),
        ("INUSE", AgentState.on_call),
        ("BUSY", AgentState.on_call),
        ("ONHOLD", AgentState.on_call),
        ("NOT_INUSE", AgentState.ready),
        ("UNAVAILABLE", AgentState.ready),
    ],
)
def test_given_a_logged_in_agent_when_the_phone_state_changes_then_the_agent_state_follows(
    device: str, state: AgentState
) -> None:
    s = Script()
    s.member(90, 1)
    out = s.device(100, 1, device)
    assert _states(out, "PJSIP/agent1") in ([state], [])
    assert [v.state for v in s.tracker.agent_views() if v.agent == "PJSIP/agent1"] == [state]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("1", AgentState.ready),
        ("2", AgentState.on_call),
        ("6", AgentState.ringing),
        ("8", AgentState.on_call),
    ],
)
def test_given_a_member_event_with_a_numeric_status_when_read_then_the_device_state_is_named(
    status: str, state: AgentState
) -> None:
    s = Script()
    s.feed(ev("QueueMemberStatus", 100, Queue="support", Interface="PJSIP/agent1", Paused=0, Status=status))
    assert [v.state for v in s.tracker.agent_views()] == [state]


def test_given_paused_queues_when_the_state_is_derived_then_the_first_reason_is_shown() -> None:
    s = Script()
    s.member(90, 1, queue="a", Paused=1, PausedReason="lunch")
    s.feed(ev("QueueMemberAdded", 91, Queue="b", Interface="PJSIP/agent1", Paused=1, Reason="training"))
    (view,) = s.tracker.agent_views()
    assert (view.state, view.reason, view.queues) == (AgentState.paused, "lunch", ("a", "b"))
    s.feed(ev("QueueMemberRemoved", 95, Queue="a", Interface="PJSIP/agent1"))
    s.feed(ev("QueueMemberRemoved", 96, Queue="b", Interface="PJSIP/agent1"))
    (view,) = s.tracker.agent_views()
    assert (view.state, view.since, view.queues) == (AgentState.logged_out, 96, ())


def test_given_an_agent_joining_a_second_queue_when_ready_in_both_then_the_new_queue_is_news() -> None:
    s = Script()
    first = s.member(90, 1, queue="a")
    second = s.member(95, 1, queue="b")
    again = s.member(96, 1, queue="b")
    assert [(e.state, e.since, e.queues) for e in first if isinstance(e, AgentStateChanged)] == [
        (AgentState.ready, 90, ("a",))
    ]
    assert [(e.state, e.since, e.queues) for e in second if isinstance(e, AgentStateChanged)] == [
        (AgentState.ready, 90, ("a", "b"))
    ]
    assert again == []


def test_given_two_queue_waits_when_one_is_answered_then_the_oldest_wait_is_the_one_left() -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    s.join(101)
    other = Script(tracker=s.tracker, linkedid="L2")
    other.leg(102, "v1", f"{TRUNK}-00000009", "0699999999", "5551000")
    other.join(103)
    (view,) = s.tracker.queue_views(104)
    assert (view.waiting, view.oldest_since) == (2, 101)
    s.ring(104, 1, "u2")
    s.connect(105, 1, "u2")
    (view,) = s.tracker.queue_views(106)
    assert (view.waiting, view.oldest_since) == (1, 103)


def test_given_a_resync_when_a_call_vanished_then_it_ends_interrupted_and_queue_waits_are_rebuilt() -> None:
    s = Script()
    answered_call(s)
    other = Script(tracker=s.tracker, linkedid="L2")
    other.leg(102, "v1", f"{TRUNK}-00000009", "0699999999", "5551000")
    out = s.tracker.resync(
        Snapshot(
            channels=[{"Uniqueid": "v1", "Linkedid": "L2", "Channel": f"{TRUNK}-00000009"}],
            members=[
                {"Queue": "support", "Interface": "PJSIP/agent1", "Paused": "1", "PausedReason": "lunch"},
            ],
            entries=[
                {"Queue": "support", "Linkedid": "L2", "Wait": "12"},
                {"Queue": "x", "Linkedid": "none"},
            ],
        ),
        200,
    )
    (ended,) = [e for e in out if isinstance(e, CallEnded)]
    assert (ended.record.linkedid, ended.record.outcome, ended.record.ended_at) == ("L1", "interrupted", 200)
    assert not [e for e in out if isinstance(e, WrapUpStarted)], "a cut call gets no wrap-up"
    (queue,) = s.tracker.queue_views(200)
    assert (queue.queue, queue.waiting, queue.oldest_since) == ("support", 1, 188)
    (view,) = s.tracker.agent_views()
    assert (view.state, view.reason, view.linkedid) == (AgentState.paused, "lunch", None)


def test_given_a_call_when_asked_for_legs_then_the_agents_and_the_customers_channels_are_named() -> None:
    s = Script()
    answered_call(s)
    s.leg(106, "u0", "Local/7000@ctx-00000001;1")
    assert s.tracker.leg_of("L1", "PJSIP/agent1") == "PJSIP/agent1-00000001"
    assert s.tracker.leg_of("L1", "PJSIP/agent9") is None
    assert s.tracker.leg_of("nope", "PJSIP/agent1") is None
    assert s.tracker.other_leg("L1", "PJSIP/agent1") == f"{TRUNK}-00000001"
    assert s.tracker.other_leg("L1", TRUNK) == "PJSIP/agent1-00000001"
    assert s.tracker.other_leg("nope", "PJSIP/agent1") is None


def test_given_a_ringing_agent_when_the_call_ends_first_then_the_ring_ends_cancelled() -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    s.join(101)
    rang = s.ring(102, 1, "u2")
    (ringing,) = [e for e in rang if isinstance(e, AgentRinging)]
    assert (ringing.agent, ringing.agent_leg, ringing.queue, ringing.called_number) == (
        "PJSIP/agent1",
        "u2",
        "support",
        "5551000",
    )
    assert not [e for e in s.hangup(104, "u1") if isinstance(e, AgentRingEnded | CallEnded)]
    out = s.hangup(104.5, "u2")
    assert [(e.agent, e.reason, e.at) for e in out if isinstance(e, AgentRingEnded)] == [
        ("PJSIP/agent1", "cancel", 104.5)
    ]
    assert s.record().outcome == "abandoned"


@pytest.mark.parametrize(
    ("member", "agent"),
    [
        ({"Location": "PJSIP/agent1", "Interface": "PJSIP/x", "StateInterface": "PJSIP/y"}, "PJSIP/agent1"),
        ({"Interface": "PJSIP/agent2", "StateInterface": "PJSIP/y"}, "PJSIP/agent2"),
        ({"StateInterface": "PJSIP/agent3"}, "PJSIP/agent3"),
    ],
)
def test_given_queue_members_in_a_snapshot_when_resynced_then_the_agent_is_the_first_interface_named(
    member: dict[str, str], agent: str
) -> None:
    tracker = Tracker()
    out = tracker.resync_queues([{"Queue": "support", "Paused": "0", "Status": "2", **member}], [], 50)
    (view,) = tracker.agent_views()
    assert (view.agent, view.state, view.queues, view.since) == (agent, AgentState.on_call, ("support",), 50)
    assert [(e.queue, e.waiting) for e in out if isinstance(e, QueueChanged)] == [("support", 0)]


@pytest.mark.parametrize(
    ("paused", "reason", "status", "state", "shown"),
    [
        ("1", "lunch", "1", AgentState.paused, "lunch"),
        ("1", "", "1", AgentState.paused, None),
        ("0", "lunch", "1", AgentState.ready, None),
        ("0", "", "6", AgentState.ringing, None),
        ("0", "", "", AgentState.ready, None),  # unknown device state
        ("0", "", "99", AgentState.ready, None),
    ],
)
def test_given_a_members_pause_and_status_when_resynced_then_the_state_and_reason_follow(
    paused: str, reason: str, status: str, state: AgentState, shown: str | None
) -> None:
    tracker = Tracker()
    m = {"Queue": "support", "Interface": "PJSIP/agent1", "Paused": paused, "PausedReason": reason}
    tracker.resync_queues([{**m, "Status": status}], [], 50)
    (view,) = tracker.agent_views()
    assert (view.state, view.reason) == (state, shown)


def test_given_an_agent_gone_from_every_queue_when_resynced_then_logged_out_and_wrap_up_forgotten() -> None:
    s = Script()
    answered_call(s)
    s.hangup(120, "u2")
    s.hangup(120, "u1")
    s.device(120, 1, "NOT_INUSE")
    assert _states(s.out, "PJSIP/agent1")[-1] is AgentState.wrap_up
    s.tracker.resync_queues([], [], 130)
    (view,) = s.tracker.agent_views()
    assert (view.state, view.queues, view.since) == (AgentState.logged_out, (), 130)
    # back in the queue later: ready, the old wrap-up does not come back
    s.member(140, 1)
    (view,) = s.tracker.agent_views()
    assert view.state is AgentState.ready


def test_given_queue_entries_when_resynced_then_waits_are_rebuilt_from_each_entrys_wait() -> None:
    s = Script()
    s.inbound(100)
    other = Script(tracker=s.tracker, linkedid="L2")
    other.leg(101, "v1", f"{TRUNK}-00000009", "0699999999", "5551000")
    out = s.tracker.resync_queues(
        [{"Queue": "sales", "Interface": "PJSIP/agent1", "Paused": "0", "Status": "1"}],
        [
            {"Queue": "support", "Linkedid": "L1", "Wait": "30"},
            {"Queue": "support", "Uniqueid": "L2", "Wait": "not a number"},
        ],
        200,
    )
    changed = sorted((e.queue, e.waiting, e.oldest_since) for e in out if isinstance(e, QueueChanged))
    assert changed == [("sales", 0, None), ("support", 2, 170)]
    views = {v.queue: (v.waiting, v.oldest_since) for v in s.tracker.queue_views(200)}
    assert views == {"support": (2, 170)}
    s.hangup(210, "u1")
    assert (s.record().wait_s, s.record().queue, s.record().outcome) == (40.0, "support", "abandoned")


@pytest.mark.parametrize(
    ("dest", "agent"),
    [
        ({"DestChannel": "PJSIP/agent1-00000001", "Interface": "PJSIP/other"}, "PJSIP/agent1"),
        ({"Interface": "PJSIP/agent1"}, "PJSIP/agent1"),
    ],
)
def test_given_agent_connect_before_the_queue_leave_when_read_then_it_answers_and_leaves_the_queue(
    dest: dict[str, str], agent: str
) -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    s.join(101)
    s.ring(102, 1, "u2")
    out = s.feed(ev("AgentConnect", 105, Linkedid="L1", Queue="support", DestUniqueid="u2", **dest))
    assert [e for e in out if isinstance(e, CallLeftQueue)] == [
        CallLeftQueue("L1", "support", "answered", 4.0, 105)
    ]
    answered = [e for e in out if isinstance(e, CallAnswered)]
    assert [(e.linkedid, e.agent, e.queue, e.wait_s, e.at) for e in answered] == [
        ("L1", agent, "support", 4.0, 105)
    ]
    assert s.feed(ev("QueueCallerLeave", 105, Linkedid="L1", Queue="support")) == [], "left already"
    end = s.hangup(120, "u1") + s.hangup(120, "u2")
    assert not [e for e in end if isinstance(e, AgentRingEnded)], "the ring was over at the connect"
    assert s.record().wait_s == 4.0


def test_given_agent_connect_for_an_unknown_call_when_read_then_nothing_happens() -> None:
    s = Script()
    assert s.feed(ev("AgentConnect", 105, Linkedid="nope", Interface="PJSIP/agent1")) == []
    assert s.feed(ev("Hold", 105, Linkedid="nope")) == []
    assert s.feed(ev("Unhold", 105, Linkedid="nope")) == []
    assert s.feed(ev("QueueCallerAbandon", 105, Linkedid="nope")) == []
    assert s.feed(ev("BlindTransfer", 105, Result="Success", TransfereeLinkedid="nope")) == []
    assert s.feed(ev("AttendedTransfer", 105, Result="Success", OrigTransfererLinkedid="nope")) == []
    assert s.tracker.call_of_agent("PJSIP/agent9") is None


def test_given_held_events_when_emitted_then_they_name_the_call_and_the_instant() -> None:
    s = Script()
    answered_call(s)
    assert [e for e in s.feed(ev("Hold", 110, Linkedid="L1")) if isinstance(e, CallHeld)] == [
        CallHeld("L1", True, 110)
    ]
    assert [e for e in s.feed(ev("Unhold", 112, Linkedid="L1")) if isinstance(e, CallHeld)] == [
        CallHeld("L1", False, 112)
    ]
    assert [e for e in s.feed(ev("UserEvent", 113, UserEvent="PlateauHold", Linkedid="L1"))] == [
        CallHeld("L1", True, 113)
    ]
    assert s.feed(ev("UserEvent", 114, UserEvent="PlateauHold", Linkedid="L1")) == [], "held already"
    assert s.feed(ev("BridgeEnter", 116, Linkedid="L1", BridgeNumChannels="2")) == [
        CallHeld("L1", False, 116)
    ]
    assert s.feed(ev("BridgeEnter", 117, Linkedid="L1", BridgeNumChannels="2")) == [], "not held by Plateau"
    s.feed(ev("UserEvent", 118, UserEvent="PlateauHold", Linkedid="L1"))
    s.feed(ev("BridgeEnter", 119, Linkedid="L1", BridgeNumChannels="2"))
    s.hangup(120, "u1")
    s.hangup(120, "u2")
    assert s.record().hold_s == 2.0 + 3.0 + 1.0


def test_given_an_abandon_event_after_the_answer_when_read_then_the_call_stays_answered() -> None:
    s = Script()
    answered_call(s)
    s.feed(ev("QueueCallerAbandon", 106, Linkedid="L1", Queue="support"))
    s.hangup(120, "u1")
    s.hangup(120, "u2")
    assert s.record().outcome == "answered"


@pytest.mark.parametrize(
    ("headers", "by"),
    [
        ({"TransfereeLinkedid": "L1", "TransfererChannel": "PJSIP/agent1-00000001"}, "PJSIP/agent1"),
        ({"TransfererLinkedid": "L1", "TransfererChannel": "PJSIP/agent1-00000001"}, "PJSIP/agent1"),
        ({"TransfereeLinkedid": "L1", "TransfererChannel": f"{TRUNK}-00000001"}, None),
    ],
)
@pytest.mark.parametrize("result", ["Success", ""])
def test_given_a_blind_transfer_by_either_side_when_read_then_it_is_reported_with_who_did_it(
    headers: dict[str, str], by: str | None, result: str
) -> None:
    s = Script()
    answered_call(s)
    out = s.feed(ev("BlindTransfer", 110, Result=result, Extension="7002", **headers))
    assert out == [CallTransferred("L1", "blind", by, "7002", 110)]


def test_given_a_failed_transfer_when_read_then_nothing_is_reported() -> None:
    s = Script()
    answered_call(s)
    assert s.feed(ev("BlindTransfer", 110, Result="Fail", TransfereeLinkedid="L1", Extension="9")) == []
    assert s.feed(ev("AttendedTransfer", 110, Result="Fail", OrigTransfererLinkedid="L1")) == []
    s.hangup(120, "u1")
    s.hangup(120, "u2")
    assert s.record().transfers == ()


def test_given_an_attended_transfer_to_a_consultation_call_when_completed_then_the_calls_merge() -> None:
    s = Script()
    answered_call(s)
    s.feed(ev("Hold", 110, Linkedid="L1"))
    consult = Script(tracker=s.tracker, linkedid="L2")
    consult.leg(111, "c1", "PJSIP/agent1-00000005")
    consult.leg(111, "c2", "PJSIP/agent3-00000006")
    out = s.feed(
        ev(
            "AttendedTransfer",
            115,
            Result="",
            OrigTransfererLinkedid="L1",
            OrigTransfererChannel=f"{TRUNK}-00000001",
            TransferTargetChannel="PJSIP/agent3-00000006",
            SecondTransfererLinkedid="L2",
        )
    )
    assert [e for e in out if isinstance(e, CallTransferred)] == [
        CallTransferred("L1", "attended", None, "PJSIP/agent3", 115)
    ]
    assert [e for e in out if isinstance(e, CallHeld)] == [CallHeld("L1", False, 115)]
    assert "L2" not in s.tracker.calls
    assert s.tracker.leg_of("L1", "PJSIP/agent3") == "PJSIP/agent3-00000006"
    # the consultation's legs now end the merged call; the consultation itself is never reported
    s.hangup(120, "u2")
    s.hangup(121, "c1")
    s.hangup(122, "u1")
    assert not [e for e in s.out if isinstance(e, CallEnded)]
    s.hangup(130, "c2")
    r = s.record()
    assert (r.linkedid, r.ended_at, r.hold_s, r.transfers) == ("L1", 130, 5.0, ("attended:PJSIP/agent3",))
    late = consult.leg(131, "c9", "PJSIP/agent3-00000007")
    assert late == [] and "L2" not in s.tracker.calls, "an ended call is not reopened by a late event"


def test_given_a_resync_when_legs_vanished_or_appeared_then_calls_follow_the_live_channels() -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    s.join(101)
    s.ring(102, 1, "u2")
    out = s.tracker.resync_channels(
        [
            {"Uniqueid": "u1", "Linkedid": "L1", "Channel": f"{TRUNK}-00000001"},
            {"Uniqueid": "n1", "Linkedid": "L7", "Channel": f"{TRUNK}-00000007", "CallerIDNum": "0611111111"},
            {"Uniqueid": "", "Linkedid": "L8", "Channel": f"{TRUNK}-00000008"},
        ],
        150,
    )
    offered = [e for e in out if isinstance(e, CallOffered)]
    assert [(e.linkedid, e.caller.number, e.at) for e in offered] == [("L7", "0611111111", 150)]
    assert not [e for e in out if isinstance(e, CallEnded)], "the call goes on with its trunk leg"
    assert s.tracker.leg_of("L1", "PJSIP/agent1") is None, "the agent's leg is gone"
    assert set(s.tracker.calls) == {"L1", "L7"}
    end = s.hangup(160, "u1")
    assert not [e for e in end if isinstance(e, AgentRingEnded)], (
        "the vanished ring was dropped at the resync"
    )
    assert s.record().outcome == "abandoned"


def test_given_agents_and_other_endpoints_when_viewed_then_only_agents_are_listed() -> None:
    s = Script()
    s.member(90, 1)
    s.feed(ev("QueueMemberAdded", 91, Queue="support", Interface="Local/7000@ctx", Paused=0, Status=1))
    assert [v.agent for v in s.tracker.agent_views()] == ["PJSIP/agent1"]
    assert s.tracker.queue_views(100) == []
    s.inbound(100)
    s.join(101)
    assert s.tracker.queue_views(102) == [QueueChanged("support", 1, 101, 102)]


ANA = CallerId("0612345678", "Ana", False)


def test_given_a_whole_held_queue_call_when_replayed_then_every_domain_event_comes_in_order() -> None:
    s = Script()
    s.member(90, 1)
    s.feed(
        ev(
            "Newchannel",
            100,
            Channel=f"{TRUNK}-00000001",
            Uniqueid="u1",
            Linkedid="L1",
            CallerIDNum=CUSTOMER,
            CallerIDName="Ana",
            Exten="5551000",
        )
    )
    s.join(101)
    s.ring(102, 1, "u2")
    s.connect(105, 1, "u2")
    s.feed(ev("Hold", 110, Linkedid="L1"))
    s.feed(ev("Unhold", 114, Linkedid="L1"))
    s.hangup(120, "u2", 16)
    s.device(120, 1, "NOT_INUSE")
    s.hangup(121, "u1", 17)
    agent = "PJSIP/agent1"
    q = ("support",)
    assert s.out == [
        AgentStateChanged(agent, AgentState.ready, None, 90, q, None),
        CallOffered("L1", Direction.inbound, ANA, "5551000", 100),
        CallQueued("L1", "support", 1, ANA, 101),
        QueueChanged("support", 1, 101, 101),
        AgentRinging("L1", agent, "u2", "support", ANA, "5551000", 102),
        PhoneRegistration(agent, True, 102),  # a ringing device is a reachable, registered phone
        AgentStateChanged(agent, AgentState.ringing, None, 102, q, "L1"),
        AgentRingEnded("L1", agent, "answer", 105),
        CallLeftQueue("L1", "support", "answered", 4.0, 105),
        QueueChanged("support", 0, None, 105),
        CallAnswered("L1", agent, "support", ANA, 4.0, 105),
        AgentStateChanged(agent, AgentState.on_call, None, 105, q, "L1"),
        CallHeld("L1", True, 110),
        CallHeld("L1", False, 114),
        WrapUpStarted(agent, "L1", 120),
        AgentStateChanged(agent, AgentState.wrap_up, None, 120, q, None),
        CallEnded(
            CallRecord(
                linkedid="L1",
                direction=Direction.inbound,
                caller=ANA,
                called_number="5551000",
                queue="support",
                agent=agent,
                offered_at=100,
                answered_at=105,
                ended_at=121,
                wait_s=4.0,
                talk_s=12.0,
                hold_s=4.0,
                outcome="answered",
                hangup_cause=17,
                agents_rung=(agent,),
            ),
            (agent,),
        ),
    ]


def test_given_a_whole_call_abandoned_while_ringing_when_replayed_then_every_domain_event_in_order() -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    s.join(101, queue="sales")
    s.feed(
        ev(
            "AgentCalled",
            102,
            Linkedid="L1",
            DestChannel="PJSIP/agent1-00000001",
            DestUniqueid="u2",
            DestLinkedid="L1",
        )
    )
    s.hangup(107, "u1", 16)
    s.hangup(107.5, "u2", 0)
    caller = CallerId(CUSTOMER, None, False)
    agent = "PJSIP/agent1"
    assert s.out[1:] == [
        CallOffered("L1", Direction.inbound, caller, "5551000", 100),
        CallQueued("L1", "sales", 1, caller, 101),
        QueueChanged("sales", 1, 101, 101),
        AgentRinging("L1", agent, "u2", "sales", caller, "5551000", 102),
        # the phone's own device state says ringing; without it the agent's state does not change
        AgentRingEnded("L1", agent, "cancel", 107.5),
        CallLeftQueue("L1", "sales", "abandoned", 6.5, 107.5),
        QueueChanged("sales", 0, None, 107.5),
        CallEnded(
            CallRecord(
                linkedid="L1",
                direction=Direction.inbound,
                caller=caller,
                called_number="5551000",
                queue="sales",
                agent=None,
                offered_at=100,
                answered_at=None,
                ended_at=107.5,
                wait_s=6.5,
                talk_s=None,
                hold_s=0.0,
                outcome="abandoned",
                hangup_cause=16,
                agents_rung=(agent,),
            ),
            (agent,),
        ),
    ]


def test_given_a_whole_outbound_call_when_replayed_then_every_domain_event_comes_in_order() -> None:
    s = Script()
    s.member(90, 1)
    s.leg(100, "a1", "PJSIP/agent1-00000001")
    s.feed(
        ev(
            "DialBegin",
            100.5,
            Channel="PJSIP/agent1-00000001",
            Linkedid="L1",
            DestChannel=f"{TRUNK}-00000002",
            DestUniqueid="t1",
            DestLinkedid="L1",
            DialString="0140000000@trunk",
        )
    )
    s.device(100.5, 1, "INUSE")
    s.feed(
        ev(
            "DialEnd",
            106,
            Channel="PJSIP/agent1-00000001",
            Linkedid="L1",
            DestChannel=f"{TRUNK}-00000002",
            DestUniqueid="t1",
            DestLinkedid="L1",
            DialStatus="ANSWER",
        )
    )
    s.hangup(130, "t1", 16)
    s.hangup(130.5, "a1", 16)
    s.device(130.5, 1, "NOT_INUSE")
    agent, callee, q = "PJSIP/agent1", CallerId("0140000000", None, False), ("support",)
    assert s.out[1:] == [
        CallOffered("L1", Direction.outbound, callee, "0140000000", 100.5),
        PhoneRegistration(agent, True, 100.5),  # an in-use device is a reachable, registered phone
        AgentStateChanged(agent, AgentState.on_call, None, 100.5, q, "L1"),
        CallAnswered("L1", agent, None, callee, None, 106),
        CallEnded(
            CallRecord(
                linkedid="L1",
                direction=Direction.outbound,
                caller=callee,
                called_number="0140000000",
                queue=None,
                agent=agent,
                offered_at=100,
                answered_at=106,
                ended_at=130.5,
                wait_s=None,
                talk_s=24.5,
                hold_s=0.0,
                outcome="answered",
                hangup_cause=16,
                channel_id="L1",
            ),
            (agent,),
        ),
        WrapUpStarted(agent, "L1", 130.5),
        AgentStateChanged(agent, AgentState.wrap_up, None, 130.5, q, None),
    ]


@pytest.mark.parametrize(
    ("exten", "called"), [({"Exten": "5551000"}, "5551000"), ({"Exten": "s"}, None), ({}, None)]
)
def test_given_an_inbound_leg_when_its_extension_is_missing_or_s_then_no_called_number(
    exten: dict[str, str], called: str | None
) -> None:
    s = Script()
    out = s.feed(ev("Newchannel", 100, Channel=f"{TRUNK}-00000001", Uniqueid="u1", Linkedid="L1", **exten))
    assert out == [CallOffered("L1", Direction.inbound, CallerId(None, None, True), called, 100)]


@pytest.mark.parametrize("missing", ["Uniqueid", "Linkedid"])
def test_given_a_channel_without_its_ids_when_read_then_it_is_ignored(missing: str) -> None:
    s = Script()
    headers = {"Channel": f"{TRUNK}-00000001", "Uniqueid": "u1", "Linkedid": "L1"}
    del headers[missing]
    assert s.feed(ev("Newchannel", 100, **headers)) == []
    assert s.tracker.calls == {}


def test_given_a_queue_join_when_the_caller_was_unknown_then_it_names_them_and_a_bad_position_is_zero() -> (
    None
):
    s = Script()
    s.feed(ev("Newchannel", 100, Channel=f"{TRUNK}-00000001", Uniqueid="u1", Linkedid="L1", Exten="5551000"))
    out = s.feed(
        ev(
            "QueueCallerJoin",
            101,
            Linkedid="L1",
            Queue="q",
            Position="x",
            CallerIDNum=CUSTOMER,
            CallerIDName="Ana",
        )
    )
    assert out[0] == CallQueued("L1", "q", 0, ANA, 101)


def test_given_an_internal_call_joining_a_queue_when_read_then_its_caller_stays_unknown() -> None:
    s = Script()
    s.leg(100, "a1", "PJSIP/agent1-00000001")
    out = s.feed(ev("QueueCallerJoin", 101, Linkedid="L1", Queue="q", Position="2", CallerIDNum=CUSTOMER))
    assert out[0] == CallQueued("L1", "q", 2, CallerId(None, None, False), 101)


def test_given_a_removal_from_a_queue_never_joined_when_read_then_the_agent_keeps_the_others() -> None:
    s = Script()
    s.member(90, 1)
    s.feed(ev("QueueMemberRemoved", 95, Queue="other", Interface="PJSIP/agent1"))
    s.feed(ev("QueueMemberRemoved", 96, Queue="x", Location="PJSIP/agent2"))
    s.feed(ev("QueueMemberRemoved", 97, Queue="x"))
    (view, *rest) = s.tracker.agent_views()
    assert (view.agent, view.state, view.queues) == ("PJSIP/agent1", AgentState.ready, ("support",))
    assert [(v.agent, v.state) for v in rest] == [("PJSIP/agent2", AgentState.logged_out)]


@pytest.mark.parametrize(
    ("entry", "since"),
    [
        ({"Queue": "support", "Linkedid": "L1", "Wait": "30"}, 170),
        ({"Queue": "support", "Uniqueid": "L1", "Wait": "0"}, 200),
        ({"Queue": "support", "Linkedid": "L1"}, 200),  # no Wait: queued now
        ({"Queue": "support", "Linkedid": "L1", "Wait": "soon"}, 200),
    ],
    ids=["wait", "zero_wait_by_uniqueid", "no_wait", "unreadable_wait"],
)
def test_given_an_entry_after_one_of_an_unknown_call_when_resynced_then_its_queue_wait_is_rebuilt(
    entry: dict[str, str], since: float
) -> None:
    s = Script()
    s.inbound(100)

    out = s.tracker.resync_queues([], [{"Queue": "support", "Linkedid": "gone", "Wait": "50"}, entry], 200)

    assert out == [QueueChanged("support", 1, since, 200)]


def test_given_the_same_channels_when_resynced_again_then_nothing_is_news() -> None:
    s = Script()
    s.inbound(100)
    channel = {"Uniqueid": "u1", "Linkedid": "L1", "Channel": f"{TRUNK}-00000001", "CallerIDNum": CUSTOMER}

    assert s.tracker.resync_channels([channel], 200) == []
    assert s.tracker.resync_channels([channel], 201) == []


def test_given_an_agent_wrapping_up_when_resynced_still_in_the_queue_then_the_wrap_up_stays() -> None:
    s = Script()
    answered_call(s)
    s.hangup(120, "u2")
    s.hangup(120, "u1")
    s.device(120, 1, "NOT_INUSE")

    s.tracker.resync_queues(
        [{"Queue": "support", "Interface": "PJSIP/agent1", "Paused": "0", "Status": "1"}], [], 130
    )

    (view,) = s.tracker.agent_views()
    assert view.state is AgentState.wrap_up


def test_given_a_member_paused_without_a_reason_when_resynced_then_no_reason_is_shown() -> None:
    tracker = Tracker()
    tracker.resync_queues(
        [{"Queue": "support", "Interface": "PJSIP/agent1", "Paused": "1", "Status": "1"}], [], 50
    )

    (view,) = tracker.agent_views()
    assert (view.state, view.reason) == (AgentState.paused, None)


def _wrapping_up() -> Script:
    """agent1 answered L1 and hung up at 120: in wrap-up."""
    s = Script()
    answered_call(s)
    s.hangup(120, "u2")
    s.hangup(120, "u1")
    s.device(120, 1, "NOT_INUSE")
    return s


@pytest.mark.parametrize(
    ("headers", "state", "reason"),
    [
        ({"Paused": 1, "PausedReason": "wrapup"}, AgentState.wrap_up, None),  # Plateau's own wrap-up pause
        ({"Paused": 1, "Reason": "wrapup"}, AgentState.wrap_up, None),  # the older header
        ({"Paused": 0, "PausedReason": "wrapup"}, AgentState.ready, None),  # unpaused: the disposition is in
        ({"Paused": 1, "PausedReason": "lunch"}, AgentState.paused, "lunch"),  # their own pause ends wrap-up
        ({"Paused": 1, "Reason": "lunch"}, AgentState.paused, "lunch"),
    ],
    ids=["wrapup_pause", "wrapup_pause_older_header", "unpaused", "own_pause", "own_pause_older_header"],
)
def test_given_an_agent_in_wrap_up_when_a_pause_event_arrives_then_only_unpausing_or_an_own_pause_ends_it(
    headers: dict[str, object], state: AgentState, reason: str | None
) -> None:
    s = _wrapping_up()

    s.feed(ev("QueueMemberPause", 130, Queue="support", Interface="PJSIP/agent1", **headers))

    (view,) = s.tracker.agent_views()
    assert (view.state, view.reason) == (state, reason)


def test_given_an_agent_on_a_call_when_a_member_status_without_status_arrives_then_still_on_the_call() -> (
    None
):
    s = Script()
    answered_call(s)

    s.feed(ev("QueueMemberStatus", 110, Queue="support", Interface="PJSIP/agent1", Paused=0))

    (view,) = s.tracker.agent_views()
    assert (view.state, view.linkedid) == (AgentState.on_call, "L1")


def test_given_an_agent_on_an_answered_call_when_the_member_status_says_idle_then_wrap_up_starts_then() -> (
    None
):
    s = Script()
    answered_call(s)

    out = s.feed(ev("QueueMemberStatus", 110, Queue="support", Interface="PJSIP/agent1", Paused=0, Status=1))

    assert [e for e in out if isinstance(e, WrapUpStarted)] == [WrapUpStarted("PJSIP/agent1", "L1", 110)]
    (view,) = s.tracker.agent_views()
    assert (view.state, view.since) == (AgentState.wrap_up, 110)


@pytest.mark.parametrize(
    ("headers", "registered"),
    [
        ({"EndpointName": "agent1", "AOR": "agent9"}, "PJSIP/agent1"),
        ({"AOR": "agent1"}, "PJSIP/agent1"),  # no EndpointName: the AOR names the phone
    ],
    ids=["endpoint", "aor_only"],
)
def test_given_a_contact_created_when_fed_then_the_phone_named_by_endpoint_or_aor_is_registered_since_then(
    headers: dict[str, str], registered: str
) -> None:
    tracker = Tracker()

    out = tracker.feed(ev("ContactStatus", 10, ContactStatus="Created", **headers))

    expected = [PhoneRegistration(registered, True, 10)]
    assert [e for e in out if isinstance(e, PhoneRegistration)] == expected
    assert tracker.phone_views() == expected


def test_given_devices_listed_after_a_reconnect_when_resynced_then_only_agent_phones_are_registered() -> None:
    tracker = Tracker()

    out = tracker.resync_devices(
        [
            {"Device": "PJSIP/agent1", "State": "NOT_INUSE"},
            {"Device": "PJSIP/agent2"},  # no state: not known to be reachable
            {"State": "NOT_INUSE"},  # no device
            {"Device": "PJSIP/trunk", "State": "NOT_INUSE"},
        ]
    )

    assert out == tracker.phone_views() == [PhoneRegistration("PJSIP/agent1", True, None)]


def _originated_phone_call(answers: list[float]) -> Script:
    """An Originate rings agent1's phone (no Channel: nobody dials it) in call O1; it picks up at each of
    `answers` (a repeated DialEnd changes nothing) and hangs up at 120."""
    s = Script(linkedid="O1")
    dest = {
        "DestChannel": "PJSIP/agent1-00000005",
        "DestUniqueid": "o1",
        "DestLinkedid": "O1",
        "DestCallerIDNum": "",
        "DestExten": "s",
    }
    s.feed(ev("DialBegin", 100, **dest))
    for at in answers:
        s.feed(ev("DialEnd", at, DialStatus="ANSWER", **dest))
    s.hangup(120, "o1")
    return s


@pytest.mark.parametrize(
    ("answers", "answered_at", "talk_s"),
    [([104], 104, 16.0), ([104, 110], 104, 16.0), ([], None, None)],
    ids=["picked_up", "picked_up_once_reported_twice", "never_picked_up"],
)
def test_given_an_originated_call_between_phones_when_it_ends_then_it_is_answered_when_the_phone_picked_up(
    answers: list[float], answered_at: float | None, talk_s: float | None
) -> None:
    r = _originated_phone_call(answers).record()

    assert (r.direction, r.answered_at, r.talk_s, r.ended_at) == (
        Direction.internal,
        answered_at,
        talk_s,
        120,
    )


def _dial_agent(s: Script, ts: float) -> list[DomainEvent]:
    """The customer's leg dials agent1's phone (a Dial, not app_queue's AgentCalled)."""
    return s.feed(
        ev(
            "DialBegin",
            ts,
            Channel=f"{TRUNK}-00000001",
            Uniqueid="u1",
            Linkedid="L1",
            DestChannel="PJSIP/agent1-00000001",
            DestUniqueid="u2",
            DestLinkedid="L1",
            DestExten="s",
        )
    )


@pytest.mark.parametrize(
    ("left", "queue"), [(False, "support"), (True, None)], ids=["in_queue", "left_queue"]
)
def test_given_a_call_in_a_queue_when_it_dials_an_agent_then_the_ring_names_the_queue_while_in_it(
    left: bool, queue: str | None
) -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    s.join(101)
    if left:
        s.feed(ev("QueueCallerLeave", 102, Linkedid="L1", Queue="support"))

    out = _dial_agent(s, 103)

    assert [(e.agent, e.agent_leg, e.queue, e.at) for e in out if isinstance(e, AgentRinging)] == [
        ("PJSIP/agent1", "u2", queue, 103)
    ]


@pytest.mark.parametrize(
    ("joined", "header", "queue"),
    [(False, "support", "support"), (True, None, "support"), (True, "sales", "sales")],
    ids=["join_unseen", "no_queue_header", "the_events_queue"],
)
def test_given_an_agent_called_when_fed_then_the_ring_names_the_events_queue_else_the_calls(
    joined: bool, header: str | None, queue: str
) -> None:
    s = Script()
    s.member(90, 1)
    s.inbound(100)
    if joined:
        s.join(101)
    headers = {"Queue": header} if header is not None else {}

    out = s.feed(
        ev(
            "AgentCalled",
            102,
            Linkedid="L1",
            DestChannel="PJSIP/agent1-00000001",
            DestUniqueid="u2",
            DestLinkedid="L1",
            DestExten="s",
            **headers,
        )
    )

    assert [(e.agent, e.queue, e.at) for e in out if isinstance(e, AgentRinging)] == [
        ("PJSIP/agent1", queue, 102)
    ]
