"""What the interpreter and its edge exchange: a `Step` (sounds, then a request or an exit) and the
events that answer a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cti.ivr.hours import Schedule

# --- what the edge is asked to do ---------------------------------------------------------------------


@dataclass(frozen=True)
class Play:
    sounds: tuple[str, ...]


@dataclass(frozen=True)
class SayDigits:
    digits: str


@dataclass(frozen=True)
class SayNumber:
    number: int


Output = Play | SayDigits | SayNumber


@dataclass(frozen=True)
class GetDigits:
    """Play `prompt` (a key interrupts it), then read up to `max_digits` keys; `terminator` ends early."""

    prompt: tuple[str, ...]
    max_digits: int
    timeout_s: float
    terminator: str = ""


@dataclass(frozen=True)
class LookupCaller:
    caller: str | None


@dataclass(frozen=True)
class ScheduleCallback:
    number_e164: str
    queue: str
    mode: Literal["agent", "anyone"]


@dataclass(frozen=True)
class Record:
    max_s: int
    purpose: Literal["voicemail", "comment"] = "voicemail"


@dataclass(frozen=True)
class SaveSurvey:
    """Store the survey's answers with the call (None: not answered)."""

    csat: int | None
    nps: int | None
    comment: str | None


Request = GetDigits | LookupCaller | ScheduleCallback | Record | SaveSurvey


@dataclass(frozen=True)
class Exit:
    """How the caller leaves the IVR. `kind` is queue, transfer, voicemail, hangup, caller_hangup or error."""

    kind: str
    node: str
    queue: str | None = None
    priority: int = 0
    max_wait_s: int = 0
    on_timeout: str | None = None
    number: str | None = None
    reason: str = ""
    survey: bool = False  # the caller agreed to the post-call survey (`survey_optin`)


@dataclass(frozen=True)
class Step:
    outputs: tuple[Output, ...] = ()
    request: Request | None = None
    exit: Exit | None = None


# --- what comes back from the edge --------------------------------------------------------------------


@dataclass(frozen=True)
class Digits:
    """Keys the caller pressed; '' when the timeout passed without a key."""

    value: str


@dataclass(frozen=True)
class LookupDone:
    values: Mapping[str, Any]


@dataclass(frozen=True)
class CallbackDone:
    ok: bool
    reference: str = ""


@dataclass(frozen=True)
class Recorded:
    ok: bool
    reference: str = ""


@dataclass(frozen=True)
class SurveySaved:
    ok: bool


@dataclass(frozen=True)
class CallerHangup:
    pass


Event = Digits | LookupDone | CallbackDone | Recorded | SurveySaved | CallerHangup
SURVEY_OPTIN = "survey_optin"  # the variable a flow sets when the caller agrees to the post-call survey

LOOKUP_DEFAULTS: dict[str, Any] = {
    "known": False,
    "tier": "",
    "open_complaint": False,
    "customer_name": "",
    "contact_id": "",
}


@dataclass(frozen=True)
class CallContext:
    caller: str | None  # the caller ID as the trunk sent it (hostile text)
    did: str
    now: datetime  # aware; judged against opening hours
    region: str = "FR"
    # the stored schedules the flow names (read by the I/O shell before the call starts); a name missing
    # here falls back to the schedule written in the flow
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
