"""Helpers to replay AMI transcripts recorded from the real Asterisk (tests/fixtures/ami/*.ami)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cti.ami_wire import AmiEvent, AmiReader
from cti.events import DomainEvent
from cti.tracker import Tracker

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.ami").read_bytes()


def blocks(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n")


def reorder(data: bytes, move: Callable[[list[bytes]], list[bytes]]) -> bytes:
    return b"\r\n\r\n".join(move(blocks(data)))


def replay(data: bytes, tracker: Tracker | None = None, chunk: int = 0) -> tuple[Tracker, list[DomainEvent]]:
    """Feed the bytes (whole, or in `chunk`-byte reads) through the reader and the tracker."""
    tracker = tracker or Tracker()
    reader = AmiReader()
    out: list[DomainEvent] = []
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    for piece in pieces:
        for msg in reader.feed(piece):
            if isinstance(msg, AmiEvent):
                out.extend(tracker.feed(msg))
    return tracker, out


def of_type(events: list[DomainEvent], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]
