"""The named opening-hours schedules kept in the database (table `business_hours`): the I/O edge that
reads them for a call. The hours logic itself stays in cti/ivr/hours.py, pure."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.ivr_tables import BusinessHoursRow
from cti.ivr.hours import Schedule

log = logging.getLogger(__name__)


async def load(session: AsyncSession, names: Iterable[str]) -> dict[str, Schedule]:
    """The stored schedules of these names that are valid; a row that no longer validates (written by
    hand, or by an older version) is left out, so the flow's own schedule decides."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = await session.scalars(select(BusinessHoursRow).where(BusinessHoursRow.name.in_(wanted)))
    found: dict[str, Schedule] = {}
    for row in rows:
        try:
            found[row.name] = Schedule.model_validate(row.schedule)
        except ValidationError as exc:
            log.warning("business hours %r are invalid, the flow's own schedule decides: %s", row.name, exc)
    return found
