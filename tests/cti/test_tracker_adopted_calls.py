"""Calls adopted from a channel snapshot (a restart, a reconnect, a link taken over from another node): their
direction comes from their first channel whatever order Asterisk lists them in, and an agent's phone up on an
inbound call not known answered means it was answered while no one followed the server."""

from __future__ import annotations

import pytest

from cti.ami_wire import AmiEvent
from cti.events import CallAnswered, CallEnded, Direction
from cti.tracker import Tracker

TRUNK = {
    "Uniqueid": "pbx-b-1.1",
    "Linkedid": "pbx-b-1.1",
    "Channel": "PJSIP/trunk-00000001",
    "Exten": "5551000",
}


def _agent_leg(state: str) -> dict[str, str]:
    return {
        "Uniqueid": "pbx-b-1.2",
        "Linkedid": "pbx-b-1.1",
        "Channel": "PJSIP/agent2-00000002",
        "ChannelState": state,
    }


def _trunk(state: str = "6") -> dict[str, str]:
    return TRUNK | {"ChannelState": state, "CallerIDNum": "0612345678"}


def _hangup(uid: str, at: float) -> AmiEvent:
    return AmiEvent("Hangup", {"Uniqueid": uid, "Linkedid": "pbx-b-1.1", "Cause": "16"}, at)


@pytest.mark.parametrize(
    ("channels", "answered", "outcome"),
    [
        ([_trunk(), _agent_leg("6")], [("PJSIP/agent2", 50.0)], "answered"),
        ([_agent_leg("6"), _trunk()], [("PJSIP/agent2", 50.0)], "answered"),  # the agent's leg listed first
        ([_agent_leg("5"), _trunk()], [], "abandoned"),  # still ringing, then the caller hung up
        ([_trunk()], [], "abandoned"),
    ],
)
def test_given_an_inbound_call_listed_in_a_snapshot_when_it_ends_then_its_direction_and_answer_are_right(
    channels: list[dict[str, str]], answered: list[tuple[str, float]], outcome: str
) -> None:
    tracker = Tracker()

    out = tracker.resync_channels(channels, 50.0)
    for uid in [c["Uniqueid"] for c in channels]:
        out += tracker.feed(_hangup(uid, 60.0))

    assert [(e.agent, e.at) for e in out if isinstance(e, CallAnswered)] == answered
    (ended,) = [e for e in out if isinstance(e, CallEnded)]
    assert (ended.record.direction, ended.record.outcome) == (Direction.inbound, outcome)
    assert ended.record.agent == (answered[0][0] if answered else None)
