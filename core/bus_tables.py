"""The bus between nodes' overflow (migration 0022): an event too large for a NOTIFY payload is a row here,
keyed by its sender's id and number, and its frame names it (core/bus_frames.py). Rows are read by every
node that hears the frame, so none deletes them on reading: the senders sweep them after a few minutes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base


class BusSpill(Base):
    __tablename__ = "bus_spill"
    sender: Mapped[str] = mapped_column(String(120), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
