"""Call recordings: what the policy asks of the dialplan, what a WAV file holds, HTTP byte ranges, when a
recording expires and which ones the purge may delete, and the paused stretches of a recording. Pure.

Asterisk records (MixMonitor, `[plateau-record]` in extensions.conf) from the moment the caller is bridged
to an agent, so the IVR before the queue is never in the file. The policy of each queue reaches the dialplan
as a global variable Plateau sets over AMI (`policy_globals`); the storage is `core/recording_store.py`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from cti.sounds import SOUND_NAME, SOUND_NAME_MAX

DEFAULT_ANNOUNCEMENT = "conf-now-recording"  # stock prompt in French and English: "this call is recorded"
QUEUE_NAME = re.compile(r"[a-z0-9_\-]{1,80}")
WAV_HEADER_BYTES = 4096  # enough for the RIFF header and its chunks before `data`


class Policy(StrEnum):
    all = "all"  # every answered call is recorded, after the announcement
    none = "none"
    on_demand = "on_demand"  # recorded muted until the agent starts it (the announcement is played)


ARMED_SOURCE = "on_demand"  # the pause noted when an `on_demand` recording is muted before the bridge


def sound_or_default(sound: str | None) -> str:
    """The announcement Playback takes (`name` or `dir/name`, no extension), checked like every sound."""
    value = sound or DEFAULT_ANNOUNCEMENT
    if len(value) > SOUND_NAME_MAX or not SOUND_NAME.fullmatch(value):
        raise ValueError("a sound name like 'custom/rec-notice': letters, digits, '-', '_' and '/'")
    return value


def policy_globals(queue: str, policy: Policy, announcement: str | None) -> dict[str, str]:
    """The globals `[plateau-record]` reads for a queue: its policy and the sound announcing it."""
    if not QUEUE_NAME.fullmatch(queue):
        raise ValueError(f"queue name {queue!r} cannot name a dialplan variable")
    return {f"PLATEAU_REC_{queue}": policy.value, f"PLATEAU_RECANN_{queue}": sound_or_default(announcement)}


# -- the file ----------------------------------------------------------------------------------------------
def wav_duration(header: bytes, size: int) -> float | None:
    """Seconds of audio in a WAV file of `size` bytes whose first bytes are `header`: the `data` chunk's
    length (or what the file holds after it, when the writer was cut before fixing the header) over the byte
    rate of its `fmt ` chunk. None when it is not a WAV file."""
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(header):
        chunk, length = header[pos : pos + 4], struct.unpack_from("<I", header, pos + 4)[0]
        if chunk == b"fmt " and pos + 16 <= len(header):
            byte_rate = struct.unpack_from("<I", header, pos + 16)[0]
        elif chunk == b"data":
            if not byte_rate:
                return None
            available = max(0, size - pos - 8)
            return min(length, available) / byte_rate if length else available / byte_rate
        pos += 8 + length + (length & 1)
    return None


# -- HTTP byte ranges (RFC 9110 §14) -----------------------------------------------------------------------
class RangeNotSatisfiable(ValueError):
    """A Range the file cannot serve: 416 with `Content-Range: bytes */size`."""


RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) bytes a `Range` header asks for, or None for the whole file (no header,
    or one this server ignores as the RFC allows: another unit, several ranges)."""
    if header is None:
        return None
    m = RANGE.fullmatch(header.strip())
    if m is None:
        return None
    first, last = m.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(header)
    return start, end


# -- retention ---------------------------------------------------------------------------------------------
def expires_at(ended_at: datetime, retention_days: int | None, default_days: int) -> datetime | None:
    """When a recording may be deleted: its queue's or campaign's days, else the default; 0 keeps it."""
    days = default_days if retention_days is None else retention_days
    return ended_at + timedelta(days=days) if days > 0 else None


@dataclass(frozen=True)
class PurgeCandidate:
    id: int
    expires_at: datetime | None
    held_by: tuple[int, ...] = ()  # the complaints not closed that pin it

    @property
    def held(self) -> bool:
        """Legal hold: a complaint that is not closed pins it (the one rule the purge and erasure share)."""
        return bool(self.held_by)


def purge_plan(candidates: Iterable[PurgeCandidate], now: datetime) -> tuple[list[int], list[int]]:
    """(to delete, kept on legal hold) among the recordings still on disk: the expired ones go, unless a
    complaint that is not closed pins them."""
    delete, held = [], []
    for c in candidates:
        if c.expires_at is None or c.expires_at > now:
            continue
        (held if c.held else delete).append(c.id)
    return delete, held


def erasure_plan(candidates: Iterable[PurgeCandidate], now: datetime) -> tuple[list[int], list[int]]:
    """(to delete, kept on legal hold) among an erased person's recordings still on disk: the purge's plan
    with every one expired now, whatever its retention. Erasure does not reach what a claim under way needs
    (GDPR art. 17(3)(e)); the kept ones stay expired, so the purge after their hold ends deletes them."""
    return purge_plan((replace(c, expires_at=now) for c in candidates), now)


def hold_reason(complaint_ids: Iterable[int]) -> str:
    """Why a recording is kept, as the erasure's answer and audit entry say it."""
    ids = sorted(set(complaint_ids))
    which = ", ".join(f"#{i}" for i in ids)
    return f"legal hold: complaint{'s' if len(ids) > 1 else ''} {which} open"


# -- pauses ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PauseEvent:
    at: datetime
    paused: bool
    by: str | None  # who (None: the IVR)
    source: str


@dataclass(frozen=True)
class PausedStretch:
    start_s: float  # offsets in the recording
    end_s: float
    by: str | None
    source: str


def paused_stretches(
    events: Sequence[PauseEvent], started_at: datetime, ended_at: datetime
) -> list[PausedStretch]:
    """The stretches of a recording that are silence, as offsets from its start: each pause to the next
    resume (or the end); a second pause while paused, or a resume while recording, changes nothing."""
    out: list[PausedStretch] = []
    length = (ended_at - started_at).total_seconds()
    open_at: PauseEvent | None = None
    for e in sorted(events, key=lambda e: e.at):
        if e.paused and open_at is None:
            open_at = e
        elif not e.paused and open_at is not None:
            out.append(_stretch(open_at, e.at, started_at, length))
            open_at = None
    if open_at is not None:
        out.append(_stretch(open_at, ended_at, started_at, length))
    return [s for s in out if s.end_s > s.start_s]


def _stretch(pause: PauseEvent, until: datetime, started_at: datetime, length: float) -> PausedStretch:
    def offset(at: datetime) -> float:
        return round(min(max((at - started_at).total_seconds(), 0.0), length), 3)

    return PausedStretch(offset(pause.at), offset(until), pause.by, pause.source)


def never_started(events: Sequence[PauseEvent]) -> bool:
    """An `on_demand` recording the agent never started: muted before the bridge and never heard again (its
    file is silence from end to end: deleted, not filed). A recording that was not armed was started."""
    armed = False
    for e in sorted(events, key=lambda e: e.at):
        if e.source == ARMED_SOURCE and e.paused:
            armed = True
        elif not e.paused:
            return False
    return armed
