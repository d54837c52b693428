"""The tracker on AMI transcripts recorded from Asterisk 16 with SIPp (see tests/cti/pbx/scenarios.py)."""

from __future__ import annotations

import pytest

from cti.events import (
    AgentRingEnded,
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallHeld,
    CallLeftQueue,
    CallOffered,
    CallTransferred,
    Direction,
    WrapUpStarted,
)
from tests.cti.transcripts import of_type, raw, reorder, replay


def _record(events):
    ended = of_type(events, CallEnded)
    assert len(ended) == 1, f"expected one call, got {len(ended)}"
    return ended[0].record


@pytest.mark.parametrize(
    ("scenario", "direction", "outcome", "queue", "agent", "rung"),
    [
        ("answered_queue_call", Direction.inbound, "answered", "support", "PJSIP/agent1", ("PJSIP/agent1",)),
        ("abandoned_in_queue", Direction.inbound, "abandoned", "support", None, ("PJSIP/agent1",)),
        (
            "ring_no_answer_then_next",
            Direction.inbound,
            "answered",
            "hotline",
            "PJSIP/agent2",
            ("PJSIP/agent1", "PJSIP/agent2"),
        ),
        (
            "agent_busy",
            Direction.inbound,
            "answered",
            "hotline",
            "PJSIP/agent2",
            ("PJSIP/agent1", "PJSIP/agent2"),
        ),
        (
            "blind_transfer",
            Direction.inbound,
            "answered",
            "support",
            "PJSIP/agent1",
            ("PJSIP/agent1", "PJSIP/agent2"),
        ),
        (
            "attended_transfer",
            Direction.inbound,
            "answered",
            "support",
            "PJSIP/agent1",
            ("PJSIP/agent1", "PJSIP/agent2"),
        ),
        ("direct_call_to_agent", Direction.inbound, "answered", None, "PJSIP/agent1", ("PJSIP/agent1",)),
        ("click_to_call", Direction.outbound, "answered", None, "PJSIP/agent1", ()),
    ],
)
def test_given_a_recorded_scenario_when_replayed_then_one_call_record_with_the_right_facts(
    scenario, direction, outcome, queue, agent, rung
):
    _tracker, events = replay(raw(scenario))
    rec = _record(events)
    assert (rec.direction, rec.outcome, rec.queue, rec.agent, rec.agents_rung) == (
        direction,
        outcome,
        queue,
        agent,
        rung,
    )


@pytest.mark.parametrize(
    "scenario",
    [
        "answered_queue_call",
        "abandoned_in_queue",
        "blind_transfer",
        "attended_transfer",
        "click_to_call",
        "ring_no_answer_then_next",
    ],
)
def test_given_any_scenario_when_it_ends_then_no_call_leg_or_agent_call_is_left_behind(scenario):
    tracker, _ = replay(raw(scenario))
    assert tracker.calls == {} and tracker.legs == {}
    assert all(a.linkedid is None for a in tracker.agents.values())


def test_given_a_known_caller_in_a_queue_when_an_agent_rings_then_the_ring_carries_caller_dnis_and_queue():
    _t, events = replay(raw("answered_queue_call"))
    ring = of_type(events, AgentRinging)
    assert len(ring) == 1
    assert (ring[0].agent, ring[0].queue, ring[0].called_number) == ("PJSIP/agent1", "support", "5551000")
    assert (ring[0].caller.number, ring[0].caller.name) == ("0612345678", "José Müller")


def test_given_an_answered_queue_call_when_replayed_then_ring_comes_before_answer_before_end():
    _t, events = replay(raw("answered_queue_call"))
    kinds = [type(e) for e in events if isinstance(e, (CallOffered, AgentRinging, CallAnswered, CallEnded))]
    assert kinds == [CallOffered, AgentRinging, CallAnswered, CallEnded]


def test_given_an_answered_call_when_the_agent_hangs_up_then_wrap_up_starts_before_ready():
    _t, events = replay(raw("answered_queue_call"))
    states = [e.state for e in of_type(events, AgentStateChanged) if e.agent == "PJSIP/agent1"]
    assert states[:4] == [AgentState.ready, AgentState.ringing, AgentState.on_call, AgentState.wrap_up]
    assert len(of_type(events, WrapUpStarted)) == 1


def test_given_a_ring_no_answer_when_replayed_then_the_first_agent_goes_back_to_ready_and_the_next_rings():
    _t, events = replay(raw("ring_no_answer_then_next"))
    rings = [e.agent for e in of_type(events, AgentRinging)]
    assert rings == ["PJSIP/agent1", "PJSIP/agent2"]
    agent1 = [e.state for e in of_type(events, AgentStateChanged) if e.agent == "PJSIP/agent1"]
    assert agent1[:3] == [AgentState.ready, AgentState.ringing, AgentState.ready]


def test_given_an_abandoned_call_when_replayed_then_it_left_the_queue_abandoned_with_its_wait():
    _t, events = replay(raw("abandoned_in_queue"))
    left = of_type(events, CallLeftQueue)
    assert [x.reason for x in left] == ["abandoned"]
    rec = _record(events)
    assert rec.answered_at is None and rec.talk_s is None and rec.wait_s == pytest.approx(left[0].wait_s)
    assert 1.5 < rec.wait_s < 4


@pytest.mark.parametrize(
    ("scenario", "kind", "target"),
    [("blind_transfer", "blind", "7002"), ("attended_transfer", "attended", "7002")],
)
def test_given_a_transfer_when_replayed_then_it_is_reported_and_the_target_agent_is_answered(
    scenario, kind, target
):
    _t, events = replay(raw(scenario))
    moved = of_type(events, CallTransferred)
    assert [(m.kind, m.by_agent, m.target) for m in moved] == [(kind, "PJSIP/agent1", target)]
    assert [a.agent for a in of_type(events, CallAnswered)] == ["PJSIP/agent1", "PJSIP/agent2"]


def test_given_an_attended_transfer_when_the_consultation_ends_then_hold_time_stops_counting():
    _t, events = replay(raw("attended_transfer"))
    assert [h.held for h in of_type(events, CallHeld)] == [True, False]
    rec = _record(events)
    assert 1 < rec.hold_s < rec.ended_at - rec.answered_at


def test_given_a_click_to_call_when_replayed_then_the_call_is_outbound_to_the_dialled_number():
    _t, events = replay(raw("click_to_call"))
    rec = _record(events)
    assert (rec.called_number, rec.caller.number, rec.channel_id) == ("0612345678", "0612345678", "c2c-0001")


def _move_after_last(name: bytes, anchor: bytes):
    def move(bs: list[bytes]) -> list[bytes]:
        picked = [b for b in bs if name in b]
        rest = [b for b in bs if name not in b]
        last = max(i for i, b in enumerate(rest) if anchor in b)
        return rest[: last + 1] + picked + rest[last + 1 :]

    return move


@pytest.mark.parametrize(
    ("scenario", "moved", "anchor"),
    [
        ("answered_queue_call", b"Event: AgentComplete", b"Event: Hangup\r"),
        ("answered_queue_call", b"Event: DialEnd", b"Event: Hangup\r"),
        ("ring_no_answer_then_next", b"Event: AgentComplete", b"Event: Hangup\r"),
        ("blind_transfer", b"Event: AgentComplete", b"Event: Hangup\r"),
    ],
)
def test_given_asterisk_reorders_events_when_replayed_then_the_record_is_the_same(scenario, moved, anchor):
    _t, straight = replay(raw(scenario))
    _t, shuffled = replay(reorder(raw(scenario), _move_after_last(moved, anchor)))
    assert _record(shuffled) == _record(straight)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1500])
def test_given_tcp_reads_of_any_size_when_replayed_then_the_same_domain_events_come_out(chunk):
    _t, whole = replay(raw("answered_queue_call"))
    _t, pieces = replay(raw("answered_queue_call"), chunk=chunk)
    assert pieces == whole
    assert _record(pieces).caller.name == "José Müller"


def test_given_the_same_transcript_twice_when_replayed_on_one_tracker_then_the_call_is_not_reopened():
    tracker, first = replay(raw("answered_queue_call"))
    _t, second = replay(raw("answered_queue_call"), tracker=tracker)
    assert len(of_type(first, CallEnded)) == 1 and of_type(second, CallEnded) == []


def test_given_asterisk_restarting_mid_call_when_replayed_then_the_call_ends_interrupted():
    _t, events = replay(raw("restart_mid_call"))
    rec = _record(events)
    assert (rec.outcome, rec.agent) == ("interrupted", "PJSIP/agent1")


def test_given_calls_unseen_while_disconnected_when_resynced_then_they_end_interrupted_and_members_return():
    tracker, _ = replay(reorder(raw("answered_queue_call"), lambda bs: bs[: len(bs) // 2]))
    assert len(tracker.calls) == 1
    events = tracker.resync_channels([], 1795415700.0)
    assert [e.record.outcome for e in of_type(events, CallEnded)] == ["interrupted"]
    events = tracker.resync_queues(
        [
            {
                "Queue": "support",
                "Location": "PJSIP/agent1",
                "Paused": "1",
                "PausedReason": "lunch",
                "Status": "1",
            }
        ],
        [],
        1795415700.0,
    )
    (state,) = of_type(events, AgentStateChanged)
    assert (state.state, state.reason, state.queues) == (AgentState.paused, "lunch", ("support",))


def test_given_an_agent_in_one_queue_when_joining_another_then_the_new_queue_set_is_announced():
    from cti.ami_wire import AmiEvent
    from cti.tracker import Tracker

    tracker = Tracker()

    def member(queue: str, ts: float) -> AmiEvent:
        return AmiEvent(
            "QueueMemberAdded",
            {"Queue": queue, "Interface": "PJSIP/agent1", "Paused": "0", "Status": "1"},
            ts,
        )

    first = tracker.feed(member("support", 1.0))
    second = tracker.feed(member("sales", 2.0))
    assert [e.queues for e in of_type(first + second, AgentStateChanged)] == [
        ("support",),
        ("sales", "support"),
    ]
    assert of_type(second, AgentStateChanged)[0].since == 1.0  # still ready since the first login


def test_given_an_agent_phone_that_answers_busy_when_replayed_then_its_ring_ends_busy_and_the_next_takes_it():
    _t, events = replay(raw("agent_busy"))
    assert [(e.agent, e.reason) for e in of_type(events, AgentRingEnded)] == [
        ("PJSIP/agent1", "busy"),
        ("PJSIP/agent2", "answer"),
    ]


def test_given_an_agent_in_wrap_up_when_they_pause_for_a_reason_then_the_reason_shows_and_wrap_up_is_over():
    tracker, events = replay(raw("pause_reason_in_wrap_up"))
    states = [(e.state, e.reason) for e in of_type(events, AgentStateChanged) if e.agent == "PJSIP/agent1"]
    assert states[-3:] == [
        (AgentState.on_call, None),
        (AgentState.wrap_up, None),  # the call ended, then Plateau's `wrapup` pause: still wrap-up
        (AgentState.paused, "Lunch break"),
    ]
    assert tracker.agents["PJSIP/agent1"].wrapup_linkedid is None


def _member_pause(queue: str, paused: bool, reason: str, ts: float, name: str = "QueueMemberPause"):
    from cti.ami_wire import AmiEvent

    return AmiEvent(
        name,
        {
            "Queue": queue,
            "Interface": "PJSIP/agent1",
            "Paused": "1" if paused else "0",
            "PausedReason": reason,
            "Status": "1",
        },
        ts,
    )


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], (AgentState.wrap_up, None)),  # the call ended: wrap-up before any pause arrives
        ([("support", True, "wrapup"), ("sales", True, "wrapup")], (AgentState.wrap_up, None)),
        ([("support", True, "Lunch break")], (AgentState.paused, "Lunch break")),
        (  # Plateau's wrap-up pause, then the agent's own in the first of two queues: the reason shows
            [("support", True, "wrapup"), ("sales", True, "wrapup"), ("support", True, "Lunch break")],
            (AgentState.paused, "Lunch break"),
        ),
        (  # paused for lunch before the call ended (a status, not a new pause): wrap-up first
            [("support", True, "Lunch break", "QueueMemberStatus")],
            (AgentState.wrap_up, None),
        ),
        (  # a pause without a reason is the agent's too
            [("support", True, "wrapup"), ("support", True, "")],
            (AgentState.paused, None),
        ),
        (  # back from lunch: ready, wrap-up does not come back
            [
                ("support", True, "Lunch break"),
                ("sales", True, "Lunch break"),
                ("support", False, ""),
                ("sales", False, ""),
            ],
            (AgentState.ready, None),
        ),
        (  # the disposition saved: Plateau unpauses, the agent is ready
            [
                ("support", True, "wrapup"),
                ("sales", True, "wrapup"),
                ("support", False, ""),
                ("sales", False, ""),
            ],
            (AgentState.ready, None),
        ),
    ],
    ids=[
        "ended",
        "wrapup-pause",
        "reason",
        "reason-after-wrapup",
        "paused-before",
        "no-reason",
        "back",
        "disposition",
    ],
)
def test_given_an_agent_in_wrap_up_in_two_queues_when_pauses_arrive_then_the_state_is_the_expected_one(
    steps, expected
):
    from cti.ami_wire import AmiEvent

    # the recorded answered call, up to its end (agent1 in wrap-up), and agent1 in a second queue
    data = reorder(raw("pause_reason_in_wrap_up"), lambda bs: [b for b in bs if b"QueueMemberPause" not in b])
    tracker, _ = replay(data)
    tracker.feed(
        AmiEvent("QueueMemberAdded", {"Queue": "sales", "Interface": "PJSIP/agent1", "Status": "1"}, 2.0)
    )
    agent = tracker.agents["PJSIP/agent1"]
    assert agent.wrapup_linkedid is not None
    for i, (queue, paused, reason, *name) in enumerate(steps):
        tracker.feed(_member_pause(queue, paused, reason, 3.0 + i, *name))
    assert (agent.state, agent.reason) == expected


def test_given_an_originate_whose_agent_phone_never_answers_when_it_times_out_then_the_call_ends_no_answer():
    tracker, events = replay(raw("originate_no_answer"))
    rec = _record(events)
    assert (rec.linkedid, rec.outcome, rec.hangup_cause, rec.answered_at) == (
        "c2c-0002",
        "no_answer",
        0,
        None,
    )
    assert tracker.calls == {} and tracker.legs == {}
    assert tracker.agents["PJSIP/agent1"].linkedid is None


@pytest.mark.parametrize(
    ("cause", "state", "outcome"),
    [
        ("0", "5", "no_answer"),  # still ringing when Asterisk gave up (the Originate's Timeout)
        ("17", "5", "busy"),  # the phone answered 486
        ("21", "5", "rejected"),
        ("0", "0", "failed"),  # never rang
    ],
)
def test_given_an_originate_first_leg_hung_up_unanswered_when_replayed_then_its_cause_and_state_decide(
    cause, state, outcome
):
    def hangup_as(blocks: list[bytes]) -> list[bytes]:
        out = []
        for b in blocks:
            if b.startswith(b"Event: Hangup\r\n"):
                b = b.replace(b"Cause: 0\r\n", b"Cause: %s\r\n" % cause.encode())
                b = b.replace(b"ChannelState: 5\r\n", b"ChannelState: %s\r\n" % state.encode())
            out.append(b)
        return out

    _t, events = replay(reorder(raw("originate_no_answer"), hangup_as))
    assert _record(events).outcome == outcome
