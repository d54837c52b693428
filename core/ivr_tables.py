"""The IVR history table (migration 0003): one row per pass of a call through a flow, keyed by Linkedid."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, BigId, utcnow


class IvrSession(Base):
    """Written when the call enters the flow (so a crash still leaves a trace) and completed at its exit.

    A call can pass through the IVR twice (a queue timeout re-enters the flow at a callback offer):
    each pass is a row with the same `linkedid`.
    """

    __tablename__ = "ivr_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    uniqueid: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str] = mapped_column(String(64))
    did: Mapped[str] = mapped_column(String(32))
    caller: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    duration_s: Mapped[float | None]
    path: Mapped[list[Any]] = mapped_column(default=list)
    digits: Mapped[str] = mapped_column(String(200), default="")
    exit_kind: Mapped[str | None] = mapped_column(String(32))  # None while the caller is in the IVR
    exit_node: Mapped[str | None] = mapped_column(String(64))
    exit_detail: Mapped[dict[str, Any] | None]
    __table_args__ = (Index("ix_ivr_sessions_flow_started", "flow", "started_at"),)


class BusinessHoursRow(Base):
    """A named opening-hours schedule edited at /admin/hours (migration 0020). `schedule` is a
    cti.ivr.hours.Schedule as JSON, validated by that model on every write and on every read."""

    __tablename__ = "business_hours"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    schedule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
