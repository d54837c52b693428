"""The Originate of a dialer call, as data: to the customer through the queue, or agent first."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cti.ami_wire import AUTO_ANSWER
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


SETTINGS: dict[str, Any] = CAMPAIGN | {
    "callback_number": "+33140000000",
    "machine_sound": "plateau/custom/machine-7",
    "abandon_sound": "plateau/custom/abandon-7",
    "recording": "agent",
    "recording_sound": "plateau/custom/rec-7",
}


@pytest.mark.parametrize(
    ("amd", "number", "amd_flag", "digits", "lang"),
    [
        (True, NUMBER, "1", "0140000000", "fr"),  # same numbering plan: the national form
        (False, "+14155550100", "0", "0033140000000", "en"),  # abroad: the international form
    ],
    ids=["french_customer_with_amd", "us_customer_without_amd"],
)
def test_given_a_queue_call_when_built_then_every_variable_of_the_answered_dialplan_is_set(
    amd: bool, number: str, amd_flag: str, digits: str, lang: str
) -> None:
    call = replace(live_call("dial-0042"), e164=number)

    action = originate_for(call, SETTINGS | {"amd": amd}, ring_s=25)

    assert action.variables == {
        "PLATEAU_QUEUE": "sales",
        "PLATEAU_AMD": amd_flag,
        "PLATEAU_ABANDON_S": "2",
        "PLATEAU_CHANNEL_ID": "dial-0042",
        "PLATEAU_RING_S": "25",
        "PLATEAU_NUMBER": number,
        "PLATEAU_MACHINE_ACTION": "message",
        "PLATEAU_CALLBACK_DIGITS": digits,
        "PLATEAU_MACHINE_SOUND": "plateau/custom/machine-7",
        "PLATEAU_ABANDON_SOUND": "plateau/custom/abandon-7",
        "PLATEAU_LANG": lang,
        "PLATEAU_REC_POLICY": "agent",
        "PLATEAU_REC_SOUND": "plateau/custom/rec-7",
    }


@pytest.mark.parametrize(
    ("caller_id", "passed"), [("0140000000", "0140000000"), (None, "")], ids=["set", "none"]
)
def test_given_an_agent_first_call_when_built_then_the_agent_dialplan_gets_the_number_and_caller_id(
    caller_id: str | None, passed: str
) -> None:
    call = live_call("dial-0042", for_agent="PJSIP/agent1")

    action = originate_for(call, CAMPAIGN | {"caller_id": caller_id}, ring_s=20)

    assert action.variables == {
        "PLATEAU_CALLER_ID": passed,
        "PLATEAU_CHANNEL_ID": "dial-0042",
        "PLATEAU_RING_S": "20",
        "PLATEAU_NUMBER": NUMBER,
        **AUTO_ANSWER,
    }
