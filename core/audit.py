"""One way to write the audit log: who did what, to what, when, from where."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AuditLog


def client_ip(request: Request | None) -> str | None:
    return request.client.host if request is not None and request.client else None


def audit(
    db: AsyncSession,
    action: str,
    *,
    user_id: int | None,
    target_type: str | None = None,
    target_id: object = None,
    detail: dict[str, Any] | None = None,
    request: Request | None = None,
) -> None:
    """Adds the entry to the caller's transaction: it is kept exactly when the change it describes is."""
    db.add(
        AuditLog(
            user_id=user_id,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            detail=detail,
            ip=client_ip(request),
        )
    )
