"""A lead population across time zones and the simulator's hopper over it.

Every lead the simulation dials goes through `dialer.leads.select_leads` (hence
`dialer.compliance.check`) at the instant of the dial, with the lead's full history, including
attempts made before the simulation starts. The hopper only decides *which* leads to offer to
`select_leads`, cheaply: a heap per place (same zones and holiday country), a heap of leads waiting for
their next allowed instant (`check(...).next_allowed`), and a per-place "closed until" learnt from
verdicts whose only blocks are the calling window or a public holiday, so a closed time zone is not
asked about lead by lead.

The campaign's retry rules are deliberately aggressive (retry a no-answer after 20 minutes, recycle
before new leads, some refusals re-listed a week later) so that the caps, cool-offs and lockouts are
what stops the dialler, not a lack of pressure.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from dialer.compliance import Reason, RuleSet, check
from dialer.leads import Selection, select_leads
from dialer.leads_model import Attempt, AttemptResult, Callback, Lead, LeadNumber, LeadStatus
from dialer.sim.model import CallRecord

R = AttemptResult


@dataclass(frozen=True, slots=True)
class Place:
    """Numbers of one place: an E.164 prefix (digits are appended), and its share of the leads."""

    prefix: str
    share: float
    digits: int = 7


# Lead mixes per shipped rule set: the home country and its other time zones.
PLACES: dict[str, tuple[Place, ...]] = {
    "FR-2023": (
        Place("+336", 0.80, 8),  # metropolitan France, Europe/Paris
        Place("+262692", 0.06, 6),  # Réunion, UTC+4, its own holidays
        Place("+596696", 0.05, 6),  # Martinique, UTC-4
        Place("+590690", 0.05, 6),  # Guadeloupe, UTC-4
        Place("+594694", 0.04, 6),  # French Guiana, UTC-3
    ),
    "US-TCPA": (
        Place("+1212555", 0.30, 4),  # New York
        Place("+1312555", 0.20, 4),  # Chicago
        Place("+1303555", 0.10, 4),  # Denver
        Place("+1602555", 0.08, 4),  # Phoenix (no DST)
        Place("+1213555", 0.22, 4),  # Los Angeles
        Place("+1907555", 0.05, 4),  # Alaska: two zones, both must be in the window
        Place("+1808555", 0.05, 4),  # Honolulu
    ),
    "UK-Ofcom": (
        Place("+4420", 0.55, 8),  # London
        Place("+44161", 0.35, 7),  # Manchester
        Place("+441534", 0.05, 6),  # Jersey
        Place("+350200", 0.05, 5),  # Gibraltar, UTC+1
    ),
}


class _LeadState:
    __slots__ = ("history", "lead", "place")

    def __init__(self, lead: Lead, place: int) -> None:
        self.lead = lead
        self.place = place
        self.history: list[Attempt] = []


class Population:
    """The campaign's leads, their histories and the hopper the simulator takes from."""

    def __init__(
        self,
        rule_set: RuleSet,
        start: datetime,
        *,
        leads: int,
        seed: int,
        places: Iterable[Place] | None = None,
        prior_share: float = 0.15,
    ) -> None:
        self.rs = rule_set
        self.start = start.astimezone(UTC)
        self.rng = random.Random(seed)
        self.places = tuple(places if places is not None else PLACES[rule_set.name])
        self._protos = [LeadNumber.for_e164(p.prefix + "1" * p.digits) for p in self.places]
        self.leads: list[_LeadState] = []
        self.ready: list[list[tuple[tuple, int]]] = [[] for _ in self.places]
        self.waiting: list[tuple[float, int]] = []
        self.closed_until = [0.0] * len(self.places)
        self.checks = 0
        self.blocked: Counter[Reason] = Counter()  # why offered leads were refused (pressure proof)
        self.dropped_leads = 0  # never dialable again (DNC, wrong numbers, attempts exhausted)
        self._generate(leads, prior_share)

    # -- population -----------------------------------------------------------------------------------

    def _generate(self, n: int, prior_share: float) -> None:
        rng = self.rng
        cumulative = list(itertools.accumulate(p.share for p in self.places))
        counters = [0] * len(self.places)
        for lead_id in range(n):
            k = min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)
            place, proto = self.places[k], self._protos[k]
            numbers = []
            for _ in range(2 if rng.random() < 0.2 else 1):
                counters[k] += 1
                e164 = f"{place.prefix}{counters[k]:0{place.digits}d}"
                numbers.append(LeadNumber(e164, proto.zones, proto.country, proto.subdivision))
            lead = Lead(lead_id, tuple(numbers), consent=rng.random() < 0.7)
            state = _LeadState(lead, k)
            self.leads.append(state)
            if rng.random() < prior_share:
                self._prior_history(state)
            self._push_ready(state)

    def _prior_history(self, state: _LeadState) -> None:
        """Attempts made before the simulation: they make the caps, cool-offs and lockouts bite."""
        rng, lead = self.rng, state.lead
        kind = rng.random()
        e164 = lead.numbers[0].e164
        if kind < 0.5:  # several recent attempts: the next ones may exceed a cap
            for _ in range(rng.randint(1, 3)):
                when = self.start - timedelta(days=rng.uniform(0.5, 29.5))
                state.history.append(Attempt(lead.id, e164, when, R.NO_ANSWER))
        elif kind < 0.75:  # a refusal some weeks ago: inside a 60-day cool-off
            when = self.start - timedelta(days=rng.uniform(1, 75))
            state.history.append(Attempt(lead.id, e164, when, R.REFUSED, when, when))
        else:  # an abandoned call in the last days: inside a 72 h lockout
            when = self.start - timedelta(hours=rng.uniform(1, 80))
            state.history.append(Attempt(lead.id, e164, when, R.DROPPED, when, None))
        state.history.sort(key=lambda a: a.started_at)
        state.lead = replace(lead, attempts=len(state.history), status=LeadStatus.RETRY)

    @staticmethod
    def _key(lead: Lead) -> tuple:
        # the same order as select_leads: due callbacks first, priority, fewer attempts, id
        if lead.status == LeadStatus.CALLBACK and lead.callback is not None:
            return (0, lead.callback.at.timestamp(), -lead.priority, lead.id)
        return (1, -lead.priority, lead.attempts, lead.id)

    def _push_ready(self, state: _LeadState) -> None:
        heapq.heappush(self.ready[state.place], (self._key(state.lead), state.lead.id))

    def _secs(self, when: datetime) -> float:
        return (when - self.start).total_seconds()

    # -- the hopper -----------------------------------------------------------------------------------

    def take(self, n: int, t: float) -> list[Selection]:
        now = self.start + timedelta(seconds=t)
        waiting = self.waiting
        while waiting and waiting[0][0] <= t:
            _, lead_id = heapq.heappop(waiting)
            self._push_ready(self.leads[lead_id])
        out: list[Selection] = []
        while len(out) < n:
            batch = self._candidates(n - len(out), t)
            if not batch:
                break
            history = [a for s in batch for a in s.history]
            self.checks += len(batch)
            chosen = select_leads([s.lead for s in batch], history, self.rs, now, len(batch))
            picked = {sel.lead.id for sel in chosen}
            out.extend(chosen)
            for state in batch:
                if state.lead.id not in picked:
                    self._reschedule(state, now, t)
        return out

    def idle_until(self, t: float) -> float:
        """When a lead may next be offered, given that none can be now (the engine sleeps till then)."""
        times = [self.closed_until[k] for k, heap in enumerate(self.ready) if heap]
        if self.waiting:
            times.append(self.waiting[0][0])
        return min(times, default=float("inf"))

    def _candidates(self, n: int, t: float) -> list[_LeadState]:
        batch: list[_LeadState] = []
        while len(batch) < n:
            best = None
            for k, heap in enumerate(self.ready):
                if (
                    heap
                    and self.closed_until[k] <= t
                    and (best is None or heap[0][0] < self.ready[best][0][0])
                ):
                    best = k
            if best is None:
                break
            _, lead_id = heapq.heappop(self.ready[best])
            batch.append(self.leads[lead_id])
        return batch

    def _reschedule(self, state: _LeadState, now: datetime, t: float) -> None:
        lead = state.lead
        verdicts = [check(lead, num, state.history, self.rs, now) for num in lead.numbers]
        self.checks += len(verdicts)
        for v in verdicts:
            self.blocked.update(set(v.reasons))
        times = [v.next_allowed for v in verdicts if v.next_allowed is not None]
        if not times:
            self.dropped_leads += 1
            return
        nxt = max(self._secs(min(times)), t + 1.0)
        only_window = all(
            all(b.reason in (Reason.OUTSIDE_WINDOW, Reason.PUBLIC_HOLIDAY) for b in v.blocks)
            for v in verdicts
        )
        if only_window and lead.status != LeadStatus.CALLBACK:
            self.closed_until[state.place] = max(self.closed_until[state.place], nxt)
        heapq.heappush(self.waiting, (nxt, lead.id))

    # -- outcomes and retry rules ---------------------------------------------------------------------

    def finished(self, handle: Selection, record: CallRecord, result: AttemptResult, t: float) -> None:
        state = self.leads[handle.lead.id]
        start = self.start + timedelta(seconds=record.start)
        answered = None if record.answered is None else self.start + timedelta(seconds=record.answered)
        connected = None if record.connected is None else self.start + timedelta(seconds=record.connected)
        state.history.append(
            Attempt(state.lead.id, handle.number.e164, start, result, answered, connected, record.amd_machine)
        )
        now = self.start + timedelta(seconds=t)
        lead = state.lead
        attempts = lead.attempts + 1
        rng = self.rng
        status, not_before, callback = LeadStatus.RETRY, now + timedelta(minutes=20), None
        if result == R.MACHINE:
            not_before = now + timedelta(hours=1)
        elif result == R.DROPPED:
            not_before = now + timedelta(minutes=30)
        elif result == R.CONTACT:
            not_before = now + timedelta(days=1)
        elif result == R.CALLBACK:
            status = LeadStatus.CALLBACK
            callback = Callback(now + timedelta(hours=rng.uniform(1, 72)))
            not_before = None
        elif result == R.SUCCESS:
            status = LeadStatus.DONE
        elif result == R.REFUSED:
            if rng.random() < 0.5:
                status = LeadStatus.DONE
            else:  # re-listed by another campaign a week later: the cool-off must hold it
                not_before = now + timedelta(days=7)
        elif result == R.DO_NOT_CALL:
            status = LeadStatus.DO_NOT_CALL
        elif result == R.WRONG_NUMBER:
            not_before = now + timedelta(hours=1)
        state.lead = replace(
            lead, attempts=attempts, status=status, not_before=not_before, callback=callback, priority=1
        )
        if status in (LeadStatus.DONE, LeadStatus.DO_NOT_CALL):
            return
        due = callback.at if callback is not None else not_before
        assert due is not None
        heapq.heappush(self.waiting, (self._secs(due), lead.id))

    def attempts(self) -> list[tuple[Lead, Attempt, bool]]:
        """Every attempt as (lead, attempt, made during the simulation), in time order."""
        out = []
        for state in self.leads:
            for a in state.history:
                out.append((state.lead, a, a.started_at >= self.start))
        out.sort(key=lambda x: x[1].started_at)
        return out
