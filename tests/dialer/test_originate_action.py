"""The Originate of a dialer call, as data: to the customer through the queue, or agent first."""

from __future__ import annotations

from typing import Any

import pytest

from dialer.engine.actions import originate_for
from tests.dialer.transcripts import NUMBER, live_call

CAMPAIGN: dict[str, Any] = {
    "id": 7,
    "name": "spring",
    "script": None,
    "caller_id": "0140000000",
    "callback_number": "0140000000",
    "machine_sound": "",
    "abandon_sound": "",
    "amd": True,
    "machine_action": "message",
    "queue": "sales",
    "abandon_s": 2,
    "recording": "none",
    "recording_sound": "",
}


@pytest.mark.parametrize(
    ("for_agent", "channel", "context", "exten", "caller_id", "timeout_ms"),
    [
        (
            None,
            f"Local/{NUMBER}@plateau-dialer-dial/n",
            "plateau-dialer-answered",
            "s",
            "<0140000000>",
            30_000,
        ),
        ("PJSIP/agent1", "PJSIP/agent1", "plateau-dialer-agent", NUMBER, f"<{NUMBER}>", 20_000),
    ],
    ids=["through_the_queue", "agent_first"],
)
def test_given_a_call_when_its_originate_is_built_then_it_carries_our_channel_id(
    for_agent: str | None, channel: str, context: str, exten: str, caller_id: str, timeout_ms: int
) -> None:
    call = live_call("dial-0042", for_agent=for_agent)

    action = originate_for(call, CAMPAIGN, ring_s=20)

    assert (action.channel, action.context, action.exten) == (channel, context, exten)
    assert (action.channel_id, action.caller_id, action.timeout_ms) == ("dial-0042", caller_id, timeout_ms)
    assert action.variables["PLATEAU_CHANNEL_ID"] == "dial-0042"
    assert action.variables["PLATEAU_RING_S"] == "20"


def test_given_a_queue_call_when_built_then_the_answered_dialplan_gets_the_campaigns_settings() -> None:
    action = originate_for(live_call("dial-0042"), CAMPAIGN | {"caller_id": None}, ring_s=25)

    assert action.caller_id is None
    assert {k: action.variables[k] for k in ("PLATEAU_QUEUE", "PLATEAU_AMD", "PLATEAU_ABANDON_S")} == {
        "PLATEAU_QUEUE": "sales",
        "PLATEAU_AMD": "1",
        "PLATEAU_ABANDON_S": "2",
    }
    assert action.timeout_ms == 35_000
