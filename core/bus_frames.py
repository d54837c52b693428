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

# PostgreSQL: "the payload string … must be shorter than 8000 bytes" (in the server's encoding, UTF-8)
NOTIFY_MAX_BYTES = 7999


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


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


def pack(sender: str, first_seq: int, events: Sequence[str], limit: int = NOTIFY_MAX_BYTES) -> list[Frame]:
    """Cut `events` (numbered from `first_seq`, in order) into as few frames as fit `limit` bytes each.

    An event that would not fit a frame of its own is spilled (a row, `null` in the frame). Frames are
    filled in order, never reordered: the receiver applies them as they come.
    """
    head = header(sender)
    frames: list[Frame] = []
    i = 0
    while i < len(events):
        seq = first_seq + i
        start = head + str(seq) + ',"e":['
        items: list[str] = []
        refs: list[int] = []
        spilled: list[tuple[int, str]] = []
        alone = _size(start) + 2  # "]" and "}"
        size = alone
        refs_size = 0  # ',"r":[' + indexes and commas + ']' once there is one
        while i < len(events):
            text = events[i]
            index = len(items)
            sep = 1 if items else 0
            if alone + _size(text) > limit:  # not even alone: a row
                ref_cost = len(str(index)) + (1 if refs else len(',"r":[]'))
                if size + sep + 4 + refs_size + ref_cost > limit:  # "null"
                    if not items:
                        raise ValueError(f"a frame of {limit} bytes cannot hold even a reference")
                    break
                items.append("null")
                refs.append(index)
                spilled.append((first_seq + i, text))
                size += sep + 4
                refs_size += ref_cost
            else:
                if size + sep + _size(text) + refs_size > limit:
                    break
                items.append(text)
                size += sep + _size(text)
            i += 1
        tail = "]" + (',"r":[' + ",".join(map(str, refs)) + "]" if refs else "") + "}"
        frames.append(Frame(start + ",".join(items) + tail, seq, len(items), tuple(spilled)))
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
    """Parse a frame; raises ValueError (json's included) on one that is not a frame."""
    body = json.loads(payload)
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
