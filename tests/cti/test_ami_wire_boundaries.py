"""The AMI reader's rules one at a time: header order, repeats, snapshot shapes, sizes, banner, responses."""

from __future__ import annotations

import pytest

from cti.ami_wire import MAX_BLOCK, SNAPSHOT, AmiEvent, AmiReader, AmiResponse

VALUES = {
    "Channel": "PJSIP/trunk-00000001",
    "ChannelState": "6",
    "ChannelStateDesc": "Up",
    "CallerIDNum": "0612345678",
    "CallerIDName": "Ana",
    "ConnectedLineNum": "<unknown>",
    "ConnectedLineName": "<unknown>",
    "Language": "fr",
    "AccountCode": "",
    "Context": "plateau-queue",
    "Exten": "s",
    "Priority": "1",
    "Uniqueid": "p-1.1",
    "Linkedid": "p-1.1",
}


def snap(prefix: str = "", keys: tuple[str, ...] = SNAPSHOT) -> str:
    return "".join(f"{prefix}{k}: {VALUES[k]}\r\n" for k in keys)


def event(name: str, body: str, ts: str = "1795415613.25") -> str:
    return f"Event: {name}\r\nPrivilege: call,all\r\nTimestamp: {ts}\r\n{body}\r\n"


def read(text: str, **kw: bool) -> tuple[list[AmiEvent | AmiResponse], AmiReader]:
    reader = AmiReader(**kw)
    return reader.feed(text.encode()), reader


BAD = {"bad_snapshot": 1}


@pytest.mark.parametrize(
    ("body", "whole", "dropped"),
    [
        (snap(), True, {}),
        (snap() + snap("Dest"), True, {}),  # two snapshots, each complete
        (snap("Dest"), True, {}),
        (snap(keys=SNAPSHOT[:-1]) + "Cause: 16\r\n", False, BAD),  # Linkedid missing
        (snap(keys=(*SNAPSHOT[1:2], SNAPSHOT[0], *SNAPSHOT[2:])), False, BAD),  # the rest without its start
        (snap(keys=(*SNAPSHOT[:2], *SNAPSHOT[3:], SNAPSHOT[2])), False, BAD),  # out of order
        # the second one cut after a caller-ID field: what follows is read as injected into it
        (snap() + snap("Dest", SNAPSHOT[:5]) + "Cause: 16\r\n", False, {"injected_lines": 1, "injected": 1}),
        (snap("Dest") + snap("Dest2", SNAPSHOT[:2]) + "X: 1\r\n", False, BAD),
        ("Cause: 16\r\n", True, {}),  # no snapshot at all
    ],
)
def test_given_snapshots_of_any_shape_when_read_then_only_complete_ordered_ones_pass(
    body: str, whole: bool, dropped: dict[str, int]
) -> None:
    out, reader = read(event("Hangup", body) + "\r\n")
    assert (len(out) == 1) is whole
    assert reader.dropped == dropped
    assert reader.events == (1 if whole else 0)


def test_given_the_same_shape_twice_when_read_then_the_remembered_answer_is_the_same() -> None:
    bad = event("Hangup", snap(keys=SNAPSHOT[:-1]) + "Cause: 16\r\n") + "\r\n"
    good = event("Hangup", snap()) + "\r\n"
    out, reader = read(bad + good + bad + good)
    assert len(out) == 2 and reader.dropped == {"bad_snapshot": 2}


def test_given_an_originate_response_when_it_carries_caller_id_without_a_snapshot_then_it_passes() -> None:
    out, _ = read(event("OriginateResponse", "CallerIDNum: 0612345678\r\nCallerIDName: x\r\n") + "\r\n")
    assert [m.name for m in out if isinstance(m, AmiEvent)] == ["OriginateResponse"]


@pytest.mark.parametrize(
    ("key", "kept"),
    [
        ("ChanVariable", True),
        ("DestChanVariable", True),
        ("Variable", True),
        ("Output", True),
        ("Cause", False),
    ],
)
def test_given_a_repeated_header_when_read_then_only_those_asterisk_repeats_pass(
    key: str, kept: bool
) -> None:
    out, reader = read(event("Hangup", snap() + f"{key}: a=1\r\n{key}: b=2\r\n") + "\r\n")
    assert (len(out) == 1) is kept
    if kept:
        assert out[0].get(key) == "b=2", "the last value stands in the event's headers"
    else:
        assert reader.dropped == {"duplicate_header": 1}


def test_given_a_response_with_repeated_keys_when_read_then_every_value_is_kept_in_order() -> None:
    out, _ = read("Response: Follows\r\nActionID: 7\r\nLine: one\r\nLine: two\r\nLine: three\r\n\r\n")
    assert out == [AmiResponse({"Response": "Follows", "ActionID": "7", "Line": ["one", "two", "three"]})]
    out, _ = read("Response: Follows\r\nActionID: 7\r\nOutput: one\r\nOutput: two\r\n\r\n")
    assert out == [AmiResponse({"Response": "Follows", "ActionID": "7", "Output": "two"})], "a repeatable key"
    out, _ = read("Response: Success\r\nActionID: 8\r\nMessage: ok\r\n\r\n")
    assert out == [AmiResponse({"Response": "Success", "ActionID": "8", "Message": "ok"})]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Event: QueueMember\r\nActionID: a\r\nQueue: q\r\n\r\n", AmiResponse),  # a list item
        ("Event: QueueMember\r\nPrivilege: agent,all\r\nActionID: a\r\nTimestamp: 1.0\r\n\r\n", None),
        ("Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: ok\r\n\r\n", AmiEvent),  # no Timestamp: fine
    ],
)
def test_given_list_items_and_booted_when_read_then_each_goes_where_it_belongs(
    text: str, kind: type | None
) -> None:
    out, reader = read(text)
    assert [type(m) for m in out] == ([kind] if kind else [])
    if kind is None:
        assert reader.dropped == {"no_timestamp": 1}


def test_given_timestamps_not_required_when_read_then_events_pass_without_one_and_ts_is_zero() -> None:
    out, _ = read("Event: Hangup\r\nPrivilege: call,all\r\n" + snap() + "\r\n", require_timestamp=False)
    assert [(m.name, m.ts) for m in out] == [("Hangup", 0.0)]
    out, _ = read(event("Hangup", snap(), ts="12.5") + "\r\n", require_timestamp=False)
    assert out[0].ts == 0.0, "not required: not read either"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Event: Hangup\r\n\r\n", "no_privilege"),
        ("Event: Hangup\r\nPrivilege: call,all\r\n\r\n", "no_timestamp"),
        ("Event: Hangup\r\nCause: 1\r\nPrivilege: call,all\r\nTimestamp: 1\r\n\r\n", "no_privilege"),
        ("Event: Hangup\r\nPrivilege: call,all\r\nCause: 1\r\nTimestamp: 1\r\n\r\n", "no_timestamp"),
    ],
)
def test_given_headers_out_of_their_place_when_read_then_the_first_missing_one_is_named(
    text: str, reason: str
) -> None:
    out, reader = read(text)
    assert out == [] and reader.dropped == {reason: 1}


def test_given_lines_without_a_colon_or_with_empty_values_when_read_then_keys_keep_empty_values() -> None:
    out, _ = read(event("Hangup", snap() + "garbage line\r\nCause:\r\nCause-txt: x:y\r\n") + "\r\n")
    (ev,) = out
    assert (ev.get("Cause"), ev.get("Cause-txt"), ev.get("AccountCode"), ev.get("Missing", "d")) == (
        "",
        "x:y",
        "",
        "d",
    )
    assert read("no colon here\r\n\r\n")[0] == []


def test_given_a_block_at_the_size_limit_when_read_in_pieces_then_only_a_larger_one_is_dropped() -> None:
    reader = AmiReader()
    assert reader.feed(b"X" * MAX_BLOCK) == []
    assert not reader.dropped
    assert reader.feed(b"X") == []
    assert reader.dropped == {"oversized": 1}
    out = reader.feed((event("Hangup", snap()) + "\r\n").encode())
    assert [m.name for m in out] == ["Hangup"], "the reader goes on after the oversized block"


def test_given_a_banner_split_across_reads_when_read_then_it_is_recognised_once() -> None:
    reader = AmiReader()
    assert reader.feed(b"Asterisk Call Manager/5.0") == []
    assert reader.banner is None
    out = reader.feed(b".4\r\nResponse: Success\r\nActionID: 1\r\n\r\n")
    assert reader.banner == "Asterisk Call Manager/5.0.4"
    assert out == [AmiResponse({"Response": "Success", "ActionID": "1"})]


def test_given_a_new_connection_when_reset_then_a_half_block_and_the_banner_are_forgotten() -> None:
    reader = AmiReader()
    reader.feed(b"Asterisk Call Manager/5.0.4\r\n" + event("Hangup", snap()).encode()[:40])
    reader.reset()
    assert reader.banner is None
    out = reader.feed(b"Asterisk Call Manager/6.0.0\r\n" + (event("Hangup", snap()) + "\r\n").encode())
    assert reader.banner == "Asterisk Call Manager/6.0.0"
    assert [m.name for m in out] == ["Hangup"]
    assert not reader.dropped
