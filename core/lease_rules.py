"""What a node may conclude about a lease from what it knows (pure: instants are passed in).

A lease row expires `ttl` seconds after the database's `now()` of the statement that renewed it. The node
cannot read the database's clock, but it knows an instant on its own monotonic clock taken BEFORE it sent
that statement: the database's `now()` came later, so the row expires no sooner than that instant + ttl.
The node stops acting `margin` earlier still, for the two clocks' drift and for the time its own stop takes.
Past that deadline without a newer confirmed renewal it can no longer be sure, whatever the reason (the
renewal failed, hangs, or never ran): it must act as if it had lost the lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class LeaseTiming:
    """ttl: how long a renewal holds the row; renew_every: how often the holder renews; margin: how long
    before the row's earliest expiry the holder stops acting."""

    ttl_s: float
    renew_every_s: float
    margin_s: float

    def problems(self) -> list[str]:
        """Why these figures cannot keep a lease; empty when they can."""
        out = []
        if self.ttl_s <= 0 or self.renew_every_s <= 0 or self.margin_s < 0:
            out.append("ttl and renewal period must be positive, the margin not negative")
        elif self.margin_s >= self.ttl_s:
            out.append("the margin must be shorter than the ttl")
        elif self.renew_every_s >= self.ttl_s - self.margin_s:
            # a renewal every `renew_every` must land before the safety deadline, with room for one retry
            out.append("the renewal period must be shorter than ttl - margin")
        return out


def safe_until(confirmed_at: float | None, timing: LeaseTiming) -> float | None:
    """The last instant (monotonic) the node may act on a renewal sent at `confirmed_at`; None: never."""
    if confirmed_at is None:
        return None
    return confirmed_at + timing.ttl_s - timing.margin_s


def may_act(confirmed_at: float | None, now: float, timing: LeaseTiming) -> bool:
    """True while `now` is strictly before the safety deadline of the last confirmed renewal."""
    until = safe_until(confirmed_at, timing)
    return until is not None and now < until


def renewal_due(last_attempt_at: float | None, now: float, timing: LeaseTiming) -> bool:
    """A renewal (or an attempt to take the lease) is due `renew_every` after the last attempt began."""
    return last_attempt_at is None or now >= last_attempt_at + timing.renew_every_s


def renewal_deadline(timing: LeaseTiming) -> float:
    """How long one renewal (or release) may take before the driver gives it up: past the safety deadline
    of the renewal before it the lease is lost anyway, so waiting longer serves nothing."""
    return timing.ttl_s - timing.margin_s


class Change(Enum):
    gained = "gained"
    lost = "lost"


def change(was_holding: bool, holds: bool) -> Change | None:
    """The transition an owner must act on: start its work on a gain, stop it at once on a loss."""
    if holds and not was_holding:
        return Change.gained
    if was_holding and not holds:
        return Change.lost
    return None


__all__ = ["Change", "LeaseTiming", "change", "may_act", "renewal_deadline", "renewal_due", "safe_until"]
