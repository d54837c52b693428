"""An import's trail in the audit log, and undoing one that failed or whose process died (SQLite batch
commits).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.customer_import.columns import BATCH
from core.audit import audit
from core.import_runner import runner_gone
from core.models import Account, AuditLog, Contact

TARGET = "customer_import"  # the audit entries of one import share this target type and its id
STARTED, BATCH_WRITTEN = "customers_import_started", "customers_import_batch"
IMPORTED, FAILED = "customers_imported", "customers_import_failed"
INTERRUPTED = "interrupted: the process importing the file stopped; nothing was imported, import it again"


async def undo_import(session: AsyncSession, import_id: str, error: str) -> int:
    """Delete what the import's committed batches wrote (a transaction per batch: SQLite's write lock is
    let go between two), then write it failed. Returns how many contacts were deleted. Cut short, it is
    done again by the next recovery, which still sees the import without an end."""
    entries = await session.scalars(
        select(AuditLog.detail)
        .where(
            AuditLog.action == BATCH_WRITTEN, AuditLog.target_type == TARGET, AuditLog.target_id == import_id
        )
        .order_by(AuditLog.id)
    )
    removed = 0
    accounts: list[int] = []
    for detail in list(entries):
        first, last = detail["contacts"]
        # their numbers go with them (ON DELETE CASCADE)
        removed += (await session.execute(delete(Contact).where(Contact.id.between(first, last)))).rowcount
        accounts += detail.get("accounts") or []
        await session.commit()
    for chunk in (accounts[i : i + BATCH] for i in range(0, len(accounts), BATCH)):
        unused = select(Contact.id).where(Contact.account_id == Account.id).exists()
        await session.execute(delete(Account).where(Account.id.in_(chunk), ~unused))
        await session.commit()
    audit(
        session,
        FAILED,
        user_id=None,
        target_type=TARGET,
        target_id=import_id,
        detail={"error": error, "contacts_deleted": removed},
    )
    await session.commit()
    return removed


async def recover_interrupted(session: AsyncSession) -> list[str]:
    """The customer imports whose process died mid-way: their batches deleted, each written failed."""
    ended = select(AuditLog.target_id).where(
        AuditLog.action.in_((IMPORTED, FAILED)), AuditLog.target_type == TARGET
    )
    started = await session.execute(
        select(AuditLog.target_id, AuditLog.detail).where(
            AuditLog.action == STARTED, AuditLog.target_type == TARGET, AuditLog.target_id.not_in(ended)
        )
    )
    recovered = []
    for import_id, detail in list(started):
        if import_id is not None and runner_gone((detail or {}).get("runner") or {}):
            await undo_import(session, import_id, INTERRUPTED)
            recovered.append(import_id)
    return recovered
