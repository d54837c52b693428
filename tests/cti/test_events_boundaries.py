"""Caller IDs, escapes, channel names and the wire form: each rule at its edges, in tables."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cti.events import (
    AgentState,
    AgentStateChanged,
    CallEnded,
    CallerId,
    CallRecord,
    Direction,
    QueueChanged,
    endpoint_of,
    to_wire,
    unescape_c,
)


@pytest.mark.parametrize(
    ("num", "name", "expected"),
    [
        ("  0612345678 ", " Jo ", CallerId("0612345678", "Jo", False)),
        ("+33612345678", "", CallerId("+33612345678", None, False)),
        ("*31#", "x", CallerId("*31#", "x", False)),
        ("1" * 32, "x", CallerId("1" * 32, "x", False)),
        ("1" * 33, "x", CallerId(None, "x", False)),
        ("", "x", CallerId(None, "x", True)),
        ("anonymous", "Anonymous", CallerId(None, None, True)),
        ("0612345678", "unknown", CallerId("0612345678", None, False)),
        ("06 12", "x", CallerId(None, "x", False)),
        ("++33", "x", CallerId(None, "x", False)),
        ("0612345678", "a" * 199, CallerId("0612345678", "a" * 199, False)),
        ("0612345678", "a" * 200, CallerId("0612345678", "a" * 200, False)),
        ("0612345678", "a" * 201, CallerId("0612345678", "a" * 200, False)),
        ("0612345678", ' \\"Pepe\\" ', CallerId("0612345678", '"Pepe"', False)),
    ],
)
def test_given_a_caller_id_when_read_then_number_and_name_are_kept_only_within_their_rules(
    num: str, name: str, expected: CallerId
) -> None:
    assert CallerId.from_ami(num, name) == expected


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("\\n", "\n"),
        ("\\t", "\t"),
        ("\\r", "\r"),
        ("\\\\", "\\"),
        ('\\"', '"'),
        ("\\'", "'"),
        ("\\?", "?"),
        ("\\a", "\a"),
        ("\\b", "\b"),
        ("\\f", "\f"),
        ("\\v", "\v"),
        ("\\z", "z"),
        ("end\\", "end"),
        ("a\\tb\\nc", "a\tb\nc"),
        ("plain", "plain"),
    ],
)
def test_given_each_c_escape_when_unescaped_then_it_becomes_its_character(raw: str, plain: str) -> None:
    assert unescape_c(raw) == plain


@pytest.mark.parametrize(
    ("channel", "endpoint"),
    [
        ("PJSIP/agent1-0000002a", "PJSIP/agent1"),
        ("PJSIP/my-trunk-0000002a", "PJSIP/my-trunk"),
        ("PJSIP/agent1", "PJSIP/agent1"),
        ("agent-1", "agent-1"),
        ("-0001", "-0001"),
        ("", ""),
    ],
)
def test_given_a_channel_name_when_reduced_then_only_the_last_dash_part_goes(
    channel: str, endpoint: str
) -> None:
    assert endpoint_of(channel) == endpoint


def test_given_nested_events_when_put_on_the_wire_then_records_become_dicts_and_tuples_lists() -> None:
    record = CallRecord(
        linkedid="L1",
        direction=Direction.inbound,
        caller=CallerId("0612345678", "Jo", False),
        called_number="5551000",
        queue="support",
        agent="PJSIP/agent1",
        offered_at=1.0,
        answered_at=2.0,
        ended_at=3.0,
        wait_s=1.0,
        talk_s=1.0,
        hold_s=0.0,
        outcome="answered",
        hangup_cause=16,
        agents_rung=("PJSIP/agent1",),
    )
    wire = to_wire(CallEnded(record, ("PJSIP/agent1",)), {"seq": 7})
    assert wire["type"] == "call_ended"
    assert wire["agents"] == ["PJSIP/agent1"]
    assert wire["seq"] == 7
    assert wire["record"]["caller"] == {"number": "0612345678", "name": "Jo", "withheld": False}
    assert wire["record"]["agents_rung"] == ["PJSIP/agent1"]
    assert wire["record"]["transfers"] == []
    assert wire["record"]["direction"] == "inbound"
    # twice: the second use comes from the per-class cache and must be the same
    state = AgentStateChanged("PJSIP/agent1", AgentState.ready, None, 5.0, ("a", "b"))
    for _ in range(2):
        assert to_wire(state) == {
            "type": "agent_state_changed",
            "agent": "PJSIP/agent1",
            "state": "ready",
            "reason": None,
            "since": 5.0,
            "queues": ["a", "b"],
            "linkedid": None,
        }
    assert to_wire(QueueChanged("q", 0, None, 1.0)) == {
        "type": "queue_changed",
        "queue": "q",
        "waiting": 0,
        "oldest_since": None,
        "at": 1.0,
    }


def test_given_an_event_class_never_sent_before_when_put_on_the_wire_then_its_type_comes_from_its_name() -> (
    None
):
    @dataclass(frozen=True)
    class PopShownToAgent:  # a class of this test only: nothing cached for it yet
        agent: str
        lines: tuple[str, ...]

    first = to_wire(PopShownToAgent("PJSIP/agent1", ("a",)))
    assert first == {"type": "pop_shown_to_agent", "agent": "PJSIP/agent1", "lines": ["a"]}
    assert to_wire(PopShownToAgent("PJSIP/agent2", ())) == {
        "type": "pop_shown_to_agent",
        "agent": "PJSIP/agent2",
        "lines": [],
    }
