"""What the other nodes' PBXs have in progress, as their browsers would be shown it: the mirror that makes a
snapshot on any node cover the whole centre (pure: no clock, no I/O; `now` is passed in).

Each origin (another node's relay id) sends, through the bus, its full state now and then: per PBX, every
item its own snapshot could show (agents, phones, queues, calls, pops), each with its audience. Its deltas
follow in the same ordered stream, so the mirror keeps the last frame and the deltas heard since: a socket
that connects is shown the frame's items its user may see, then those deltas, in order, which is exactly
what the origin's own desks have seen. The audience decides who sees what, here as in the hub: there is no
second set of routing rules. An origin that sends no frame for `stale_after_s` is gone (crashed, cut off):
its entries are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.bus import Message, Principal

REPLAY_MAX = 5_000  # deltas kept per origin between two frames; beyond, the origin is asked for a frame


@dataclass
class _Origin:
    heard_at: float  # when its last frame arrived (or its first delta, until a frame does)
    groups: dict[str, tuple[Message, ...]] = field(default_factory=dict)  # PBX name → its state
    since: list[Message] = field(default_factory=list)  # deltas heard after that frame, in order
    framed: bool = False


class Mirror:
    def __init__(self, stale_after_s: float, replay_max: int = REPLAY_MAX) -> None:
        self.stale_after_s = stale_after_s
        self.replay_max = replay_max
        self._origins: dict[str, _Origin] = {}

    def frame(self, origin: str, groups: Mapping[str, Sequence[Message]], now: float) -> None:
        """An origin's full state: it replaces what was mirrored of it, deltas included."""
        self._origins[origin] = _Origin(now, {pbx: tuple(ms) for pbx, ms in groups.items()}, [], True)

    def delta(self, origin: str, message: Message, now: float) -> bool:
        """A message an origin published; returns whether that origin's full state is wanted (none heard
        yet, or more deltas since its last than the mirror keeps)."""
        entry = self._origins.get(origin)
        if entry is None:
            entry = self._origins[origin] = _Origin(now)
        if len(entry.since) >= self.replay_max:
            entry.since.clear()
            entry.framed = False  # inexact until its next frame
            return True
        entry.since.append(message)
        return not entry.framed

    def forget(self, origin: str) -> None:
        self._origins.pop(origin, None)

    def prune(self, now: float) -> list[str]:
        """Drop the origins silent for `stale_after_s`; returns them."""
        gone = [o for o, e in self._origins.items() if now - e.heard_at >= self.stale_after_s]
        for origin in gone:
            del self._origins[origin]
        return gone

    def snapshot(self, who: Principal, now: float, pbx: str | None = None) -> list[dict[str, Any]]:
        """The mirrored items `who` may see (of one PBX with `pbx`), origin by origin."""
        self.prune(now)
        return [
            m.payload
            for entry in self._origins.values()
            for name, messages in entry.groups.items()
            if pbx is None or name == pbx
            for m in messages
            if m.audience.admits(who)
        ]

    def replay(self, who: Principal, now: float) -> list[Message]:
        """The deltas heard since each origin's frame that `who` may see, to follow `snapshot`."""
        self.prune(now)
        return [m for entry in self._origins.values() for m in entry.since if m.audience.admits(who)]

    def payloads(self, kind: str, now: float) -> list[tuple[str, dict[str, Any]]]:
        """Every mirrored item of type `kind` whatever its audience, as (origin, payload), origin by origin:
        each origin's frame then its deltas (an origin's last is its latest word)."""
        self.prune(now)
        return [
            (origin, m.payload)
            for origin, entry in self._origins.items()
            for m in (*(m for ms in entry.groups.values() for m in ms), *entry.since)
            if m.payload.get("type") == kind
        ]

    def status(self, now: float) -> list[dict[str, Any]]:
        """For /healthz: each origin, how old its state is, how many items and deltas since."""
        self.prune(now)
        return [
            {
                "origin": origin,
                "age_s": round(now - e.heard_at, 3),
                "exact": e.framed,
                "items": sum(len(ms) for ms in e.groups.values()),
                "since": len(e.since),
            }
            for origin, e in sorted(self._origins.items())
        ]
