"""The records lead selection and compliance work on: leads, their numbers, and call attempts.

Small frozen dataclasses so the pure core never sees an ORM object; the database layer fills them
(`LeadNumber.for_e164` derives the zone and holiday country the way an import does).
All datetimes are timezone-aware; naive ones are refused where they enter.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from dialer.compliance_zones import holiday_country_for, region_of, zones_for_number


class LeadStatus(enum.StrEnum):
    NEW = "new"  # never dialled
    RETRY = "retry"  # dialled, to be dialled again (after `Lead.not_before`)
    CALLBACK = "callback"  # an agent scheduled a callback (`Lead.callback`)
    DONE = "done"  # finished: success, refusal, or attempts exhausted
    DO_NOT_CALL = "do_not_call"
    INVALID = "invalid"  # no number can be dialled


DIALABLE_STATUSES = frozenset({LeadStatus.NEW, LeadStatus.RETRY, LeadStatus.CALLBACK})


class AttemptResult(enum.StrEnum):
    """What one dial produced: the dialer's own result, or the agent's disposition action."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # congestion, unreachable, network error
    MACHINE = "machine"  # answering machine (AMD or agent)
    DROPPED = "dropped"  # a person answered and no agent was connected
    CONTACT = "contact"  # a person was reached; nothing more specific
    SUCCESS = "success"
    CALLBACK = "callback"
    REFUSED = "refused"
    WRONG_NUMBER = "wrong_number"
    DO_NOT_CALL = "do_not_call"


# A live person answered (the denominator of an abandon rate).
LIVE_RESULTS = frozenset(
    {
        AttemptResult.DROPPED,
        AttemptResult.CONTACT,
        AttemptResult.SUCCESS,
        AttemptResult.CALLBACK,
        AttemptResult.REFUSED,
        AttemptResult.WRONG_NUMBER,
        AttemptResult.DO_NOT_CALL,
    }
)


def require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class LeadNumber:
    e164: str
    zones: tuple[str, ...]  # IANA zones the number may ring in (usually one)
    country: str | None  # ISO code whose public holidays apply (RE, MQ… for overseas France)
    subdivision: str | None = None  # e.g. "57" (Moselle) for regional holidays

    @classmethod
    def for_e164(cls, e164: str, zone: str | None = None, subdivision: str | None = None) -> LeadNumber:
        """Derive zones and holiday country from the number; an explicit `zone` column wins."""
        country = holiday_country_for(e164) or region_of(e164)
        return cls(e164, zones_for_number(e164, zone), country, subdivision)


@dataclass(frozen=True, slots=True)
class Callback:
    at: datetime
    agent_id: int | None = None  # None: anyone may take it; else agent-only ("USERONLY")

    def __post_init__(self) -> None:
        require_aware(self.at, "callback time")


@dataclass(frozen=True, slots=True)
class Lead:
    id: int
    numbers: tuple[LeadNumber, ...]
    priority: int = 0  # higher first
    attempts: int = 0  # total dials so far (ordering only; caps use the history)
    status: LeadStatus = LeadStatus.NEW
    fields: Mapping[str, str] = field(default_factory=dict)  # custom columns, script variables
    consent: bool = False  # proven prior consent to be called
    callback: Callback | None = None
    not_before: datetime | None = None  # set by retry rules: do not dial before this instant

    def __post_init__(self) -> None:
        if self.not_before is not None:
            require_aware(self.not_before, "not_before")


@dataclass(frozen=True, slots=True)
class Attempt:
    lead_id: int
    e164: str
    started_at: datetime
    result: AttemptResult
    answered_at: datetime | None = None  # when the far end answered (person or machine)
    agent_connected_at: datetime | None = None  # when an agent was bridged
    amd_machine: bool = False  # hung up by AMD as a machine (may be a false positive)
    agent_id: int | None = None
    campaign_id: int | None = None

    def __post_init__(self) -> None:
        require_aware(self.started_at, "attempt start")

    @property
    def live(self) -> bool:
        return self.answered_at is not None and self.result in LIVE_RESULTS

    def abandoned(self, after_seconds: float) -> bool:
        """A person answered and no agent was on the line within `after_seconds` (TCPA/Ofcom sense)."""
        if not self.live or self.answered_at is None:
            return False
        if self.agent_connected_at is None:
            return True
        return (self.agent_connected_at - self.answered_at).total_seconds() > after_seconds
