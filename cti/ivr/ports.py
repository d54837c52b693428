"""What the IVR's data dips need from the application, as a Protocol on the consumer's side.

Finding the caller among the customers, saving a survey's answers and booking a callback are application
features (customers, surveys, the dialer's callbacks); app/ivr_data.py implements them and app/main.py hands
them to the IVR server, so cti imports none of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class CallbackRefused(Exception):
    """The callback cannot be booked (the number may not be called): the caller is told so."""


class IvrData(Protocol):
    async def find_contacts(self, session: AsyncSession, caller: str, region: str) -> list[Any]:
        """The contacts whose numbers match the caller's (empty: an unknown caller)."""
        ...

    async def save_survey(
        self,
        session: AsyncSession,
        *,
        linkedid: str,
        flow: str,
        caller: str | None,
        csat: int | None,
        nps: int | None,
        comment: str | None,
        now: datetime,
        region: str,
    ) -> None:
        """Create or complete the call's survey answer; the caller commits."""
        ...

    def time_zone_of(self, number_e164: str) -> str | None:
        """The zone a number rings in, None when the numbering plan does not say."""
        ...

    async def schedule_callback(
        self,
        session: AsyncSession,
        *,
        number_e164: str,
        contact_id: int | None,
        due_at: datetime,
        tz: str,
        agent_id: int | None,
        note: str,
    ) -> int:
        """Book an IVR callback and return its id; CallbackRefused when it may not be; the caller commits."""
        ...
