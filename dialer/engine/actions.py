"""The Originate of one dialer call, as data: what the originate shell sends over AMI. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cti.ami_wire import AUTO_ANSWER
from dialer.engine.call_book import LiveCall
from dialer.messages import message_language, spoken_number

DIAL_CONTEXT = "plateau-dialer-dial"
ANSWERED_CONTEXT = "plateau-dialer-answered"
AGENT_CONTEXT = "plateau-dialer-agent"  # the agent's phone first, then the customer (preview, own callbacks)
AGENT_PICKUP_S = 20


@dataclass(frozen=True)
class Originate:
    """An AMI Originate with our own ChannelId (the call's Linkedid), so its events name the call."""

    channel: str
    context: str
    exten: str
    channel_id: str
    caller_id: str | None
    variables: dict[str, str]
    timeout_ms: int


def originate_for(call: LiveCall, campaign: dict[str, Any], ring_s: int) -> Originate:
    """The customer through `[plateau-dialer-answered]` (AMD, the queue), or, for an agent-first call, the
    agent's phone, which then dials the customer from `[plateau-dialer-agent]`."""
    if call.for_agent is None:
        return Originate(
            channel=f"Local/{call.e164}@{DIAL_CONTEXT}/n",
            context=ANSWERED_CONTEXT,
            exten="s",
            channel_id=call.channel_id,
            caller_id=f"<{campaign['caller_id']}>" if campaign["caller_id"] else None,
            variables=answered_variables(campaign, call, ring_s),
            timeout_ms=(ring_s + 10) * 1000,
        )
    return Originate(
        channel=call.for_agent,
        context=AGENT_CONTEXT,
        exten=call.e164,
        channel_id=call.channel_id,
        caller_id=f"<{call.e164}>",  # the agent's phone shows whom it is about to call
        variables={
            "PLATEAU_CALLER_ID": campaign["caller_id"] or "",
            "PLATEAU_CHANNEL_ID": call.channel_id,
            "PLATEAU_RING_S": str(ring_s),
            "PLATEAU_NUMBER": call.e164,
            **AUTO_ANSWER,  # the agent chose this lead: their browser phone takes the ring
        },
        timeout_ms=AGENT_PICKUP_S * 1000,
    )


def answered_variables(campaign: dict[str, Any], call: LiveCall, ring_s: int) -> dict[str, str]:
    """Channel variables of `[plateau-dialer-answered]`; every value is from a closed alphabet."""
    return {
        "PLATEAU_QUEUE": campaign["queue"],
        "PLATEAU_AMD": "1" if campaign["amd"] else "0",
        "PLATEAU_ABANDON_S": str(campaign["abandon_s"]),
        "PLATEAU_CHANNEL_ID": call.channel_id,
        "PLATEAU_RING_S": str(ring_s),
        "PLATEAU_NUMBER": call.e164,
        "PLATEAU_MACHINE_ACTION": campaign["machine_action"],
        "PLATEAU_CALLBACK_DIGITS": spoken_number(campaign["callback_number"], call.e164),
        "PLATEAU_MACHINE_SOUND": campaign["machine_sound"],
        "PLATEAU_ABANDON_SOUND": campaign["abandon_sound"],
        "PLATEAU_LANG": message_language(call.e164),
        # the campaign's recording (cti/recordings.py): no announcement unless the campaign names one,
        # since it would play before the agent is connected and count against the abandon time
        "PLATEAU_REC_POLICY": campaign["recording"],
        "PLATEAU_REC_SOUND": campaign["recording_sound"],
    }
