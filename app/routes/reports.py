"""Reports for supervisors and managers (the wallboard and campaign reports build on these)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call, Role, utcnow
from app.security import Identity, get_db, require

router = APIRouter(prefix="/reports", tags=["reports"])
staff = require(Role.supervisor, Role.manager)


class QueueReport(BaseModel):
    queue: str | None
    offered: int
    answered: int
    abandoned: int
    avg_wait_s: float | None
    avg_talk_s: float | None


@router.get("/queues", response_model=list[QueueReport])
async def queues(
    since: datetime | None = None,
    until: datetime | None = None,
    _: Identity = Depends(staff),
    db: AsyncSession = Depends(get_db),
) -> Any:
    until = until or utcnow()
    since = since or until - timedelta(days=1)
    if since.tzinfo is None or until.tzinfo is None:
        raise HTTPException(422, "since/until need a time zone")
    rows = await db.execute(
        select(
            Call.queue,
            func.count(),
            func.sum(case((Call.answered_at.is_not(None), 1), else_=0)),
            func.sum(case((Call.outcome == "abandoned", 1), else_=0)),
            func.avg(Call.wait_s),
            func.avg(Call.talk_s),
        )
        .where(Call.offered_at >= since, Call.offered_at < until)
        .group_by(Call.queue)
        .order_by(Call.queue)
    )
    return [
        QueueReport(queue=q, offered=o, answered=a or 0, abandoned=ab or 0, avg_wait_s=w, avg_talk_s=t)
        for q, o, a, ab, w, t in rows
    ]
