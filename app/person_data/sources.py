"""Every kind of record that can hold a person, registered in `SOURCES` in the order erasure needs (it runs
last first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.person_data.matching import (
    as_dict,
    column_holds,
    person_calls,
    person_lead_ids,
    person_needles,
    rows_by_number,
    scrubbed,
)
from app.person_data.person import ERASED, Erasure, Kept, Person, Source, register
from app.recording_purge import candidates, legal_holds
from core.bus_tables import BusSpill
from core.dialer_tables import (
    Callback,
    CallbackStatus,
    DialerCall,
    DncEntry,
    ImportReject,
    Lead,
    LeadAttempt,
    LeadNumber,
)
from core.ivr_tables import IvrSession
from core.models import (
    Account,
    AuditLog,
    Complaint,
    Contact,
    Interaction,
    OpenCall,
    PhoneNumber,
    Recording,
    RecordingPause,
    ScriptDraft,
    SurveyAnswer,
)
from core.recording_store import RecordingStore
from cti import recordings
from dialer.leads_model import DIALABLE_STATUSES, LeadStatus


# --- the registry -----------------------------------------------------------------------------------------
async def _find_contacts(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    if not p.contact_ids:
        return []
    out = []
    for c in await db.scalars(select(Contact).where(Contact.id.in_(p.contact_ids)).order_by(Contact.id)):
        out.append(as_dict(c) | {"numbers": [as_dict(n) for n in c.numbers]})
    return out


async def _erase_contacts(db: AsyncSession, p: Person, _: Erasure) -> int:
    if not p.contact_ids:
        return 0
    await db.execute(delete(PhoneNumber).where(PhoneNumber.contact_id.in_(p.contact_ids)))
    # the row stays (anonymous) for the customer counts of the care report and the calls' links
    result = await db.execute(
        update(Contact)
        .where(Contact.id.in_(p.contact_ids))
        .values(
            first_name="",
            last_name=ERASED,
            email=None,
            job_title=None,
            role=None,
            external_id=None,
            loss_reason=None,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _find_accounts(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    if not p.contact_ids:
        return []
    ids = select(Contact.account_id).where(Contact.id.in_(p.contact_ids))
    return [
        as_dict(a) for a in await db.scalars(select(Account).where(Account.id.in_(ids)).order_by(Account.id))
    ]


async def _keep(db: AsyncSession, p: Person, _: Erasure) -> int:
    return 0  # a company's record is not the person's


async def _find_calls(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(c) for c in await person_calls(db, p)]


async def _erase_calls(db: AsyncSession, p: Person, _: Erasure) -> int:
    calls = await person_calls(db, p)
    for c in calls:
        c.caller_name = None
        if c.contact_id in p.contact_ids or p.has_number(c.caller_number):
            c.caller_number = None
        if p.has_number(c.called_number):
            c.called_number = None
    return len(calls)


async def _open_calls(db: AsyncSession, p: Person) -> list[OpenCall]:
    needles = person_needles(p)
    if not needles:
        return []
    return list(await db.scalars(select(OpenCall).where(column_holds(OpenCall.data, needles))))


async def _find_open_calls(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(c) for c in await _open_calls(db, p)]


async def _erase_open_calls(db: AsyncSession, p: Person, _: Erasure) -> int:
    calls = await _open_calls(db, p)
    for c in calls:  # the row the call's end writes takes no number or name of theirs
        data = scrubbed(c.data, person_needles(p))
        for k in ("caller_number", "called_number", "caller_name"):
            if k in data and (k == "caller_name" or data[k] == ERASED):
                data[k] = None
        c.data = data
    return len(calls)


async def _interactions(db: AsyncSession, p: Person) -> list[Interaction]:
    call_ids = [c.id for c in await person_calls(db, p)]
    conds = []
    if p.contact_ids:
        conds.append(Interaction.contact_id.in_(p.contact_ids))
    if call_ids:
        conds.append(Interaction.call_id.in_(call_ids))
    if not conds:
        return []
    return list(
        await db.scalars(select(Interaction).where(or_(*conds)).order_by(Interaction.at, Interaction.id))
    )


async def _find_interactions(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(i) for i in await _interactions(db, p)]


async def _erase_interactions(db: AsyncSession, p: Person, _: Erasure) -> int:
    rows = await _interactions(db, p)
    for i in rows:  # kind, disposition and reason stay: the care figures count them
        i.body, i.data = None, None
    return len(rows)


async def _complaints(db: AsyncSession, p: Person) -> list[Complaint]:
    if not p.contact_ids:
        return []
    return list(
        await db.scalars(
            select(Complaint).where(Complaint.contact_id.in_(p.contact_ids)).order_by(Complaint.id)
        )
    )


async def _find_complaints(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(c) for c in await _complaints(db, p)]


async def _erase_complaints(db: AsyncSession, p: Person, _: Erasure) -> int:
    rows = await _complaints(db, p)
    for c in rows:  # dates, status and reason stay: the deadlines kept and the complaint rate count them
        c.description, c.resolution = ERASED, None
    return len(rows)


async def _ivr_sessions(db: AsyncSession, p: Person) -> list[IvrSession]:
    found = {s.id: s for s in await rows_by_number(db, IvrSession, [IvrSession.caller], p)}
    linkedids = [c.linkedid for c in await person_calls(db, p)]
    if linkedids:
        for s in await db.scalars(select(IvrSession).where(IvrSession.linkedid.in_(linkedids))):
            found[s.id] = s
    return sorted(found.values(), key=lambda s: s.id)


async def _find_ivr(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(s) for s in await _ivr_sessions(db, p)]


async def _erase_ivr(db: AsyncSession, p: Person, _: Erasure) -> int:
    rows = await _ivr_sessions(db, p)
    for s in rows:  # the path and exit stay for the IVR report; keys typed may be an account number
        s.caller, s.digits, s.exit_detail = None, "", None
    return len(rows)


async def _find_leads(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    ids = await person_lead_ids(db, p)
    if not ids:
        return []
    out = []
    for lead in await db.scalars(select(Lead).where(Lead.id.in_(ids)).order_by(Lead.id)):
        numbers = await db.scalars(
            select(LeadNumber).where(LeadNumber.lead_id == lead.id).order_by(LeadNumber.position)
        )
        attempts = await db.scalars(
            select(LeadAttempt).where(LeadAttempt.lead_id == lead.id).order_by(LeadAttempt.id)
        )
        out.append(
            as_dict(lead)
            | {"numbers": [as_dict(n) for n in numbers], "attempts": [as_dict(a) for a in attempts]}
        )
    return out


async def _erase_leads(db: AsyncSession, p: Person, _: Erasure) -> int:
    ids = await person_lead_ids(db, p)
    if not ids:
        return 0
    await db.execute(delete(LeadNumber).where(LeadNumber.lead_id.in_(ids)))
    # attempts stay for the campaign reports, without the number dialled
    await db.execute(update(LeadAttempt).where(LeadAttempt.lead_id.in_(ids)).values(e164=""))
    await db.execute(update(DialerCall).where(DialerCall.lead_id.in_(ids)).values(e164=""))
    await db.execute(update(Lead).where(Lead.id.in_(ids)).values(fields={}, external_id=None))
    await db.execute(
        update(Lead)
        .where(Lead.id.in_(ids), Lead.status.in_([s.value for s in DIALABLE_STATUSES]))
        .values(status=LeadStatus.INVALID.value)  # no number left to dial
    )
    return len(ids)


async def _callbacks(db: AsyncSession, p: Person) -> list[Callback]:
    found = {c.id: c for c in await rows_by_number(db, Callback, [Callback.number_e164], p)}
    leads = await person_lead_ids(db, p)
    conds = []
    if p.contact_ids:
        conds.append(Callback.contact_id.in_(p.contact_ids))
    if leads:
        conds.append(Callback.lead_id.in_(leads))
    if conds:
        for c in await db.scalars(select(Callback).where(or_(*conds))):
            found[c.id] = c
    return sorted(found.values(), key=lambda c: c.id)


async def _find_callbacks(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(c) for c in await _callbacks(db, p)]


async def _erase_callbacks(db: AsyncSession, p: Person, _: Erasure) -> int:
    rows = await _callbacks(db, p)
    for c in rows:
        c.number_e164, c.note = "", None
        if c.status == CallbackStatus.pending:
            c.status = CallbackStatus.cancelled
    return len(rows)


async def _find_dnc(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    if not p.numbers:
        return []
    return [
        as_dict(e)
        for e in await db.scalars(select(DncEntry).where(DncEntry.e164.in_(p.numbers)).order_by(DncEntry.id))
    ]


async def _erase_dnc(db: AsyncSession, p: Person, _: Erasure) -> int:
    if not p.numbers:
        return 0
    # the tombstone takes over: their leads are gone and an old list cannot bring them back
    result = await db.execute(delete(DncEntry).where(DncEntry.e164.in_(p.numbers)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _survey_answers(db: AsyncSession, p: Person) -> list[SurveyAnswer]:
    found = {a.id: a for a in await rows_by_number(db, SurveyAnswer, [SurveyAnswer.caller_number], p)}
    linkedids = [c.linkedid for c in await person_calls(db, p)]
    conds = []
    if p.contact_ids:
        conds.append(SurveyAnswer.contact_id.in_(p.contact_ids))
    if linkedids:
        conds.append(SurveyAnswer.linkedid.in_(linkedids))
    if conds:
        for a in await db.scalars(select(SurveyAnswer).where(or_(*conds))):
            found[a.id] = a
    return sorted(found.values(), key=lambda a: a.id)


async def _find_survey_answers(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(a) for a in await _survey_answers(db, p)]


def _comment_files(rows: list[dict[str, Any]], store: RecordingStore) -> list[tuple[str, str]]:
    """The spoken comments the store holds (Asterisk writes them where the IVR's `record` node says)."""
    out = []
    for r in rows:
        key = store.key_of(r["comment_path"]) if r.get("comment_path") else None
        if key is not None:
            out.append((f"survey_comments/{r['id']}.wav", key))
    return out


async def _erase_survey_answers(db: AsyncSession, p: Person, erasure: Erasure) -> int:
    rows = await _survey_answers(db, p)
    for a in rows:  # the scores, agent, queue and campaign stay: the satisfaction figures count them
        if a.comment_path:
            key = erasure.store.key_of(a.comment_path)
            if key is None:
                erasure.unreachable.append(f"survey answer {a.id}: comment outside the recording store")
            else:
                erasure.keys.append(key)
        a.caller_number, a.comment_path = None, None
    return len(rows)


async def _script_drafts(db: AsyncSession, p: Person) -> list[ScriptDraft]:
    """The unsaved script answers of the person's calls, ended (`calls`) or still up (`calls_open`)."""
    linkedids = [c.linkedid for c in await person_calls(db, p)]
    linkedids += [c.linkedid for c in await _open_calls(db, p)]
    if not linkedids:
        return []
    query = select(ScriptDraft).where(ScriptDraft.linkedid.in_(linkedids))
    return list(await db.scalars(query.order_by(ScriptDraft.linkedid, ScriptDraft.user_id)))


async def _find_script_drafts(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(d) for d in await _script_drafts(db, p)]


async def _erase_script_drafts(db: AsyncSession, p: Person, _: Erasure) -> int:
    drafts = await _script_drafts(db, p)
    for d in drafts:  # nothing in a draft counts anywhere: it goes whole
        await db.delete(d)
    return len(drafts)


async def _recordings(db: AsyncSession, p: Person) -> list[Recording]:
    linkedids = [c.linkedid for c in await person_calls(db, p)]
    if not linkedids:
        return []
    return list(
        await db.scalars(select(Recording).where(Recording.linkedid.in_(linkedids)).order_by(Recording.id))
    )


async def _find_recordings(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    out = []
    for rec in await _recordings(db, p):
        pauses = await db.scalars(
            select(RecordingPause).where(RecordingPause.linkedid == rec.linkedid).order_by(RecordingPause.at)
        )
        out.append(as_dict(rec) | {"pauses": [as_dict(x) for x in pauses]})
    return out


def _recording_files(rows: list[dict[str, Any]], _: RecordingStore) -> list[tuple[str, str]]:
    return [(f"recordings/{r['id']}.wav", r["storage_key"]) for r in rows if r["purged_at"] is None]


async def _erase_recordings(db: AsyncSession, p: Person, erasure: Erasure) -> int:
    """The files go after the commit; the rows hold no personal data (times, queue, agent) and stay as proof,
    purged. A recording a complaint not closed pins keeps its file, its row and the pin (what the complaint's
    handling needs; the call row loses the person's number like any other): it is expired now instead, so
    the retention purge deletes it once the hold ends. Returns the rows erased, the kept ones excepted."""
    rows = await _recordings(db, p)
    on_disk = {rec.id: rec for rec in rows if rec.purged_at is None}
    holds = await legal_holds(db, list(on_disk))
    delete, held = recordings.erasure_plan(candidates(on_disk.values(), holds), erasure.now)
    for rec_id in delete:
        erasure.keys.append(on_disk[rec_id].storage_key)
        on_disk[rec_id].purged_at = erasure.now
    by_complaints: dict[tuple[int, ...], list[int]] = {}
    for rec_id in held:
        on_disk[rec_id].expires_at = erasure.now
        by_complaints.setdefault(holds[rec_id], []).append(rec_id)
    for complaints, ids in by_complaints.items():
        erasure.kept.append(Kept("recordings", tuple(ids), complaints, recordings.hold_reason(complaints)))
    return len(rows) - len(held)


def _text_source(
    model: type[Any], column: InstrumentedAttribute[Any], erased: Callable[[Any, frozenset[str]], Any]
) -> tuple[Any, Any]:
    """find/erase for a log whose free text (or JSON) may quote the person: rows that hold one of the
    needles, rewritten by `erased`."""

    async def rows(db: AsyncSession, p: Person) -> list[Any]:
        needles = person_needles(p)
        if not needles:
            return []
        return list(await db.scalars(select(model).where(column_holds(column, needles)).order_by(model.id)))

    async def find(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
        return [as_dict(r) for r in await rows(db, p)]

    async def erase(db: AsyncSession, p: Person, _: Erasure) -> int:
        found = await rows(db, p)
        for r in found:
            setattr(r, column.key, erased(getattr(r, column.key), person_needles(p)))
        return len(found)

    return find, erase


async def _spilled(db: AsyncSession, p: Person) -> list[BusSpill]:
    needles = person_needles(p)
    if not needles:
        return []
    query = select(BusSpill).where(column_holds(BusSpill.payload, needles))
    return list(await db.scalars(query.order_by(BusSpill.created_at, BusSpill.sender, BusSpill.seq)))


async def _find_spilled(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(r) for r in await _spilled(db, p)]


async def _erase_spilled(db: AsyncSession, p: Person, _: Erasure) -> int:
    """The bus's spilled events (several nodes; kept 10 minutes) that quote their number or e-mail: deleted. A
    node still to read one sees a gap and resyncs its desks; one quoting only their name stays until swept."""
    found = await _spilled(db, p)
    for row in found:
        await db.delete(row)
    return len(found)


for _src in [
    Source("contacts", _find_contacts, _erase_contacts),
    Source("accounts", _find_accounts, _keep),
    Source("calls", _find_calls, _erase_calls),
    Source("calls_in_progress", _find_open_calls, _erase_open_calls),
    Source("timeline", _find_interactions, _erase_interactions),
    Source("complaints", _find_complaints, _erase_complaints),
    Source("ivr_sessions", _find_ivr, _erase_ivr),
    Source("leads", _find_leads, _erase_leads),
    Source("callbacks", _find_callbacks, _erase_callbacks),
    Source("do_not_call", _find_dnc, _erase_dnc),
    Source("survey_answers", _find_survey_answers, _erase_survey_answers, _comment_files),
    Source("script_drafts", _find_script_drafts, _erase_script_drafts),
    Source("recordings", _find_recordings, _erase_recordings, _recording_files),
    Source("import_rejects", *_text_source(ImportReject, ImportReject.reason, lambda _v, _n: ERASED)),
    Source("audit_log", *_text_source(AuditLog, AuditLog.detail, scrubbed)),
    Source("bus_spill", _find_spilled, _erase_spilled),
]:
    register(_src)
