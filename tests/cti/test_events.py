"""Caller IDs come from strangers: what the tracker keeps of them."""

from __future__ import annotations

import pytest

from cti.events import AgentState, AgentStateChanged, CallerId, endpoint_of, to_wire, unescape_c


@pytest.mark.parametrize(
    ("num", "name", "expected"),
    [
        ("0612345678", "Ana", CallerId("0612345678", "Ana", False)),
        ("+33612345678", 'José \\"Pepe\\" Müller', CallerId("+33612345678", 'José "Pepe" Müller', False)),
        ("<unknown>", "<unknown>", CallerId(None, None, True)),
        ("anonymous", "Anonymous", CallerId(None, None, True)),
        ("", "", CallerId(None, None, True)),
        ("<injected>", "Mallory", CallerId(None, "Mallory", False)),
        ("0612' OR 1=1", "x", CallerId(None, "x", False)),
        ("1" * 40, "long", CallerId(None, "long", False)),
        ("*31#0612345678", "", CallerId("*31#0612345678", None, False)),
        ("0612345678", "A" * 500, CallerId("0612345678", "A" * 200, False)),
        ("0612345678", "Eve\\rFake: injected", CallerId("0612345678", "Eve Fake: injected", False)),
        ("0612345678", "\\r\\nEve\\tAdams\\n", CallerId("0612345678", "Eve Adams", False)),
        ("0612345678", "<injected>", CallerId("0612345678", "<injected>", False)),
    ],
    ids=[
        "plain",
        "escaped-name",
        "unknown",
        "anonymous",
        "empty",
        "stitched",
        "sql",
        "too-long",
        "feature-code",
        "long-name",
        "escaped-cr-in-name",
        "escaped-controls-in-name",
        "stitched-name",
    ],
)
def test_given_a_caller_id_from_the_trunk_when_read_then_only_a_phone_like_number_is_kept(
    num, name, expected
):
    assert CallerId.from_ami(num, name) == expected


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("abc", "abc"),
        ('a\\"b', 'a"b'),
        ("a\\\\b", "a\\b"),
        ("tab\\tend", "tab\tend"),
        ("trailing\\", "trailing"),
    ],
)
def test_given_an_asterisk_escaped_name_when_unescaped_then_it_reads_as_typed(raw, plain):
    assert unescape_c(raw) == plain


@pytest.mark.parametrize(
    ("channel", "endpoint"),
    [
        ("PJSIP/agent1-0000002a", "PJSIP/agent1"),
        ("PJSIP/my-trunk-00000001", "PJSIP/my-trunk"),
        ("Local/7002@plateau-transfer-00000000;1", "Local/7002@plateau-transfer"),
        ("agent1", "agent1"),
    ],
)
def test_given_a_channel_name_when_reduced_then_the_device_is_what_queues_know(channel, endpoint):
    assert endpoint_of(channel) == endpoint


def test_given_a_domain_event_when_put_on_the_wire_then_it_has_a_snake_case_type_and_plain_values():
    wire = to_wire(AgentStateChanged("PJSIP/agent1", AgentState.paused, "lunch", 1.5, ("support",)), {"x": 1})
    assert wire == {
        "type": "agent_state_changed",
        "agent": "PJSIP/agent1",
        "state": "paused",
        "reason": "lunch",
        "since": 1.5,
        "queues": ["support"],
        "linkedid": None,
        "x": 1,
    }
