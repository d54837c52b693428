"""What `plateau demo --live` does when: the pure schedule of simulated customers and colleagues.

No clock and no processes here: the shell (app/demo_live.py) passes `now` (seconds on its monotonic clock)
and carries out the returned actions with SIPp and the API. Randomness comes from the seeded RNG given, so
a seed replays the same morning.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from cti.numbers import InvalidNumber, parse

UNKNOWN_PREFIXES = ("06", "07")  # French mobiles: the numbers strangers call from


@dataclass(frozen=True)
class Customer:
    number: str  # as the carrier presents it (national or +E.164)
    name: str


@dataclass(frozen=True)
class Pace:
    """How busy the morning is. Times in seconds."""

    calls_per_minute: float = 2.0
    dids: tuple[str, ...] = ("5551000", "5552000")  # the demo's support and sales lines
    abandon_share: float = 0.2  # callers who give up while they wait
    patience_s: tuple[float, float] = (12.0, 40.0)  # how long those wait before hanging up
    unknown_share: float = 0.2  # callers who are not in the customer store (no match, a bare pop)
    ring_s: tuple[float, float] = (2.0, 6.0)  # a colleague's phone rings before they pick up
    talk_s: tuple[float, float] = (20.0, 60.0)
    wrap_s: tuple[float, float] = (4.0, 15.0)  # from the call's end to the disposition saved
    max_call_s: float = 900.0  # a caller who is served hangs up at the latest then (the colleague first)

    def __post_init__(self) -> None:
        if self.calls_per_minute <= 0:
            raise ValueError("calls_per_minute must be positive")
        if not self.dids:
            raise ValueError("dids: at least one number to call")
        for name in ("abandon_share", "unknown_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("patience_s", "ring_s", "talk_s", "wrap_s"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name}: want 0 <= low <= high, got {low}, {high}")


@dataclass(frozen=True)
class PlaceCall:
    """A customer calls `did`; `hang_up_after_s` from the queue's answer (on entry): patience or a bound."""

    at: float
    caller: Customer
    did: str
    known: bool
    abandons: bool
    hang_up_after_s: float


@dataclass(frozen=True)
class ArmPhone:
    """A colleague's phone ready for its next call: rings ring_s, then talks talk_s and hangs up."""

    agent: str
    ring_s: float
    talk_s: float


@dataclass(frozen=True)
class SaveDisposition:
    at: float
    agent: str
    linkedid: str
    code: str


Action = PlaceCall | ArmPhone | SaveDisposition


@dataclass
class DemoSchedule:
    """The morning: calls arrive as a Poisson process; each colleague's phone takes one call at a time,
    and the colleague saves a disposition a little after it ends."""

    customers: Sequence[Customer]
    colleagues: Sequence[str]
    dispositions: Sequence[str]
    start: float
    rng: random.Random
    pace: Pace = field(default_factory=Pace)
    next_call_at: float = field(init=False)
    _pending: list[SaveDisposition] = field(init=False, default_factory=list)
    _wrapped: set[tuple[str, str]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        if not self.customers:
            raise ValueError("customers: the demo needs known customers to call")
        if not self.dispositions:
            raise ValueError("dispositions: the colleagues need a code to save")
        self.next_call_at = self.start + self._gap()

    def _gap(self) -> float:
        return self.rng.expovariate(self.pace.calls_per_minute / 60)

    def _between(self, bounds: tuple[float, float]) -> float:
        return round(self.rng.uniform(*bounds), 1)

    def opening(self) -> list[ArmPhone]:
        """Every colleague's phone, armed at the start."""
        return [self._arm(agent) for agent in self.colleagues]

    def _arm(self, agent: str) -> ArmPhone:
        return ArmPhone(agent, self._between(self.pace.ring_s), self._between(self.pace.talk_s))

    def calls_due(self, now: float) -> list[PlaceCall]:
        """The calls whose time has come (each once, in order); a late tick places the missed ones."""
        due = []
        while self.next_call_at <= now:
            due.append(self._call(self.next_call_at))
            self.next_call_at += self._gap()
        return due

    def _call(self, at: float) -> PlaceCall:
        known = self.rng.random() >= self.pace.unknown_share
        caller = self.rng.choice(self.customers) if known else self._stranger()
        abandons = self.rng.random() < self.pace.abandon_share
        return PlaceCall(
            at=at,
            caller=caller,
            did=self.rng.choice(self.pace.dids),
            known=known,
            abandons=abandons,
            hang_up_after_s=self._between(self.pace.patience_s) if abandons else self.pace.max_call_s,
        )

    def _stranger(self) -> Customer:
        """A number outside the store: a mobile of metropolitan France in use that no customer has (06 39…
        is Réunion's, say: not a stranger from here)."""
        taken = {_parsed(c.number)[1] for c in self.customers}
        while True:
            number = self.rng.choice(UNKNOWN_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            e164, suffix = _parsed(number)
            if e164.startswith("+33") and suffix not in taken:
                return Customer(number, "")

    def phone_done(self, agent: str) -> ArmPhone:
        """The colleague's phone ended its call (or was cancelled): armed again for the next one."""
        return self._arm(agent)

    def wrapping_up(self, agent: str, linkedid: str, now: float) -> SaveDisposition | None:
        """The colleague is in wrap-up after call `linkedid`: the disposition they will save, and when.
        Seen again on a later tick, the same call gets no second disposition."""
        if (agent, linkedid) in self._wrapped:
            return None
        self._wrapped.add((agent, linkedid))
        save = SaveDisposition(
            now + self._between(self.pace.wrap_s), agent, linkedid, self.rng.choice(self.dispositions)
        )
        self._pending.append(save)
        return save

    def dispositions_due(self, now: float) -> list[SaveDisposition]:
        due = [d for d in self._pending if d.at <= now]
        self._pending = [d for d in self._pending if d.at > now]
        return sorted(due, key=lambda d: d.at)


def _parsed(number: str) -> tuple[str, str]:
    """E.164 and the store's key (the last 9 digits); empty for a number not in use."""
    try:
        p = parse(number, "FR")
    except InvalidNumber:
        return "", ""
    return p.e164, p.suffix_key


def demo_channels(concise: str, endpoints: Sequence[str]) -> list[str]:
    """The channels of `core show channels concise` (`!`-separated, the name first) that belong to the demo's
    endpoints (the carrier trunk it calls from, its colleagues' phones): hung up when it stops, since a
    SIPp that is stopped sends no BYE and its calls would stay up in Asterisk."""
    prefixes = tuple(f"PJSIP/{e}-" for e in endpoints)
    names = (line.split("!", 1)[0].strip() for line in concise.splitlines())
    return [name for name in names if name.startswith(prefixes)]
