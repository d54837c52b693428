"""Outbound data model: call lists, leads, attempts, campaigns, DNC, callbacks, imports.

Migration `0002_outbound` creates exactly these tables. The pure core (`dialer.leads`,
`dialer.compliance`) never sees these classes; `dialer.store` turns rows into its frozen records.
"""

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, BigId, Timestamped, _enum, utcnow


class DialMode(enum.StrEnum):
    preview = "preview"
    progressive = "progressive"
    predictive = "predictive"


class CampaignState(enum.StrEnum):
    draft = "draft"
    running = "running"
    paused = "paused"
    stopped = "stopped"
    finished = "finished"


class MachineAction(enum.StrEnum):
    hangup = "hangup"  # drop the call, retry per the retry rules
    message = "message"  # leave the campaign's recorded message
    agent = "agent"  # pass it to an agent anyway


class DncKind(enum.StrEnum):
    internal = "internal"  # the company's own list: applies to every campaign
    campaign = "campaign"  # one campaign's list
    national = "national"  # an imported national opt-out file (Bloctel, TPS, the US registry)


class CallbackStatus(enum.StrEnum):
    pending = "pending"
    done = "done"
    cancelled = "cancelled"


class CallbackSource(enum.StrEnum):
    agent = "agent"
    ivr = "ivr"
    dialer = "dialer"


class ImportStatus(enum.StrEnum):
    running = "running"
    done = "done"
    failed = "failed"


class RejectKind(enum.StrEnum):
    invalid = "invalid"
    duplicate = "duplicate"
    dnc = "dnc"
    no_consent = "no_consent"
    erased = "erased"  # the person's data was erased at their request (a tombstone, core/tombstones.py)


class CallList(Timestamped, Base):
    __tablename__ = "call_lists"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lead_count: Mapped[int] = mapped_column(Integer, default=0)


class Lead(Base):
    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("call_lists.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(String(80))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)  # mapped standard + custom columns
    status: Mapped[str] = mapped_column(String(16), default="new")  # dialer.leads_model.LeadStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    priority: Mapped[int] = mapped_column(Integer, default=0)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    source_line: Mapped[int | None] = mapped_column(Integer)  # line of the uploaded file
    # The import job that wrote it: a lead is dialable only once that job is done (dialer.store), so an
    # import that commits batch by batch stays all-or-nothing. No foreign key: jobs are never deleted.
    import_job_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (
        Index("ix_leads_list_status_next", "list_id", "status", "next_attempt_at"),
        Index("ix_leads_list_external", "list_id", "external_id"),
        # imported leads have no contact: no index entry for them (migration 0006)
        Index(
            "ix_leads_contact_id",
            "contact_id",
            postgresql_where=text("contact_id IS NOT NULL"),
            sqlite_where=text("contact_id IS NOT NULL"),
        ),
    )


class LeadNumber(Base):
    __tablename__ = "lead_numbers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(BigId)  # denormalised: dedupe looks numbers up per list
    position: Mapped[int] = mapped_column(Integer, default=0)  # order on the lead (0 = main)
    label: Mapped[str | None] = mapped_column(String(40))  # the column it came from
    e164: Mapped[str] = mapped_column(String(20))
    tz: Mapped[str] = mapped_column(String(64))  # IANA zones, comma-separated when several
    country: Mapped[str | None] = mapped_column(String(8))  # whose public holidays apply
    raw: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (Index("ix_lead_numbers_e164_list", "e164", "list_id"),)


class LeadAttempt(Base):
    __tablename__ = "lead_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    e164: Mapped[str] = mapped_column(String(20), index=True)
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    agent_connected_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    result: Mapped[str] = mapped_column(String(20))  # dialer.leads_model.AttemptResult
    amd_machine: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    disposition_code: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (Index("ix_lead_attempts_campaign_started", "campaign_id", "started_at"),)


class MappingTemplate(Timestamped, Base):
    """A saved column mapping: file header (normalised) → lead field, plus reading options."""

    __tablename__ = "mapping_templates"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    mapping: Mapped[dict[str, Any]]
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Campaign(Timestamped, Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    dial_mode: Mapped[DialMode] = mapped_column(_enum(DialMode), default=DialMode.progressive)
    dial_ratio: Mapped[float] = mapped_column(default=1.0)  # upper bound on lines per agent (predictive)
    caller_id: Mapped[str | None] = mapped_column(String(20))  # E.164
    script: Mapped[str | None] = mapped_column(String(120))  # a scripts/*.yaml stem
    max_channels: Mapped[int] = mapped_column(Integer, default=10)
    amd_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    amd_machine_action: Mapped[MachineAction] = mapped_column(
        _enum(MachineAction), default=MachineAction.hangup
    )
    retry_rules: Mapped[dict[str, Any]] = mapped_column(default=dict)  # outcome → {delay_minutes, max}
    rule_set: Mapped[str] = mapped_column(String(64))
    callback_fallback_minutes: Mapped[int] = mapped_column(Integer, default=30)
    # said digit by digit in the abandon message (None: the caller ID); `machine_message`: a sound file
    # name left on answering machines (None: the abandon message) -- both validated by dialer.messages
    callback_number: Mapped[str | None] = mapped_column(String(20))
    machine_message: Mapped[str | None] = mapped_column(String(80))
    # the uploaded abandon message (a sound name, app/campaign_sounds.py); None: the stock prompts above
    abandon_message: Mapped[str | None] = mapped_column(String(80))
    # call recordings (cti/recordings.py): all | none | on_demand, the sound announced, days kept
    recording_policy: Mapped[str] = mapped_column(String(12), default="none", server_default="none")
    recording_announcement: Mapped[str | None] = mapped_column(String(80))
    recording_retention_days: Mapped[int | None] = mapped_column(Integer)
    # the post-call survey is offered on this campaign's calls (the desk's button)
    survey: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    state: Mapped[CampaignState] = mapped_column(_enum(CampaignState), default=CampaignState.draft)
    state_changed_at: Mapped[datetime | None]
    state_changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class DialerCall(Base):
    """A call the dialer originated and has not written yet (see migration 0005): what a restarted
    engine adopts instead of dialling the lead again."""

    __tablename__ = "dialer_calls"
    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20))
    lead_status: Mapped[str] = mapped_column(String(16))
    for_agent: Mapped[str | None] = mapped_column(String(80))  # agent-first call: the agent's interface
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    agent_connected_at: Mapped[datetime | None]
    agent: Mapped[str | None] = mapped_column(String(80))
    amd_status: Mapped[str | None] = mapped_column(String(16))
    lease_token: Mapped[int | None] = mapped_column(BigInteger)  # the campaign lease's, when placed


class CampaignList(Base):
    __tablename__ = "campaign_lists"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("call_lists.id", ondelete="CASCADE"), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)


class CustomRuleSet(Timestamped, Base):
    """A manager's rule set; `data` is what `dialer.compliance.parse_rule_set` validates."""

    __tablename__ = "rule_sets"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[dict[str, Any]]
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class DncList(Base):
    __tablename__ = "dnc_lists"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[DncKind] = mapped_column(_enum(DncKind))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    source: Mapped[str | None] = mapped_column(String(80))  # e.g. "Bloctel 2026-11"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DncEntry(Base):
    __tablename__ = "dnc_entries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dnc_list_id: Mapped[int] = mapped_column(ForeignKey("dnc_lists.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("dnc_list_id", "e164", name="uq_dnc_entries_list_e164"),)


class Callback(Base):
    __tablename__ = "callbacks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number_e164: Mapped[str] = mapped_column(String(20))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]  # UTC
    tz: Mapped[str] = mapped_column(String(64))  # the customer's zone, as they were told the time
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # None: anyone
    fallback_after_minutes: Mapped[int] = mapped_column(Integer, default=30)
    status: Mapped[CallbackStatus] = mapped_column(_enum(CallbackStatus), default=CallbackStatus.pending)
    source: Mapped[CallbackSource] = mapped_column(_enum(CallbackSource))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_callbacks_status_due", "status", "due_at"),)


class ImportJob(Base):
    """One upload: counters are written in batches so a poller sees the progress."""

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("call_lists.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus), default=ImportStatus.running)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    dnc: Mapped[int] = mapped_column(Integer, default=0)
    no_consent: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    erased: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class ImportReject(Base):
    __tablename__ = "import_rejects"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    kind: Mapped[RejectKind] = mapped_column(_enum(RejectKind))
    reason: Mapped[str] = mapped_column(String(300))
