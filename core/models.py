"""The shared tables: people, teams, queues, customers, calls and what hangs off them. Alembic migrations in
`migrations/` are the only way this schema reaches a database; core/registry.py lists every table module."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.base import Base as Base  # re-exported: much code takes Base (and utcnow) from here
from core.base import BigId, Timestamped, _enum, utcnow


class Role(enum.StrEnum):
    agent = "agent"
    supervisor = "supervisor"
    manager = "manager"
    admin = "admin"


class Tier(enum.StrEnum):
    vip = "vip"
    gold = "gold"
    standard = "standard"
    low = "low"


class NumberKind(enum.StrEnum):
    mobile = "mobile"
    landline = "landline"
    work = "work"
    home = "home"
    switchboard = "switchboard"
    fax = "fax"
    other = "other"


class CallDirection(enum.StrEnum):
    inbound = "inbound"
    outbound = "outbound"
    internal = "internal"


class ComplaintStatus(enum.StrEnum):
    open = "open"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"


class InteractionKind(enum.StrEnum):
    call = "call"
    note = "note"
    disposition = "disposition"
    script = "script"
    complaint = "complaint"
    callback = "callback"
    survey = "survey"  # a post-call survey's answers (app/surveys.py)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)


class User(Timestamped, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    language: Mapped[str] = mapped_column(String(8), default="fr")
    sip_endpoint: Mapped[str | None] = mapped_column(String(80), unique=True)
    # the phone's own SIP password as PJSIP's md5_cred (cti/phones.py); its kind: a SIP phone or softphone
    # (`sip`), or the desk's browser phone (`webrtc`, web/static/js/softphone.js)
    sip_ha1: Mapped[str | None] = mapped_column(String(32))
    sip_password_set_at: Mapped[datetime | None]
    sip_kind: Mapped[str | None] = mapped_column(String(10))
    # the Asterisk server the phone registers on (a PLATEAU_PBX_SERVERS name; None: the first server)
    pbx: Mapped[str | None] = mapped_column(String(32))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    team: Mapped[Team | None] = relationship(lazy="joined")


class Queue(Base):
    __tablename__ = "queues"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)  # the Asterisk queue name
    display_name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    service_level_s: Mapped[int] = mapped_column(Integer, default=20)
    script: Mapped[str | None] = mapped_column(String(120))
    # KPI settings (see app/kpi.py): which service-level formula, its target, short abandons.
    sl_variant: Mapped[str] = mapped_column(String(32), default="short_abandons_excluded")
    sl_target_pct: Mapped[int] = mapped_column(Integer, default=80)
    short_abandon_s: Mapped[int] = mapped_column(Integer, default=5)
    # call recordings (cti/recordings.py): all | none | on_demand, the sound announced, days kept
    recording_policy: Mapped[str] = mapped_column(String(12), default="none", server_default="none")
    recording_announcement: Mapped[str | None] = mapped_column(String(80))
    recording_retention_days: Mapped[int | None] = mapped_column(Integer)
    # the post-call survey is offered on this queue's calls (the desk's button, the dialplan's opt-in)
    survey: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What Asterisk is given (cti/queues_conf.py): app_queue's strategy and wrap-up, the dialplan's maximum
    # wait (None: QUEUE_MAX_WAIT), the queue callers go to after it, the DID that reaches the queue.
    strategy: Mapped[str] = mapped_column(String(20), default="rrmemory", server_default="rrmemory")
    wrapup_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_wait_s: Mapped[int | None] = mapped_column(Integer)
    overflow: Mapped[str | None] = mapped_column(String(80))
    did: Mapped[str | None] = mapped_column(String(21), unique=True)


class QueueMember(Base):
    """Which agents may log into which queue, with their skill there as app_queue's penalty (skill 1 =
    penalty 0, rung first); the live membership is Asterisk's, via the tracker."""

    __tablename__ = "queue_members"
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    penalty: Mapped[int] = mapped_column(Integer, default=0)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Account(Timestamped, Base):
    """A B2B company."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    tier: Mapped[Tier] = mapped_column(_enum(Tier), default=Tier.standard)
    segment: Mapped[str | None] = mapped_column(String(80))
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    # the customer's care status (loss rate): active | lost, since when and why
    care_status: Mapped[str] = mapped_column(String(8), default="active", server_default="active")
    lost_at: Mapped[datetime | None]
    loss_reason: Mapped[str | None] = mapped_column(String(200))


class Contact(Timestamped, Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    job_title: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str | None] = mapped_column(String(40))  # e.g. decision_maker, gatekeeper, user
    tier: Mapped[Tier] = mapped_column(_enum(Tier), default=Tier.standard)
    segment: Mapped[str | None] = mapped_column(String(80))
    language: Mapped[str | None] = mapped_column(String(8))
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    # a contact without an account is a customer of its own: its care status (an account's contacts: the
    # account's)
    care_status: Mapped[str] = mapped_column(String(8), default="active", server_default="active")
    lost_at: Mapped[datetime | None]
    loss_reason: Mapped[str | None] = mapped_column(String(200))
    # the person objected to being called (app/person_data/): their numbers are on the internal DNC list
    objected_at: Mapped[datetime | None]
    account: Mapped[Account | None] = relationship(lazy="joined")
    numbers: Mapped[list[PhoneNumber]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", lazy="selectin", order_by="PhoneNumber.id"
    )


class PhoneNumber(Base):
    __tablename__ = "phone_numbers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # indexed by uq_phone_numbers_contact, whose leading column it is
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[NumberKind] = mapped_column(_enum(NumberKind), default=NumberKind.other)
    # no index of its own (migration 0008): callers are found by suffix_key, the exact match ranked among them
    e164: Mapped[str] = mapped_column(String(20))
    suffix_key: Mapped[str] = mapped_column(String(16), index=True)
    extension: Mapped[str | None] = mapped_column(String(16))
    raw: Mapped[str | None] = mapped_column(String(64))
    contact: Mapped[Contact] = relationship(back_populates="numbers")
    __table_args__ = (UniqueConstraint("contact_id", "e164", "extension", name="uq_phone_numbers_contact"),)


class DispositionCode(Base):
    __tablename__ = "disposition_codes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40), default="other")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PauseReason(Base):
    __tablename__ = "pause_reasons"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Call(Base):
    """One row per call, keyed by Asterisk's Linkedid."""

    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[CallDirection] = mapped_column(_enum(CallDirection))
    caller_number: Mapped[str | None] = mapped_column(String(64))
    caller_name: Mapped[str | None] = mapped_column(String(200))
    called_number: Mapped[str | None] = mapped_column(String(64))  # DNIS for inbound
    queue: Mapped[str | None] = mapped_column(String(80), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(BigId, index=True)
    lead_id: Mapped[int | None] = mapped_column(BigId, index=True)
    offered_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wait_s: Mapped[float | None]
    talk_s: Mapped[float | None]
    hold_s: Mapped[float | None]
    wrap_s: Mapped[float | None]
    outcome: Mapped[str] = mapped_column(String(32), index=True)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    ivr_path: Mapped[list[Any] | None]


class OpenCall(Base):
    """A call in progress, as far as it is known (app/call_history.py: offered, queued, answered), deleted in
    the transaction that writes its `calls` row: after a restart, those Asterisk no longer carries ended
    while Plateau was away, and are written from here."""

    __tablename__ = "calls_open"
    linkedid: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]]
    noted_at: Mapped[datetime]


class ScriptDraft(Base):
    """The CROC script answers an agent has typed on a call whose outcome is not saved yet
    (app/script_service.py), here so that any node serves the agent's next request; deleted when the outcome
    is saved, by the retention job after `script_draft_retention_hours`, and by a person's erasure."""

    __tablename__ = "script_drafts"
    linkedid: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    answers: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(index=True)


class Interaction(Base):
    """The timeline of a contact: calls, notes, dispositions, script answers, complaints."""

    __tablename__ = "interactions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[InteractionKind] = mapped_column(_enum(InteractionKind))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    disposition_code: Mapped[str | None] = mapped_column(String(40))
    # a disposition may name the caller's dissatisfaction reason (complaint_reasons)
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("complaint_reasons.id", ondelete="SET NULL"))
    body: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (
        Index("ix_interactions_contact_at", "contact_id", "at", "id"),
        Index("ix_interactions_account_at", "account_id", "at", "id"),
    )


class SurveyAnswer(Base):
    """A post-call survey's answers (app/surveys.py), one per call: CSAT 1–5, NPS 0–10, a spoken comment's
    file; with the call's agent, queue and campaign as known when the caller answered (reports fall back to
    the call's row for what was not known yet)."""

    __tablename__ = "survey_answers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    flow: Mapped[str] = mapped_column(String(64))
    caller_number: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    queue: Mapped[str | None] = mapped_column(String(80))
    campaign_id: Mapped[int | None] = mapped_column(BigId)
    csat: Mapped[int | None] = mapped_column(Integer)
    nps: Mapped[int | None] = mapped_column(Integer)
    comment_path: Mapped[str | None] = mapped_column(String(255))
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime] = mapped_column(index=True)


class ComplaintReason(Base):
    """The reasons taxonomy: a category (parent_id None) and its sub-categories, in French and English.
    Retired (active false) rather than deleted: complaints keep the reason they were opened with (a reason
    in use cannot be deleted)."""

    __tablename__ = "complaint_reasons"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("complaint_reasons.id"), index=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    label_fr: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class UnhappyRule(Base):
    """A rule of the unhappy-customers file (app/unhappy.py); none stored: the defaults apply."""

    __tablename__ = "unhappy_rules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    days: Mapped[int] = mapped_column(Integer, default=0)
    threshold: Mapped[int | None] = mapped_column(Integer)


class Complaint(Timestamped, Base):
    """A réclamation (ACPR 2022-R-01): acknowledge and answer deadlines are stored at creation."""

    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    category: Mapped[str] = mapped_column(String(80))  # the reason's code (free text before the taxonomy)
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("complaint_reasons.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="phone")
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[ComplaintStatus] = mapped_column(
        _enum(ComplaintStatus), default=ComplaintStatus.open, index=True
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    ack_due_at: Mapped[datetime]
    answer_due_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    resolution: Mapped[str | None] = mapped_column(Text)


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None]
    ip: Mapped[str | None] = mapped_column(String(64))


class Tombstone(Base):
    """What is left of an erased person (app/person_data/): a keyed hash of each of their numbers and
    e-mails (core/tombstones.py), never the clear value, so that imports from an old list skip them."""

    __tablename__ = "tombstones"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # number | email
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- recordings (cti/recordings.py, core/recording_store.py) ---
class Recording(Base):
    """One call's recording, by Linkedid (joins `calls.linkedid`); the file is reached through the store by
    its key only. `purged_at`: the file was deleted (retention or erasure), the row kept as proof."""

    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    storage_key: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str | None] = mapped_column(String(80))
    campaign_id: Mapped[int | None] = mapped_column(BigId)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    duration_s: Mapped[float]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    purged_at: Mapped[datetime | None]


class RecordingPause(Base):
    """A recording paused (`paused` true) or resumed, by whom (None: the IVR) and from where (desk, ivr)."""

    __tablename__ = "recording_pauses"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    paused: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime]


class ComplaintRecording(Base):
    """A recording a complaint pins: kept past its retention while the complaint is not closed."""

    __tablename__ = "complaint_recordings"
    complaint_id: Mapped[int] = mapped_column(
        ForeignKey("complaints.id", ondelete="CASCADE"), primary_key=True
    )
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    pinned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pinned_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- CTI ---
class AgentStateLog(Base):
    """One period an agent spent in a state; `ended_at` is None while it lasts. Written by the CTI layer,
    read by the agent state-time report (created with the reports)."""

    __tablename__ = "agent_state_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20))  # logged_in, ready, talk, wrap, pause, ...
    reason: Mapped[str | None] = mapped_column(String(40))  # pause reason code
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    __table_args__ = (
        Index("ix_agent_state_log_user_started", "user_id", "started_at"),
        Index("ix_agent_state_log_started_at", "started_at"),
    )


class Lease(Base):
    """What one node of several may act for, until `expires_at` by the database's clock (core/leases.py).
    `token` grows on every change of owner: the fencing token a holder's writes carry."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    owner: Mapped[str] = mapped_column(String(120))
    token: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]
    renewed_at: Mapped[datetime]


class LoginFailure(Base):
    """A failed sign-in, for the limiter shared by several nodes on PostgreSQL with the bus on
    (app/login_limits.py); rows older than the window are deleted as new ones come."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_username_ip_at", "username", "ip", "at"),
                      Index("ix_login_failures_ip_at", "ip", "at"))  # fmt: skip
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))  # lower case, as typed (a user's or not)
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
    # a success or an admin's unlock clears the name's failures; the address's count keeps them
    cleared: Mapped[bool] = mapped_column(Boolean, server_default=false())


class HealthHeartbeat(Base):
    """One row, rewritten by /healthz's write probe (app/health.py): proof the database takes writes."""

    __tablename__ = "health_heartbeat"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
