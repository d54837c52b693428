"""The IVR's data dips (cti/ivr/ports.py) as the application does them: customers, surveys, callbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import find_callers
from app.surveys import save_answers
from cti.ivr.ports import CallbackRefused
from dialer.callbacks import CallbackError
from dialer.callbacks import schedule_callback as book_callback
from dialer.compliance_zones import UnknownZone, zones_for_number


class AppIvrData:
    async def find_contacts(self, session: AsyncSession, caller: str, region: str) -> list[Any]:
        return [match.contact for match in await find_callers(session, caller, region)]

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
        await save_answers(
            session,
            linkedid=linkedid,
            flow=flow,
            caller=caller,
            csat=csat,
            nps=nps,
            comment=comment,
            now=now,
            region=region,
        )

    def time_zone_of(self, number_e164: str) -> str | None:
        try:
            return zones_for_number(number_e164)[0]
        except UnknownZone:
            return None

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
        try:
            callback = await book_callback(
                session,
                number_e164=number_e164,
                contact_id=contact_id,
                due_at=due_at,
                tz=tz,
                agent_id=agent_id,
                source="ivr",
                note=note,
            )
        except CallbackError as exc:
            raise CallbackRefused(str(exc)) from exc
        return int(callback.id)
