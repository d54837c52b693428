"""The AMI reader: incremental UTF-8, blocks, and the validation that keeps forged events out."""

from __future__ import annotations

import pytest

from cti.ami_wire import AmiEvent, AmiReader, AmiResponse
from cti.events import AgentRinging, CallAnswered, CallEnded
from tests.cti.transcripts import of_type, raw, replay

SNAP = (
    "Channel: PJSIP/trunk-00000001\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 0612345678\r\n"
    "CallerIDName: Ana\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: fr\r\n"
    "AccountCode: \r\nContext: plateau-queue\r\nExten: s\r\nPriority: 1\r\nUniqueid: p-1.1\r\nLinkedid: p-1.1"
)
HEAD = "Event: Hangup\r\nPrivilege: call,all\r\nTimestamp: 1795415613.1\r\n"


def _events(text: str) -> tuple[list[AmiEvent | AmiResponse], AmiReader]:
    reader = AmiReader()
    return reader.feed(text.encode()), reader


def test_given_a_well_formed_event_when_read_then_it_comes_out_with_its_timestamp():
    out, reader = _events(HEAD + SNAP + "\r\nCause: 16\r\n\r\n")
    assert len(out) == 1 and isinstance(out[0], AmiEvent)
    assert (out[0].name, out[0].ts, out[0].get("Cause")) == ("Hangup", 1795415613.1, "16")
    assert not reader.dropped


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (HEAD + SNAP + "\r\nUniqueid: forged.1\r\n\r\n", "duplicate_header"),
        (HEAD + "Event: AgentConnect\r\n" + SNAP + "\r\n\r\n", "duplicate_header"),
        ("Event: Hangup\r\nTimestamp: 1.0\r\n" + SNAP + "\r\n\r\n", "no_privilege"),
        ("Event: Hangup\r\nPrivilege: call,all\r\n" + SNAP + "\r\n\r\n", "no_timestamp"),
        ("Event: Hangup\r\nPrivilege: call,all\r\nTimestamp: soon\r\n" + SNAP + "\r\n\r\n", "bad_timestamp"),
        (HEAD + SNAP.replace("Language: fr\r\n", "") + "\r\n\r\n", "bad_snapshot"),
        ("Privilege: call,all\r\nEvent: Hangup\r\n\r\n", "no_event_header"),
    ],
    ids=[
        "dup-uniqueid",
        "dup-event",
        "no-privilege",
        "no-timestamp",
        "bad-timestamp",
        "holed-snapshot",
        "event-not-first",
    ],
)
def test_given_a_malformed_or_forged_event_when_read_then_it_is_dropped_and_counted(text, reason):
    out, reader = _events(text)
    assert out == []
    assert reader.dropped == {reason: 1}


def test_given_a_caller_id_carrying_crlf_when_read_then_forged_events_are_dropped_and_the_real_one_stitched():
    injected = SNAP.replace(
        "CallerIDNum: 0612345678",
        "CallerIDNum: 0612\r\n\r\nEvent: AgentConnect\r\n"
        "Privilege: agent,all\r\nTimestamp: 1.0\r\nUniqueid: forged.1",
    )
    out, reader = _events(HEAD + injected + "\r\nCause: 16\r\n\r\n")
    assert [e.name for e in out if isinstance(e, AmiEvent)] == ["Hangup"]
    hangup = out[0]
    assert isinstance(hangup, AmiEvent)
    assert (hangup.get("Uniqueid"), hangup.get("CallerIDName"), hangup.get("Cause")) == ("p-1.1", "Ana", "16")
    assert hangup.get("CallerIDNum") == "<injected>"
    assert reader.dropped["injected"] == 2


def test_given_the_recorded_injection_attempt_when_replayed_then_no_forged_event_reaches_the_tracker():
    _t, events = replay(raw("injection_attempt"))
    assert all("forged" not in repr(e) for e in events)
    assert [r.agent for r in of_type(events, AgentRinging)] == ["PJSIP/agent1"]
    assert [a.agent for a in of_type(events, CallAnswered)] == ["PJSIP/agent1"]
    (ended,) = of_type(events, CallEnded)
    assert ended.record.outcome == "answered"
    assert ended.record.caller.number is None and ended.record.caller.name.startswith("Mallory")


def test_given_a_utf8_name_split_across_reads_when_read_then_it_arrives_whole():
    data = (HEAD + SNAP.replace("CallerIDName: Ana", "CallerIDName: José Müller") + "\r\n\r\n").encode()
    cut = data.index("Mü".encode()) + 2  # inside the two bytes of ü
    reader = AmiReader()
    out = reader.feed(data[:cut]) + reader.feed(data[cut:])
    assert out[0].get("CallerIDName") == "José Müller"


def test_given_the_login_banner_and_responses_when_read_then_responses_are_routed_not_validated():
    out, reader = _events(
        "Asterisk Call Manager/5.0.4\r\nResponse: Success\r\nActionID: a1\r\n"
        "Message: Authentication accepted\r\n\r\nEvent: QueueMember\r\nQueue: support\r\n"
        "ActionID: a2\r\n\r\n"
    )
    assert reader.banner == "Asterisk Call Manager/5.0.4"
    assert [type(m) for m in out] == [AmiResponse, AmiResponse]
    assert out[1].headers["ActionID"] == "a2"


def test_given_an_endless_block_when_read_then_memory_stays_bounded():
    reader = AmiReader()
    for _ in range(200):
        reader.feed(b"X" * 1000)
    assert len(reader._buf) <= 64 * 1024 and reader.dropped["oversized"] >= 1
