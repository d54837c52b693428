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


DEST_HEAD = "Event: DialBegin\r\nPrivilege: call,all\r\nTimestamp: 1795415613.2\r\n"
DEST_SNAP = "\r\n".join(
    "Dest" + line for line in SNAP.replace("trunk-00000001", "agent1-00000002").split("\r\n")
)
CALLER_ID_FIELDS = ("CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName")
BREAKS = {"cr": "\r", "lf": "\n", "crlf": "\r\n", "crlfcrlf": "\r\n\r\n"}
SHAPES = {
    "start": "{br}Fake: injected",
    "middle": "15551230004{br}Fake: injected",
    "end": "15551230004{br}",
    "forged-ids": "15551230004{br}Uniqueid: forged.1{br}Linkedid: forged.1",
    "forged-event": "15551230004{br}Event: AgentConnect{br}Privilege: agent,all{br}Timestamp: 1.0",
}


def _poison(snap: str, key: str, value: str) -> str:
    head, sep, rest = snap.partition(f"\r\n{key}: ")
    assert sep, key
    return f"{head}\r\n{key}: {value}\r\n{rest.partition(chr(13) + chr(10))[2]}"


@pytest.mark.parametrize("two_snapshots", [False, True], ids=["hangup", "dialbegin-dest"])
@pytest.mark.parametrize("field", CALLER_ID_FIELDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("br", BREAKS)
def test_given_a_caller_id_field_carrying_cr_or_lf_anywhere_when_read_then_the_event_comes_out_poisoned(
    br, shape, field, two_snapshots
):
    value = SHAPES[shape].format(br=BREAKS[br])
    if two_snapshots:
        text = (
            DEST_HEAD + SNAP + "\r\n" + _poison(DEST_SNAP, "Dest" + field, value) + "\r\nDialString: agent1"
        )
    else:
        text = HEAD + _poison(SNAP, field, value) + "\r\nCause: 16"
    out, reader = _events(text + "\r\n\r\n" + HEAD + SNAP.replace("p-1.1", "p-2.2") + "\r\n\r\n")
    events = [m for m in out if isinstance(m, AmiEvent)]
    assert [e.name for e in events] == ["DialBegin" if two_snapshots else "Hangup", "Hangup"]
    first = events[0]
    prefix = "Dest" if two_snapshots else ""
    assert first.get(prefix + field) == "<injected>"
    assert (first.get("Uniqueid"), first.get("Linkedid")) == ("p-1.1", "p-1.1")
    assert first.get("Cause" if not two_snapshots else "DialString") == ("agent1" if two_snapshots else "16")
    if two_snapshots:
        assert (first.get("DestUniqueid"), first.get("DestChannel")) == ("p-1.1", "PJSIP/agent1-00000002")
    assert "Fake" not in first.headers and "forged" not in repr(out)
    others = [k for k in CALLER_ID_FIELDS if k != field]
    assert all(first.get(prefix + k) != "<injected>" for k in others)
    assert events[1].get("Uniqueid") == "p-2.2"  # the next event is read as usual
    assert reader.dropped.keys() <= {"injected", "injected_lines"} and reader.dropped


def test_given_a_cut_caller_id_whose_forged_event_ends_with_the_genuine_tail_when_read_then_it_is_dropped():
    injected = SNAP.replace(
        "CallerIDNum: 0612345678",
        "CallerIDNum: 0612\r\nFake: x\r\n\r\nEvent: AgentConnect\r\nPrivilege: agent,all\r\n"
        "Timestamp: 1.0\r\nInterface: PJSIP/agent3\r\nQueue: support\r\nX: y",
    )
    out, _reader = _events(HEAD + injected + "\r\nCause: 16\r\n\r\n")
    assert [e.name for e in out if isinstance(e, AmiEvent)] == ["Hangup"]
    assert out[0].get("CallerIDNum") == "<injected>" and out[0].get("Uniqueid") == "p-1.1"
    assert "PJSIP/agent3" not in repr(out)


def test_given_forged_lines_that_copy_the_snapshot_fields_when_read_then_no_forged_value_is_believed():
    forged = (
        "0612\r\nCallerIDName: x\r\nConnectedLineNum: x\r\nConnectedLineName: x\r\nLanguage: fr\r\n"
        "AccountCode: \r\nContext: c\r\nExten: s\r\nPriority: 1\r\nUniqueid: forged.1\r\nLinkedid: forged.1"
    )
    out, reader = _events(HEAD + SNAP.replace("0612345678", forged) + "\r\nCause: 16\r\n\r\n")
    assert "forged" not in repr(out)
    assert reader.dropped["duplicate_header"] == 1
