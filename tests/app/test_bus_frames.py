"""The bus between nodes, its pure parts: events cut into NOTIFY frames under 8000 bytes (the too-large ones
spilled to rows), frames read back, a receiver's numbering (duplicates dropped, gaps counted), and the wire
form of a hub message."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from app.cluster_bus import ControlAsked, ControlDone, decode, encode
from core.bus import Message, ToAgent, ToAgentAndSupervisors, ToAgentsAndSupervisors, ToSupervisors
from core.bus_frames import NOTIFY_MAX_BYTES, Sequencer, pack, read


def _event(n: int, size: int, char: str = "x") -> bytes:
    """A JSON event of about `size` characters."""
    return json.dumps({"n": n, "pad": char * max(0, size - 20)}, ensure_ascii=False).encode()


def _unpack(frames: list[Any], spilled_rows: dict[int, str] | None = None) -> list[Any]:
    """Every event of the frames, in order, spilled ones read back from their rows."""
    rows = {seq: text for f in frames for seq, text in f.spilled}
    out = []
    for f in frames:
        heard = read(f.text)
        for i, e in enumerate(heard.events):
            out.append(json.loads(rows[heard.first_seq + i]) if i in heard.refs else e)
    return out


@pytest.mark.parametrize(
    ("sizes", "limit", "frames", "spilled"),
    [
        ([], NOTIFY_MAX_BYTES, 0, 0),
        ([100], NOTIFY_MAX_BYTES, 1, 0),
        ([300] * 20, NOTIFY_MAX_BYTES, 1, 0),  # 6 kB: one frame
        ([300] * 30, NOTIFY_MAX_BYTES, 2, 0),  # 9 kB: two
        ([9000], NOTIFY_MAX_BYTES, 1, 1),  # alone too large: a row, its frame a reference
        ([100, 9000, 100], NOTIFY_MAX_BYTES, 1, 1),  # in its place between the others
        ([7990], NOTIFY_MAX_BYTES, 1, 1),  # fits the limit, not with the frame's own bytes
        ([60] * 10, 200, 5, 0),  # small limit: two events a frame
        ([300, 60], 200, 1, 1),
    ],
)
def test_given_events_when_packed_then_frames_fit_and_carry_every_event_in_order(
    sizes: list[int], limit: int, frames: int, spilled: int
) -> None:
    events = [_event(i, s) for i, s in enumerate(sizes)]
    packed = pack("node-a/1/ab", 41, events, limit)
    assert len(packed) == frames
    assert sum(len(f.spilled) for f in packed) == spilled
    assert all(len(f.text.encode()) <= limit for f in packed)
    assert _unpack(packed) == [json.loads(e) for e in events]
    starts = [41 + sum(f.count for f in packed[:i]) for i in range(len(packed))]
    assert [f.first_seq for f in packed] == starts


def test_given_multibyte_text_when_packed_then_the_limit_counts_bytes_not_characters() -> None:
    events = [_event(i, 1000, "é") for i in range(10)]  # ~2 kB each in UTF-8, ~1 kB in characters
    assert len(events[0]) > 1.9 * len(events[0].decode())
    packed = pack("n", 1, events)
    assert all(len(f.text.encode()) <= NOTIFY_MAX_BYTES for f in packed)
    assert len(packed) >= 3
    assert _unpack(packed) == [json.loads(e) for e in events]


@pytest.mark.parametrize("seed", range(20))
def test_given_random_event_sizes_when_packed_then_no_frame_is_over_the_limit_and_nothing_is_lost(
    seed: int,
) -> None:
    rng = random.Random(seed)
    limit = rng.choice([150, 400, 1000, NOTIFY_MAX_BYTES])
    events = [_event(i, rng.choice([20, 60, 200, 700, 3000, 9000])) for i in range(rng.randint(1, 80))]
    packed = pack("node/7/ff", 1, events, limit)
    assert all(len(f.text.encode()) <= limit for f in packed)
    assert sum(f.count for f in packed) == len(events)
    assert _unpack(packed) == [json.loads(e) for e in events]


def test_given_a_limit_too_small_for_a_reference_when_packed_then_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        pack("a-long-node-name", 1, [_event(0, 500)], 40)


@pytest.mark.parametrize(
    "payload",
    ["", "nope", "[]", '{"n":1,"s":1,"e":[]}', '{"n":"a","s":"1","e":[]}', '{"n":"a","s":1,"e":{}}'],
)
def test_given_a_notification_that_is_not_a_frame_when_read_then_value_error(payload: str) -> None:
    with pytest.raises(ValueError):
        read(payload)


def test_given_a_frame_with_references_out_of_range_when_read_then_they_are_ignored() -> None:
    assert read('{"n":"a","s":3,"e":[null,1],"r":[0,5,-1,"x"]}').refs == (0,)


# (frames heard from sender "a" as (first_seq, count)) → (skip, gap) of each
@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        ([(1, 3), (4, 2)], [(0, 0), (0, 0)]),  # in order
        ([(10, 1), (11, 1)], [(0, 0), (0, 0)]),  # a sender already running when we started
        ([(1, 3), (9, 1)], [(0, 0), (0, 5)]),  # 4..8 never arrived
        ([(1, 3), (1, 3)], [(0, 0), (3, 0)]),  # a batch resent after a lost connection
        ([(1, 3), (2, 4)], [(0, 0), (2, 0)]),  # partly resent: only 4 and 5 are new
        ([(1, 3), (4, 1), (2, 1)], [(0, 0), (0, 0), (1, 0)]),  # an old one late: dropped
    ],
)
def test_given_frames_of_a_sender_when_admitted_then_duplicates_are_skipped_and_gaps_counted(
    heard: list[tuple[int, int]], expected: list[tuple[int, int]]
) -> None:
    seq = Sequencer()
    assert [seq.admit("a", first, count) for first, count in heard] == expected


def test_given_two_senders_when_admitted_then_each_has_its_own_numbering() -> None:
    seq = Sequencer()
    assert [seq.admit(s, f, 1) for s, f in [("a", 1), ("b", 1), ("a", 2), ("b", 3)]] == [
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 1),
    ]


@pytest.mark.parametrize(
    "audience",
    [
        ToAgent("PJSIP/agent1"),
        ToSupervisors(),
        ToAgentAndSupervisors("PJSIP/agent1", 3),
        ToAgentAndSupervisors("PJSIP/agent1", None),
        ToAgentsAndSupervisors(frozenset({"PJSIP/a", "PJSIP/b"}), frozenset({1, None})),
    ],
)
def test_given_a_hub_message_when_encoded_and_decoded_then_the_same_message(audience: Any) -> None:
    message = Message(audience, {"type": "pop", "caller": {"name": 'José "Pepe"'}, "n": [1, 2]})
    assert decode(json.loads(encode(message))) == message


@pytest.mark.parametrize("body", [{"a": ["everyone"], "p": {}}, {"a": ["sup"], "p": [1]}, {"p": {}}])
def test_given_a_body_that_is_not_a_message_when_decoded_then_refused(body: dict[str, Any]) -> None:
    with pytest.raises((ValueError, KeyError)):
        decode(body)


@pytest.mark.parametrize(
    "frame",
    [
        ControlAsked("id1", "pbx:b", "login", {"interface": "PJSIP/agent2", "queues": {"support": 0}}),
        ControlDone("id1"),
        ControlDone("id2", result="pbx-b-c2c-0123"),
        ControlDone("id3", error=["ControlError", 'no such call "x"']),
    ],
)
def test_given_a_control_asked_or_done_when_encoded_and_decoded_then_the_same(
    frame: ControlAsked | ControlDone,
) -> None:
    assert decode(json.loads(encode(frame))) == frame
