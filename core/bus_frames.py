"""How the bus between nodes cuts events into NOTIFY payloads, and how a receiver orders what it hears.

Pure: no socket, no clock. `core/bus_relay.py` is the I/O shell around it.

A frame is one NOTIFY payload, JSON text, shorter than PostgreSQL's 8000 bytes:
`{"n":"<sender>","s":<seq of the first event>,"e":[<event>,…],"r":[<index>,…]}`. The events are the
encoder's JSON texts, joined as they are (no second serialisation). An event too large for any frame is
written as a row of `bus_spill` keyed by (sender, seq) and stands in its frame as `null`, its index in
`"r"`: the frame keeps the order, the receiver reads the row. Every sender numbers its events 1, 2, 3…
without holes, so a receiver sees a lost event as a gap and a resent one as a number it already had.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

# PostgreSQL: "the payload string … must be shorter than 8000 bytes" (in the server's encoding, UTF-8)
NOTIFY_MAX_BYTES = 7999


@dataclass(frozen=True, slots=True)
class Frame:
    """One NOTIFY payload, and the events it refers to that must be in `bus_spill` before it is sent."""

    text: str
    first_seq: int
    count: int
    spilled: tuple[tuple[int, str], ...] = ()  # (seq, event text)


def header(sender: str) -> str:
    """What every frame of `sender` starts with: a receiver drops its own frames on this prefix alone."""
    return '{"n":' + json.dumps(sender) + ',"s":'


def pack(sender: str, first_seq: int, events: Sequence[bytes], limit: int = NOTIFY_MAX_BYTES) -> list[Frame]:
    """Cut `events` (UTF-8 JSON, numbered from `first_seq`, in order) into as few frames as fit `limit`
    bytes each.

    An event that would not fit a frame of its own is spilled (a row, `null` in the frame). Frames are
    filled in order, never reordered: the receiver applies them as they come.
    """
    head = header(sender).encode()
    frames: list[Frame] = []
    i, n = 0, len(events)
    while i < n:
        seq = first_seq + i
        start = head + str(seq).encode() + b',"e":['
        alone = len(start) + 2  # "]" and "}"
        size = alone
        items: list[bytes] = []
        refs: list[int] = []
        spilled: list[tuple[int, str]] = []
        refs_size = 0  # ',"r":[' + indexes and commas + ']' once there is one
        while i < n:
            event = events[i]
            cost = len(event) + (1 if items else 0)
            if alone + len(event) > limit:  # not even alone: a row
                ref_cost = len(str(len(items))) + (1 if refs else 7)  # 7: ',"r":[]'
                cost = 4 + (1 if items else 0)  # "null"
                if size + cost + refs_size + ref_cost > limit:
                    if not items:
                        raise ValueError(f"a frame of {limit} bytes cannot hold even a reference")
                    break
                refs.append(len(items))
                items.append(b"null")
                spilled.append((first_seq + i, event.decode()))
                refs_size += ref_cost
            elif size + cost + refs_size > limit:
                break
            else:
                items.append(event)
            size += cost
            i += 1
        tail = b"]" + (b',"r":[' + ",".join(map(str, refs)).encode() + b"]" if refs else b"") + b"}"
        frames.append(Frame((start + b",".join(items) + tail).decode(), seq, len(items), tuple(spilled)))
    return frames


@dataclass(frozen=True, slots=True)
class Heard:
    """A frame as a receiver reads it: who sent it, the first event's number, the events (None where
    spilled) and the indexes of the spilled ones."""

    sender: str
    first_seq: int
    events: list[Any]
    refs: tuple[int, ...]


def read(payload: str) -> Heard:
    """Parse a frame; raises ValueError (orjson's included) on one that is not a frame."""
    body = orjson.loads(payload)
    if not isinstance(body, dict) or not isinstance(body.get("n"), str) or not isinstance(body.get("s"), int):
        raise ValueError("not a bus frame")
    events = body.get("e")
    if not isinstance(events, list):
        raise ValueError("not a bus frame")
    refs = tuple(r for r in body.get("r", ()) if isinstance(r, int) and 0 <= r < len(events))
    return Heard(body["n"], body["s"], events, refs)


@dataclass
class Sequencer:
    """Per sender, the number expected next: what a frame brings that is new, and how many were lost."""

    expected: dict[str, int] = field(default_factory=dict)

    def admit(self, sender: str, first_seq: int, count: int) -> tuple[int, int]:
        """(how many leading events of the frame were already had, how many before it were never heard).

        The first frame of a sender sets its numbering: a node that starts late cannot know what it missed.
        """
        want = self.expected.get(sender)
        end = first_seq + count
        if want is None:
            self.expected[sender] = end
            return 0, 0
        if end <= want:  # all already had (a batch resent after a connection loss)
            return count, 0
        self.expected[sender] = end
        if first_seq >= want:
            return 0, first_seq - want
        return want - first_seq, 0

    def forget(self, sender: str) -> None:
        self.expected.pop(sender, None)
