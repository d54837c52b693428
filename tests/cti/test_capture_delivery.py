"""The bench's peer figure: Asterisk's delivery delay of an event to a bare AMI client, from its Timestamp to
the arrival of the chunk that completed it."""

from __future__ import annotations

import pytest

from tests.cti.pbx.capture import AmiRecorder


def _event(name: str, ts: float) -> bytes:
    return f"Event: {name}\r\nPrivilege: agent,all\r\nTimestamp: {ts:.6f}\r\nQueue: support\r\n\r\n".encode()


def test_given_events_split_across_chunks_when_delivery_is_read_then_each_counts_from_its_last_byte() -> None:
    rec = AmiRecorder(0, "u", "s")
    first, second = _event("AgentCalled", 100.0), _event("AgentCalled", 100.5)
    other = _event("Newchannel", 100.2)
    rec.chunks = [first[:20], first[20:] + other + second[:10], second[10:]]
    rec.arrivals = [100.001, 100.004, 100.6]
    assert rec.delivery(b"AgentCalled") == pytest.approx([0.004, 0.1])
    assert rec.delivery(b"Newchannel") == pytest.approx([100.004 - 100.2])
    assert rec.delivery(b"Hangup") == []


def test_given_an_event_without_timestamp_or_cut_short_when_delivery_is_read_then_it_is_skipped() -> None:
    rec = AmiRecorder(0, "u", "s")
    no_stamp = b"Event: AgentCalled\r\nQueue: support\r\n\r\n"
    unfinished = b"Event: AgentCalled\r\nTimestamp: 5.0\r\n"
    rec.chunks = [no_stamp, unfinished]
    rec.arrivals = [1.0, 2.0]
    assert rec.delivery(b"AgentCalled") == []
