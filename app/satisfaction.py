"""Post-call satisfaction figures. Pure: answers in, numbers out; no database, no clock.

  CSAT            mean of the CSAT answers (1–5), and the share of satisfied answers (4 or 5)
  NPS             % promoters (9–10) − % detractors (0–6) among the NPS answers, in points (−100…100);
                  passives (7–8) count in the denominator only
  response rate   calls with at least one answer / calls handled
A figure with nothing to divide by is None (shown "—"), never 0.

Rows group the calls by agent, queue, campaign or reason (a call's dissatisfaction reason: the one its
disposition named, else its complaint's); each call counts once, answered or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

CSAT_SCORES = range(1, 6)
NPS_SCORES = range(0, 11)
NONE_KEY = "—"


class By(StrEnum):
    total = "total"
    agent = "agent"
    queue = "queue"
    campaign = "campaign"
    reason = "reason"


@dataclass(frozen=True, slots=True)
class SurveyedCall:
    """A call handled, with its survey answers (None: not answered) and what it is grouped by."""

    csat: int | None = None
    nps: int | None = None
    agent_id: int | None = None
    queue: str | None = None
    campaign_id: int | None = None
    reason_id: int | None = None

    def __post_init__(self) -> None:
        if self.csat is not None and self.csat not in CSAT_SCORES:
            raise ValueError(f"csat: {self.csat} is not between 1 and 5")
        if self.nps is not None and self.nps not in NPS_SCORES:
            raise ValueError(f"nps: {self.nps} is not between 0 and 10")


@dataclass(frozen=True, slots=True)
class Satisfaction:
    key: str
    handled: int
    answered: int
    response_rate: float | None
    csat_answers: int
    csat_mean: float | None
    csat_satisfied: float | None  # share of 4 and 5
    nps_answers: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None  # points, −100…100
    csat_counts: tuple[int, ...]  # answers per score 1…5
    nps_counts: tuple[int, ...]  # answers per score 0…10


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def net_promoter_score(promoters: int, detractors: int, answers: int) -> float | None:
    """% promoters − % detractors, in points."""
    return None if answers <= 0 else 100 * (promoters - detractors) / answers


def satisfaction(calls: Iterable[SurveyedCall], key: str = "total") -> Satisfaction:
    handled = answered = 0
    csat_counts = [0] * len(CSAT_SCORES)
    nps_counts = [0] * len(NPS_SCORES)
    for c in calls:
        handled += 1
        if c.csat is None and c.nps is None:
            continue
        answered += 1
        if c.csat is not None:
            csat_counts[c.csat - CSAT_SCORES.start] += 1
        if c.nps is not None:
            nps_counts[c.nps] += 1
    n_csat, n_nps = sum(csat_counts), sum(nps_counts)
    promoters, passives, detractors = sum(nps_counts[9:]), sum(nps_counts[7:9]), sum(nps_counts[:7])
    total = sum(score * n for score, n in zip(CSAT_SCORES, csat_counts, strict=True))
    return Satisfaction(
        key=key,
        handled=handled,
        answered=answered,
        response_rate=_ratio(answered, handled),
        csat_answers=n_csat,
        csat_mean=_ratio(total, n_csat),
        csat_satisfied=_ratio(csat_counts[3] + csat_counts[4], n_csat),
        nps_answers=n_nps,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        nps=net_promoter_score(promoters, detractors, n_nps),
        csat_counts=tuple(csat_counts),
        nps_counts=tuple(nps_counts),
    )


def _key(call: SurveyedCall, by: By) -> str:
    value = {
        By.total: "total",
        By.agent: call.agent_id,
        By.queue: call.queue,
        By.campaign: call.campaign_id,
        By.reason: call.reason_id,
    }[by]
    return NONE_KEY if value is None else str(value)


def satisfaction_rows(calls: Iterable[SurveyedCall], by: By | str) -> list[Satisfaction]:
    """One row per key of `by`, in key order ("—": calls without one); `total` gives one row, also when
    there is no call at all."""
    by = By(by)
    groups: dict[str, list[SurveyedCall]] = {}
    for c in calls:
        groups.setdefault(_key(c, by), []).append(c)
    if by is By.total and not groups:
        groups["total"] = []
    return [satisfaction(groups[k], k) for k in sorted(groups)]
