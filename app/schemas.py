"""API schemas: strings bounded and NUL-free, ids within BIGINT. Bad input is a 422, never a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from core.models import CallDirection, ComplaintStatus, InteractionKind, NumberKind, Role, Tier
from core.settings import PBX_NAME
from cti.sounds import SOUND_NAME, SOUND_NAME_MAX

MAX_ID = 2**62  # below BIGINT's limit on PostgreSQL and SQLite


def _no_control(v: str) -> str:
    # PostgreSQL rejects NUL in text; other C0 controls in names are never legitimate and break exports.
    if any(ord(c) < 32 and c not in "\t\n\r" for c in v):
        raise ValueError("control characters are not allowed")
    return v


def Text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_no_control),
    ]


Name = Text(120, 1)
Label = Text(200, 1)
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_\-]{1,40}$")]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=200)]
SearchText = Annotated[str, Query(min_length=1, max_length=120), AfterValidator(_no_control)]


class ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


# --- auth -----------------------------------------------------------------------------------------------
class LoginIn(BaseModel):
    username: Text(80, 1)  # type: ignore[valid-type]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class MeOut(ORM):
    id: int
    username: str
    display_name: str
    role: Role
    language: str
    team_id: int | None
    sip_endpoint: str | None


class LoginOut(BaseModel):
    user: MeOut
    csrf_token: str


class TokenIn(BaseModel):
    name: Label  # type: ignore[valid-type]


class TokenOut(ORM):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class TokenCreated(TokenOut):
    token: str  # shown once


# --- customers ------------------------------------------------------------------------------------------
class AccountIn(BaseModel):
    name: Label  # type: ignore[valid-type]
    tier: Tier = Tier.standard
    segment: Text(80) | None = None  # type: ignore[valid-type]
    external_id: Text(80) | None = None  # type: ignore[valid-type]


class AccountPatch(BaseModel):
    name: Label | None = None  # type: ignore[valid-type]
    tier: Tier | None = None
    segment: Text(80) | None = None  # type: ignore[valid-type]
    external_id: Text(80) | None = None  # type: ignore[valid-type]


class AccountOut(ORM):
    id: int
    name: str
    tier: Tier
    segment: str | None
    external_id: str | None


class NumberIn(BaseModel):
    number: Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_no_control)]
    kind: NumberKind = NumberKind.other


class NumberOut(ORM):
    id: int
    kind: NumberKind
    e164: str
    extension: str | None
    raw: str | None


class ContactIn(BaseModel):
    first_name: Text(120) = ""  # type: ignore[valid-type]
    last_name: Name  # type: ignore[valid-type]
    account_id: Id | None = None  # type: ignore[valid-type]
    email: Text(254) | None = None  # type: ignore[valid-type]
    job_title: Text(120) | None = None  # type: ignore[valid-type]
    role: Text(40) | None = None  # type: ignore[valid-type]
    tier: Tier = Tier.standard
    segment: Text(80) | None = None  # type: ignore[valid-type]
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] | None = None
    external_id: Text(80) | None = None  # type: ignore[valid-type]
    numbers: list[NumberIn] = Field(default_factory=list, max_length=20)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v and ("@" not in v or v.startswith("@") or v.endswith("@")):
            raise ValueError("not an e-mail address")
        return v or None


class ContactPatch(BaseModel):
    first_name: Text(120) | None = None  # type: ignore[valid-type]
    last_name: Name | None = None  # type: ignore[valid-type]
    account_id: Id | None = None  # type: ignore[valid-type]
    email: Text(254) | None = None  # type: ignore[valid-type]
    job_title: Text(120) | None = None  # type: ignore[valid-type]
    role: Text(40) | None = None  # type: ignore[valid-type]
    tier: Tier | None = None
    segment: Text(80) | None = None  # type: ignore[valid-type]
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] | None = None
    external_id: Text(80) | None = None  # type: ignore[valid-type]


class ContactOut(ORM):
    id: int
    first_name: str
    last_name: str
    account: AccountOut | None
    email: str | None
    job_title: str | None
    role: str | None
    tier: Tier
    segment: str | None
    language: str | None
    external_id: str | None
    objected_at: datetime | None = None  # the person objected to calls (their numbers are on the DNC list)
    numbers: list[NumberOut]


class MatchOut(BaseModel):
    contact: ContactOut
    number: NumberOut
    how: str


# --- history --------------------------------------------------------------------------------------------
class InteractionOut(ORM):
    id: int
    kind: InteractionKind
    contact_id: int | None
    account_id: int | None
    call_id: int | None
    complaint_id: int | None
    agent_id: int | None
    disposition_code: str | None
    reason_id: int | None = None
    body: str | None
    data: dict[str, Any] | None
    at: datetime


class NoteIn(BaseModel):
    body: Text(10_000, 1)  # type: ignore[valid-type]
    disposition_code: Code | None = None  # type: ignore[valid-type]
    call_id: Id | None = None  # type: ignore[valid-type]
    reason_id: Id | None = None  # type: ignore[valid-type]  # the caller's dissatisfaction reason


class CallOut(ORM):
    id: int
    linkedid: str
    direction: CallDirection
    caller_number: str | None
    caller_name: str | None
    called_number: str | None
    queue: str | None
    agent_id: int | None
    contact_id: int | None
    campaign_id: int | None
    lead_id: int | None
    offered_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    wait_s: float | None
    talk_s: float | None
    hold_s: float | None
    wrap_s: float | None
    outcome: str
    hangup_cause: int | None
    ivr_path: list[Any] | None
    csat: int | None = None  # the post-call survey's answers (app/surveys.py)
    nps: int | None = None


# --- complaints -----------------------------------------------------------------------------------------
class ComplaintIn(BaseModel):
    contact_id: Id  # type: ignore[valid-type]
    call_id: Id | None = None  # type: ignore[valid-type]
    reason_id: Id | None = None  # type: ignore[valid-type]  # the taxonomy's reason (complaint-reasons)
    category: Label | None = None  # type: ignore[valid-type]  # free text, when no reason is given
    channel: Annotated[str, StringConstraints(pattern=r"^(phone|email|letter|web|counter|other)$")] = "phone"
    description: Text(20_000, 1)  # type: ignore[valid-type]
    owner_id: Id | None = None  # type: ignore[valid-type]
    received_at: datetime | None = None

    @field_validator("received_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-11-22T10:00:00+01:00)")
        if v is not None and not (1970 <= v.year <= 9000):
            raise ValueError("out of range")
        return v

    @model_validator(mode="after")
    def _a_reason(self) -> ComplaintIn:
        if self.reason_id is None and self.category is None:
            raise ValueError("reason_id: give a reason (or a category)")
        return self


class ComplaintPatch(BaseModel):
    category: Label | None = None  # type: ignore[valid-type]
    description: Text(20_000, 1) | None = None  # type: ignore[valid-type]
    owner_id: Id | None = None  # type: ignore[valid-type]
    escalation_level: Annotated[int, Field(ge=1, le=3)] | None = None


class TransitionIn(BaseModel):
    to: ComplaintStatus
    note: Text(10_000) | None = None  # type: ignore[valid-type]


class ComplaintOut(ORM):
    id: int
    contact_id: int
    call_id: int | None
    category: str
    reason_id: int | None = None
    channel: str
    description: str
    status: ComplaintStatus
    owner_id: int | None
    escalation_level: int
    received_at: datetime
    ack_due_at: datetime
    answer_due_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    resolution: str | None
    sla_state: str = ""


# --- admin ----------------------------------------------------------------------------------------------
PhoneKind = Literal["sip", "webrtc"]  # a SIP phone or softphone, or the browser's


class UserIn(BaseModel):
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{2,80}$")]
    display_name: Label  # type: ignore[valid-type]
    password: Annotated[str, StringConstraints(min_length=10, max_length=1024)]
    role: Role
    language: Annotated[str, StringConstraints(pattern=r"^(fr|en)$")] = "fr"
    sip_endpoint: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,80}$")] | None = None
    sip_kind: PhoneKind | None = None
    # the Asterisk server the phone registers on (a PLATEAU_PBX_SERVERS name; None: the first)
    pbx: Annotated[str, StringConstraints(pattern=PBX_NAME)] | None = None
    team_id: Id | None = None  # type: ignore[valid-type]


class UserPatch(BaseModel):
    display_name: Label | None = None  # type: ignore[valid-type]
    password: Annotated[str, StringConstraints(min_length=10, max_length=1024)] | None = None
    role: Role | None = None
    language: Annotated[str, StringConstraints(pattern=r"^(fr|en)$")] | None = None
    sip_endpoint: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,80}$")] | None = None
    sip_kind: PhoneKind | None = None
    # the Asterisk server the phone registers on (a PLATEAU_PBX_SERVERS name; None: the first)
    pbx: Annotated[str, StringConstraints(pattern=PBX_NAME)] | None = None
    team_id: Id | None = None  # type: ignore[valid-type]
    active: bool | None = None


class UserOut(MeOut):
    active: bool
    sip_kind: str | None = None
    sip_password_set_at: datetime | None = None  # the phone's own password exists since (never shown)
    pbx: str | None = None


class TeamIn(BaseModel):
    name: Name  # type: ignore[valid-type]


class TeamOut(ORM):
    id: int
    name: str


# call recordings (cti/recordings.py): a sound Playback takes, days kept (0: forever)
SoundName = Annotated[
    str, StringConstraints(pattern=f"^(?:{SOUND_NAME.pattern})$", max_length=SOUND_NAME_MAX)
]
RetentionDays = Annotated[int, Field(ge=0, le=36500)]


class CodeIn(BaseModel):
    code: Code  # type: ignore[valid-type]
    label: Label  # type: ignore[valid-type]
    category: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] = "other"
    active: bool = True


class CodePatch(BaseModel):
    label: Label | None = None  # type: ignore[valid-type]
    category: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] | None = None
    active: bool | None = None


class CodeOut(ORM):
    id: int
    code: str
    label: str
    active: bool


class DispositionOut(CodeOut):
    category: str


class AuditOut(ORM):
    id: int
    at: datetime
    user_id: int | None
    action: str
    target_type: str | None
    target_id: str | None
    detail: dict[str, Any] | None
    ip: str | None
