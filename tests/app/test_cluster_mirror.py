"""The mirror of the other nodes' browser-facing state (app/cluster_mirror.py) and its wire form on the bus
(app/cluster_bus.py): who sees which mirrored item (the hub's audiences, not a second set of rules), the
deltas heard since a frame replayed in order, when an origin's full state is wanted, stale origins
dropped, one PBX's items; every bus event through encode/decode and back."""

from __future__ import annotations

import time

import orjson
import pytest

from app.cluster_bus import ClusterView, NodeLeaving, StateFrame, StateWanted, decode, encode
from app.cluster_mirror import Mirror
from core.bus import (
    Message,
    Principal,
    ToAgent,
    ToAgentAndStaff,
    ToAgentAndSupervisors,
    ToAgentsAndSupervisors,
    ToSupervisors,
)

ALICE = Principal(1, "alice", "agent", team_id=1, sip_endpoint="agent1")
BOB = Principal(2, "bob", "agent", team_id=2, sip_endpoint="agent2")
SUE = Principal(3, "sue", "supervisor", team_id=1, sip_endpoint="sup1")
TOM = Principal(4, "tom", "supervisor", team_id=2)
MIA = Principal(5, "mia", "manager")

AGENT1 = Message(
    ToAgentAndSupervisors("PJSIP/agent1", 1), {"type": "agent_state_changed", "agent": "PJSIP/agent1"}
)
PHONE1 = Message(ToAgentAndStaff("PJSIP/agent1"), {"type": "phone_registration", "agent": "PJSIP/agent1"})
QUEUE = Message(ToSupervisors(), {"type": "queue_changed", "queue": "support"})
CALL = Message(ToSupervisors(), {"type": "call_live", "linkedid": "pbx1-1.1"})
POP1 = Message(ToAgent("PJSIP/agent1"), {"type": "pop", "pop_id": "pbx1-1.1:PJSIP/agent1"})
AGENT2 = Message(
    ToAgentAndSupervisors("PJSIP/agent2", 2), {"type": "agent_state_changed", "agent": "PJSIP/agent2"}
)
FRAME = {"pbx1": [AGENT1, PHONE1, QUEUE, CALL, POP1], "pbx2": [AGENT2]}


def _types(items: list[dict[str, object]]) -> list[str]:
    return [
        f"{i['type']}:{i.get('agent') or i.get('queue') or i.get('linkedid') or i.get('pop_id')}"
        for i in items
    ]


@pytest.mark.parametrize(
    ("who", "pbx", "seen"),
    [
        (
            ALICE,
            None,
            [
                "agent_state_changed:PJSIP/agent1",
                "phone_registration:PJSIP/agent1",
                "pop:pbx1-1.1:PJSIP/agent1",
            ],
        ),
        (BOB, None, ["agent_state_changed:PJSIP/agent2"]),
        (
            SUE,  # her team's agent, every phone, queues and calls; not another's pop
            None,
            [
                "agent_state_changed:PJSIP/agent1",
                "phone_registration:PJSIP/agent1",
                "queue_changed:support",
                "call_live:pbx1-1.1",
            ],
        ),
        (
            TOM,
            None,
            [
                "phone_registration:PJSIP/agent1",
                "queue_changed:support",
                "call_live:pbx1-1.1",
                "agent_state_changed:PJSIP/agent2",
            ],
        ),
        (
            MIA,
            None,
            [
                "agent_state_changed:PJSIP/agent1",
                "phone_registration:PJSIP/agent1",
                "queue_changed:support",
                "call_live:pbx1-1.1",
                "agent_state_changed:PJSIP/agent2",
            ],
        ),
        (MIA, "pbx2", ["agent_state_changed:PJSIP/agent2"]),
        (MIA, "pbx3", []),
    ],
)
def test_given_a_frame_when_a_user_takes_a_snapshot_then_they_see_what_the_audiences_admit(
    who: Principal, pbx: str | None, seen: list[str]
) -> None:
    mirror = Mirror(stale_after_s=15)
    mirror.frame("node-a/1/x", FRAME, now=100.0)
    assert _types(mirror.snapshot(who, 101.0, pbx)) == seen


def test_given_deltas_after_a_frame_when_a_user_connects_then_they_are_replayed_until_the_next_frame() -> (
    None
):
    mirror = Mirror(stale_after_s=15)
    mirror.frame("a", FRAME, now=0.0)
    ended = Message(
        ToAgentsAndSupervisors(frozenset({"PJSIP/agent1"}), frozenset({1})), {"type": "call_ended"}
    )
    ready = Message(
        ToAgentAndSupervisors("PJSIP/agent1", 1), {"type": "agent_state_changed", "state": "ready"}
    )
    other = Message(
        ToAgentAndSupervisors("PJSIP/agent2", 2), {"type": "agent_state_changed", "state": "paused"}
    )
    for m in (ended, other, ready):
        assert mirror.delta("a", m, now=1.0) is False  # framed: nothing wanted
    assert mirror.replay(ALICE, 2.0) == [ended, ready]
    assert mirror.replay(TOM, 2.0) == [other]
    assert mirror.replay(MIA, 2.0) == [ended, other, ready]
    mirror.frame("a", FRAME, now=3.0)  # the new frame holds them
    assert mirror.replay(MIA, 4.0) == []


@pytest.mark.parametrize(
    ("framed", "deltas", "replay_max", "wanted", "kept"),
    [
        (False, 1, 10, [True], 1),  # heard before any frame: kept, and a frame is wanted
        (True, 3, 10, [False, False, False], 3),
        (True, 3, 2, [False, False, True], 0),  # too many since the frame: dropped, a frame is wanted
    ],
)
def test_given_an_origin_when_deltas_arrive_then_its_full_state_is_wanted_when_none_or_too_many(
    framed: bool, deltas: int, replay_max: int, wanted: list[bool], kept: int
) -> None:
    mirror = Mirror(stale_after_s=15, replay_max=replay_max)
    if framed:
        mirror.frame("a", {}, now=0.0)
    assert [mirror.delta("a", QUEUE, now=1.0) for _ in range(deltas)] == wanted
    assert len(mirror.replay(MIA, 1.0)) == kept
    assert mirror.status(1.0)[0]["exact"] is (framed and all(not w for w in wanted))


@pytest.mark.parametrize(
    ("last_frame_at", "now", "kept"),
    [(0.0, 14.9, True), (0.0, 15.0, False), (10.0, 20.0, True), (10.0, 25.0, False)],
)
def test_given_an_origin_silent_when_the_bound_passes_then_its_entries_are_dropped(
    last_frame_at: float, now: float, kept: bool
) -> None:
    mirror = Mirror(stale_after_s=15)
    mirror.frame("a", FRAME, now=0.0)
    mirror.frame("a", FRAME, now=last_frame_at)
    mirror.delta("a", QUEUE, now=last_frame_at + 1)  # a delta is not a sign of life: only frames are
    assert bool(mirror.snapshot(MIA, now)) is kept
    assert bool(mirror.replay(MIA, now)) is kept
    assert [s["origin"] for s in mirror.status(now)] == (["a"] if kept else [])


def test_given_two_origins_when_one_leaves_then_only_its_entries_go() -> None:
    mirror = Mirror(stale_after_s=15)
    mirror.frame("a", {"pbx1": [AGENT1]}, now=0.0)
    mirror.frame("b", {"pbx2": [AGENT2]}, now=0.0)
    mirror.forget("a")
    assert _types(mirror.snapshot(MIA, 1.0)) == ["agent_state_changed:PJSIP/agent2"]


@pytest.mark.parametrize(
    "event",
    [
        AGENT1,
        PHONE1,
        POP1,
        QUEUE,
        Message(
            ToAgentsAndSupervisors(frozenset({"PJSIP/a", "PJSIP/b"}), frozenset({1, None})),
            {"type": "call_ended"},
        ),
        StateFrame({"pbx1": [AGENT1, PHONE1, QUEUE, CALL, POP1], "pbx2": []}),
        StateFrame({}),
        StateWanted(),
        NodeLeaving(),
    ],
)
def test_given_a_bus_event_when_encoded_and_decoded_then_it_comes_back_equal(event: object) -> None:
    assert decode(orjson.loads(encode(event))) == event  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body", [{}, {"a": ["nobody"], "p": {}}, {"a": ["sup"], "p": []}, {"s": {"x": [[["sup"], 1]]}}]
)
def test_given_a_body_that_is_no_bus_event_when_decoded_then_it_is_refused(body: object) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode(body)


def _link(pbx: str, up: bool, reason: str = "") -> Message:
    return Message(ToSupervisors(), {"type": "pbx_link", "pbx": pbx, "key": pbx, "up": up, "reason": reason})


@pytest.mark.parametrize(
    ("origins", "asked", "said"),
    [
        # n1 runs B: a desk on this node shows B's link as n1 says, whatever the audience
        ({"n1": ([_link("b", True)], [])}, "b", {"up": True, "reason": ""}),
        ({"n1": ([_link("b", True)], [])}, "a", None),  # nobody says anything of A
        # a delta after the frame is the origin's latest word
        ({"n1": ([_link("b", True)], [_link("b", False, "Connection refused")])}, "b", {"up": False}),
        # a dead owner's last frame says down, the new owner's says up: up
        ({"n1": ([_link("b", False)], []), "n2": ([_link("b", True)], [])}, "b", {"up": True}),
        ({"n2": ([_link("b", True)], []), "n1": ([_link("b", False)], [])}, "b", {"up": True}),
    ],
)
def test_given_the_nodes_state_when_a_servers_link_is_asked_then_the_node_running_it_is_believed(
    origins: dict[str, tuple[list[Message], list[Message]]], asked: str, said: dict[str, object] | None
) -> None:
    view = ClusterView(hub=None, every_s=5.0)  # type: ignore[arg-type]  # the hub plays no part here
    for origin, (frame, deltas) in origins.items():
        view.mirror.frame(origin, {"a": [AGENT1], "b": frame}, now=time.monotonic())
        for message in deltas:
            view.mirror.delta(origin, message, now=time.monotonic())
    got = view.link_elsewhere(asked)
    if said is None:
        assert got is None
    else:
        assert got is not None and {k: got[k] for k in said} == said


def test_given_a_silent_origin_when_its_state_goes_stale_then_its_link_is_no_longer_believed() -> None:
    mirror = Mirror(stale_after_s=15)
    mirror.frame("n1", {"b": [_link("b", True)]}, now=100.0)
    assert [(o, p["up"]) for o, p in mirror.payloads("pbx_link", now=114.0)] == [("n1", True)]
    assert mirror.payloads("pbx_link", now=115.0) == []
