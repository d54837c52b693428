"""Measured inputs for pacing: sliding windows of recent outcomes, kept sorted for quantile look-ups.

The engine (and the simulator) feed one `PacingStats` per campaign with each resolved dial and each
finished call; `Observation` fields then point at the sorted windows without copying them.
"""

from __future__ import annotations

import bisect
from collections import deque


class SortedWindow:
    """The last `size` values, also kept sorted (O(size) per insert, fine for a few thousand)."""

    __slots__ = ("_order", "size", "sorted")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be at least 1, got {size}")
        self.size = size
        self._order: deque[float] = deque()
        self.sorted: list[float] = []

    def add(self, value: float) -> None:
        if value != value or value < 0:  # NaN or negative: a clock glitch, not a measurement
            raise ValueError(f"a duration must be a non-negative number, got {value!r}")
        self._order.append(value)
        bisect.insort(self.sorted, value)
        if len(self._order) > self.size:
            old = self._order.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, old)]

    def __len__(self) -> int:
        return len(self._order)


class PacingStats:
    """Recent dial outcomes and handle times of one campaign."""

    __slots__ = (
        "_outcomes",
        "_pairs",
        "answered",
        "handle",
        "human_delays",
        "humans",
        "other_delays",
        "talk_wrap",
        "wrap",
    )

    def __init__(self, dial_window: int = 1000, call_window: int = 500) -> None:
        self._outcomes: deque[tuple[bool, bool]] = deque(maxlen=dial_window)  # (live, answered)
        self.humans = 0  # live answers among `_outcomes`
        self.answered = 0  # answered by anyone or anything (people and machines) among `_outcomes`
        self.human_delays = SortedWindow(call_window)
        self.other_delays = SortedWindow(dial_window)
        self.handle = SortedWindow(call_window)
        self.wrap = SortedWindow(call_window)
        # (talk, wrap) of the same calls, sorted by talk: a wrap-up's length depends on the call
        # (a machine passed to an agent is dispositioned in seconds)
        self._pairs: deque[tuple[float, float]] = deque()
        self.talk_wrap: list[tuple[float, float]] = []

    def dial_resolved(self, live: bool, delay_s: float, answered: bool | None = None) -> None:
        """A dial ended ringing: a live answer ready for an agent after `delay_s`, or anything else.

        `answered`: the network connected the call (a person or a machine, even one AMD hung up),
        as opposed to busy, congestion or no answer; defaults to `live`. Only the connect rate
        (the ASR some peers pace on) uses it.
        """
        answered = live if answered is None else (answered or live)
        if len(self._outcomes) == self._outcomes.maxlen:
            old_live, old_answered = self._outcomes[0]
            self.humans -= old_live
            self.answered -= old_answered
        self._outcomes.append((live, answered))
        self.answered += answered
        if live:
            self.humans += 1
            self.human_delays.add(delay_s)
        else:
            self.other_delays.add(delay_s)

    def call_finished(self, talk_s: float, wrap_s: float) -> None:
        self.wrap.add(wrap_s)  # validates wrap_s; talk is validated through the sum below
        if talk_s != talk_s or talk_s < 0:
            raise ValueError(f"a duration must be a non-negative number, got {talk_s!r}")
        self.handle.add(talk_s + wrap_s)
        pair = (talk_s, wrap_s)
        self._pairs.append(pair)
        bisect.insort(self.talk_wrap, pair)
        if len(self._pairs) > self.handle.size:
            del self.talk_wrap[bisect.bisect_left(self.talk_wrap, self._pairs.popleft())]

    @property
    def dials_sampled(self) -> int:
        return len(self._outcomes)

    @property
    def answer_rate(self) -> float | None:
        return self.humans / len(self._outcomes) if self._outcomes else None

    @property
    def connect_rate(self) -> float | None:
        """Answered (people and machines) / resolved dials: the answer-seizure ratio."""
        return self.answered / len(self._outcomes) if self._outcomes else None
