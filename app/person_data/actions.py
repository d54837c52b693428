"""What a data-rights request does with a person: gather what is held, erase it, record an objection to calls,
audit each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.person_data.person import SOURCES, Erasure, Person
from core import tombstones
from core.audit import audit
from core.models import Contact
from core.recording_store import RecordingStore
from dialer.dnc import add_numbers
from dialer.script_outcome import internal_dnc_list


# --- what is held (app/person_zip.py writes it as a ZIP) ----------------------------------------------------
@dataclass
class Gathered:
    person: Person
    rows: dict[str, list[dict[str, Any]]]
    files: list[tuple[str, str]]  # (name in the ZIP, key in the recording store)

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows.items()}


async def gather(db: AsyncSession, person: Person, store: RecordingStore) -> Gathered:
    rows: dict[str, list[dict[str, Any]]] = {}
    files: list[tuple[str, str]] = []
    for name, source in SOURCES.items():
        rows[name] = await source.find(db, person)
        if source.files is not None:
            files += source.files(rows[name], store)
    return Gathered(person, rows, files)


# --- erasure and objection --------------------------------------------------------------------------------
async def erase(
    db: AsyncSession, person: Person, store: RecordingStore, now: datetime
) -> tuple[dict[str, int], Erasure]:
    """Erase the person from every source in the caller's transaction; the caller buries the tombstones,
    commits, then removes the files (`remove_files`). Last registered first: a source finds its rows through
    those registered before it (recordings, survey answers, timeline and IVR sessions through the calls,
    callbacks through the leads), which must still hold the person's numbers when it looks."""
    erasure = Erasure(now, store)
    counts = {name: await SOURCES[name].erase(db, person, erasure) for name in reversed(SOURCES)}
    await db.flush()
    return {name: counts[name] for name in SOURCES}, erasure


def audit_target(person: Person) -> str | None:
    """The audit rows' target: the contact ids (never a number or an e-mail, which an erasure removes)."""
    return ",".join(map(str, sorted(person.contact_ids)))[:64] or None


def audit_person(
    db: AsyncSession,
    action: str,
    person: Person,
    detail: dict[str, Any],
    *,
    user_id: int | None,
    request: Any = None,
) -> None:
    """Every data-rights action is audited, naming the contacts and never a number or an e-mail."""
    audit(
        db,
        action,
        user_id=user_id,
        target_type="person",
        target_id=audit_target(person),
        detail=detail,
        request=request,
    )


async def erase_person(
    db: AsyncSession,
    person: Person,
    key: bytes,
    store: RecordingStore,
    now: datetime,
    *,
    user_id: int | None,
    request: Any = None,
) -> dict[str, Any]:
    """Erase, bury the tombstones, audit (hashes, counts and what a legal hold kept) and commit; then remove
    the files."""
    counts, erasure = await erase(db, person, store, now)
    hashes = await tombstones.bury(db, key, person.numbers, person.emails)
    kept = [k.as_dict() for k in erasure.kept]
    audit_person(
        db,
        "person_erased",
        person,
        {"counts": counts, "tombstones": hashes, "kept": kept},
        user_id=user_id,
        request=request,
    )
    await db.commit()
    failed = erasure.unreachable + await remove_files(erasure)
    return {"counts": counts, "tombstones": len(hashes), "files_not_removed": failed, "kept": kept}


async def object_to_calls(
    db: AsyncSession, person: Person, now: datetime, *, user_id: int | None, request: Any = None
) -> dict[str, Any]:
    """The person objects to being called: their contacts are flagged and their numbers go on the internal
    do-not-call list, which every campaign scrubs against."""
    if person.contact_ids:
        await db.execute(
            update(Contact)
            .where(Contact.id.in_(person.contact_ids), Contact.objected_at.is_(None))
            .values(objected_at=now)
        )
    added = await add_numbers(
        db, await internal_dnc_list(db), sorted(person.numbers), reason="objection", user_id=user_id
    )
    detail = {"contacts": len(person.contact_ids), "numbers": len(person.numbers), "dnc_added": added}
    audit_person(db, "person_objected", person, detail, user_id=user_id, request=request)
    await db.commit()
    return detail


async def remove_files(erasure: Erasure) -> list[str]:
    """Delete the erased files through the store (after the commit; one already gone is fine); returns those
    that could not be deleted, by key (a key names a call, never the person)."""
    failed = []
    for key in erasure.keys:
        try:
            await erasure.store.delete(key)
        except (OSError, ValueError) as exc:
            failed.append(f"{key}: {getattr(exc, 'strerror', None) or exc}")
    return failed
