"""The satisfaction report from the database: the calls handled in a period with their survey answers,
grouped by app/satisfaction.py. The agent, queue and campaign are the survey's own (known when the caller
answered), else the call's row; a call's reason is its disposition's dissatisfaction reason, else the reason
of the complaint opened from it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_report import HANDLED
from app.satisfaction import By, Satisfaction, SurveyedCall, satisfaction_rows
from core.models import Call, Complaint, Interaction, SurveyAnswer


async def surveyed_calls(db: AsyncSession, since: datetime, until: datetime) -> list[SurveyedCall]:
    reason = (
        select(func.max(Interaction.reason_id))
        .where(Interaction.call_id == Call.id, Interaction.reason_id.is_not(None))
        .scalar_subquery()
    )
    complaint_reason = (
        select(func.max(Complaint.reason_id))
        .where(Complaint.call_id == Call.id, Complaint.reason_id.is_not(None))
        .scalar_subquery()
    )
    stmt = (
        select(
            SurveyAnswer.csat,
            SurveyAnswer.nps,
            func.coalesce(SurveyAnswer.agent_id, Call.agent_id),
            func.coalesce(SurveyAnswer.queue, Call.queue),
            func.coalesce(SurveyAnswer.campaign_id, Call.campaign_id),
            func.coalesce(reason, complaint_reason),
        )
        .select_from(Call)
        .outerjoin(SurveyAnswer, SurveyAnswer.linkedid == Call.linkedid)
        .where(Call.offered_at >= since, Call.offered_at < until, HANDLED)
        .order_by(Call.offered_at, Call.id)
    )
    return [SurveyedCall(*row) for row in await db.execute(stmt)]


async def satisfaction_report(
    db: AsyncSession, since: datetime, until: datetime, by: By
) -> list[Satisfaction]:
    return satisfaction_rows(await surveyed_calls(db, since, until), by)
