"""The recordings' pure core: byte ranges, WAV durations, retention and legal hold, paused stretches, the
policy globals the dialplan reads."""

from __future__ import annotations

import io
import struct
import wave
from datetime import UTC, datetime, timedelta

import pytest

from cti.recordings import (
    ARMED_SOURCE,
    DEFAULT_ANNOUNCEMENT,
    PausedStretch,
    PauseEvent,
    Policy,
    PurgeCandidate,
    RangeNotSatisfiable,
    byte_range,
    erasure_plan,
    expires_at,
    hold_reason,
    never_started,
    paused_stretches,
    policy_globals,
    purge_plan,
    wav_duration,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 1000, None),  # the whole file
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=0-", 1000, (0, 999)),  # the player's first request
        ("bytes=500-", 1000, (500, 999)),  # a seek
        ("bytes=990-5000", 1000, (990, 999)),  # past the end: cut to the file
        ("bytes=-10", 1000, (990, 999)),  # the last 10 bytes
        ("bytes=-5000", 1000, (0, 999)),
        ("bytes=999-999", 1000, (999, 999)),
        ("bytes=0-1,5-9", 1000, None),  # several ranges: ignored, the whole file (RFC 9110 allows it)
        ("items=0-9", 1000, None),  # another unit: ignored
        ("bytes=-", 1000, None),
    ],
)
def test_given_a_range_header_when_read_then_the_bytes_it_asks_for(
    header: str | None, size: int, expected: tuple[int, int] | None
) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", 1000), ("bytes=5-4", 1000), ("bytes=-0", 1000), ("bytes=0-", 0)]
)
def test_given_a_range_outside_the_file_when_read_then_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, size)


def _wav(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate))
    return buf.getvalue()


@pytest.mark.parametrize(("seconds", "rate"), [(1.0, 8000), (2.5, 16000), (0.0, 8000)])
def test_given_a_wav_file_when_measured_then_its_duration(seconds: float, rate: int) -> None:
    data = _wav(seconds, rate)
    assert wav_duration(data[:4096], len(data)) == pytest.approx(seconds)


def test_given_a_wav_whose_header_was_never_fixed_when_measured_then_what_the_file_holds() -> None:
    data = bytearray(_wav(2.0))
    struct.pack_into("<I", data, 40, 0)  # the `data` length MixMonitor fixes at close, still 0
    assert wav_duration(bytes(data[:4096]), len(data)) == pytest.approx(2.0)


@pytest.mark.parametrize("data", [b"", b"not a wav at all", b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"])
def test_given_something_else_when_measured_then_none(data: bytes) -> None:
    assert wav_duration(data, len(data)) is None


@pytest.mark.parametrize(
    ("own", "default", "expected"),
    [(None, 90, T0 + timedelta(days=90)), (30, 90, T0 + timedelta(days=30)), (0, 90, None), (None, 0, None)],
)
def test_given_retention_days_when_a_recording_ends_then_it_expires_then(
    own: int | None, default: int, expected: datetime | None
) -> None:
    assert expires_at(T0, own, default) == expected


def test_given_expired_and_pinned_recordings_when_planned_then_the_pinned_ones_are_held() -> None:
    now = T0 + timedelta(days=100)
    candidates = [
        PurgeCandidate(1, T0),  # expired
        PurgeCandidate(2, T0, held_by=(7,)),  # expired, pinned to an open complaint
        PurgeCandidate(3, now),  # expires this instant: goes
        PurgeCandidate(4, now + timedelta(seconds=1)),  # not yet
        PurgeCandidate(5, None),  # kept forever
    ]
    assert purge_plan(candidates, now) == ([1, 3], [2])
    assert purge_plan([], now) == ([], [])


NOW = T0 + timedelta(days=10)


@pytest.mark.parametrize(
    ("candidate", "deleted"),
    [
        (PurgeCandidate(1, T0), True),  # expired already
        (PurgeCandidate(1, NOW + timedelta(days=80)), True),  # retention not over: erasure does not wait
        (PurgeCandidate(1, None), True),  # a queue that keeps forever: erasure still deletes
        (PurgeCandidate(1, NOW + timedelta(days=80), held_by=(3,)), False),  # a complaint under way
        (PurgeCandidate(1, None, held_by=(3, 4)), False),
        (PurgeCandidate(1, T0, held_by=(3,)), False),
    ],
)
def test_given_a_persons_recording_when_they_are_erased_then_it_goes_unless_on_legal_hold(
    candidate: PurgeCandidate, deleted: bool
) -> None:
    assert erasure_plan([candidate], NOW) == (([1], []) if deleted else ([], [1]))


def test_given_a_kept_recording_when_its_hold_ends_then_the_purge_deletes_it_at_its_erasure_time() -> None:
    # the shell expires what erasure kept at the erasure's time: once nothing pins it, the purge's plan
    kept = PurgeCandidate(1, NOW + timedelta(days=80), held_by=(3,))
    assert erasure_plan([kept, PurgeCandidate(2, None)], NOW) == ([2], [1])
    after = PurgeCandidate(1, NOW)  # the complaint closed
    assert purge_plan([after], NOW + timedelta(days=1)) == ([1], [])
    assert purge_plan([PurgeCandidate(1, NOW, held_by=(3,))], NOW + timedelta(days=1)) == ([], [1])


@pytest.mark.parametrize(
    ("complaints", "reason"),
    [
        ((3,), "legal hold: complaint #3 open"),
        ((9, 4), "legal hold: complaints #4, #9 open"),
        ((4, 4), "legal hold: complaint #4 open"),
    ],
)
def test_given_the_complaints_that_pin_a_recording_when_said_then_the_reason_names_them(
    complaints: tuple[int, ...], reason: str
) -> None:
    assert hold_reason(complaints) == reason


def test_given_pauses_and_resumes_when_laid_on_the_recording_then_its_silent_stretches() -> None:
    start, end = T0, T0 + timedelta(seconds=60)

    def at(s: float, paused: bool, by: str | None = "Alice", source: str = "desk") -> PauseEvent:
        return PauseEvent(T0 + timedelta(seconds=s), paused, by, source)

    events = [
        at(40, False),  # a resume while recording: nothing
        at(10, True),
        at(12, True, "Bob"),  # paused again while paused: the first pause holds
        at(20, False),
        at(-5, True, None, "ivr"),  # before the recording began: from its start
        at(-1, False, None, "ivr"),
        at(50, True, None, "ivr"),  # never resumed: to the end
    ]
    assert paused_stretches(events, start, end) == [
        PausedStretch(10.0, 20.0, "Alice", "desk"),
        PausedStretch(50.0, 60.0, None, "ivr"),
    ]
    assert paused_stretches([], start, end) == []


def test_given_a_queue_when_its_policy_is_told_then_two_globals_and_a_checked_sound() -> None:
    assert policy_globals("support", Policy.all, None) == {
        "PLATEAU_REC_support": "all",
        "PLATEAU_RECANN_support": DEFAULT_ANNOUNCEMENT,
    }
    assert policy_globals("sales", Policy.none, "custom/rec-fr")["PLATEAU_RECANN_sales"] == "custom/rec-fr"
    for queue, sound in [("sup port", None), ("support", "../etc/passwd"), ("support", "a,b")]:
        with pytest.raises(ValueError):
            policy_globals(queue, Policy.all, sound)


def _ev(s: float, paused: bool, source: str = "desk") -> PauseEvent:
    return PauseEvent(T0 + timedelta(seconds=s), paused, None if source == ARMED_SOURCE else "Alice", source)


@pytest.mark.parametrize(
    ("events", "unstarted"),
    [
        ([], False),  # policy `all`: recorded from the bridge
        ([_ev(-2, True, ARMED_SOURCE)], True),  # on_demand, never started
        ([_ev(-2, True, ARMED_SOURCE), _ev(8, False)], False),  # started after 8 s
        ([_ev(-2, True, ARMED_SOURCE), _ev(8, False), _ev(12, True)], False),  # started, paused again
        ([_ev(8, False), _ev(-2, True, ARMED_SOURCE)], False),  # order of rows is not order of time
        ([_ev(3, True), _ev(5, False)], False),  # an `all` recording paused and resumed
    ],
)
def test_given_a_calls_pauses_when_it_ends_then_an_on_demand_recording_never_started_is_told(
    events: list[PauseEvent], unstarted: bool
) -> None:
    assert never_started(events) is unstarted


def test_given_an_on_demand_recording_started_after_8_s_then_its_first_8_s_are_shown_paused() -> None:
    events = [_ev(-2, True, ARMED_SOURCE), _ev(8, False)]
    assert paused_stretches(events, T0, T0 + timedelta(seconds=30)) == [
        PausedStretch(0.0, 8.0, None, ARMED_SOURCE)
    ]
