"""The customer's data rights: find everything Plateau holds about a person, export it, erase it.

A person is found by a number (any format), an e-mail or a contact id, and becomes a `Person`: the contacts,
numbers and e-mails that are theirs. Each kind of record is one `Source` of the `SOURCES` registry: how to
find the person's rows, and how to erase them. A new table that holds personal data is one more entry
(`register`); the erasure test scans every text column of every table, so a forgotten one fails it.

Erasure keeps what reports count: a contact, call, complaint or lead attempt stays as an anonymous row
(names, numbers, e-mails and free text removed), while the rows that only describe the person (phone numbers,
lead numbers, do-not-call entries) are deleted. What stays is a tombstone per number and e-mail
(`core/tombstones.py`). Accounts are companies, not persons: they are exported, not erased.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, inspect, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from core import tombstones
from core.audit import audit
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
    Call,
    Complaint,
    Contact,
    Interaction,
    OpenCall,
    PhoneNumber,
    Recording,
    RecordingPause,
    SurveyAnswer,
)
from core.recording_store import RecordingStore
from cti.numbers import InvalidNumber, parse, suffix_key
from dialer.dnc import add_numbers
from dialer.leads_model import DIALABLE_STATUSES, LeadStatus
from dialer.script_outcome import internal_dnc_list

ERASED = "(erased)"  # what an anonymised name or text reads
MAX_EMAIL = 254
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,189}$")


class PersonNotFound(LookupError):
    pass


class BadQuery(ValueError):
    """The number, e-mail or id cannot name a person; `field` and `reason` say why (a 422)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class Person:
    contact_ids: frozenset[int]
    numbers: frozenset[str]  # E.164
    emails: frozenset[str]  # lower case
    region: str = "FR"

    @property
    def suffixes(self) -> frozenset[str]:
        return frozenset(suffix_key(n) for n in self.numbers)

    def has_number(self, raw: str | None) -> bool:
        """Whether a number as stored (E.164 or what a trunk sent) is one of theirs."""
        if not raw or suffix_key(raw) not in self.suffixes:
            return False
        try:
            return parse(raw, self.region).e164 in self.numbers
        except InvalidNumber:
            return True  # their last digits in a shape that does not parse: erase rather than keep


@dataclass
class Erasure:
    """What an erasure needs beside the database: its time, the recording store, and what it collects there:
    the keys of the files to delete once the transaction is committed (a rolled back erasure keeps them),
    and the files it cannot reach (kept, said in the answer)."""

    now: datetime
    store: RecordingStore
    keys: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    """One kind of record about a person. `find` returns its rows as plain dicts (what the export holds);
    `erase` anonymises or deletes them in the caller's transaction and returns how many rows it touched;
    `files` names the files its rows bring into the export (a recording's audio) as (name in the ZIP, key in
    the recording store)."""

    name: str
    find: Callable[[AsyncSession, Person], Awaitable[list[dict[str, Any]]]]
    erase: Callable[[AsyncSession, Person, Erasure], Awaitable[int]]
    files: Callable[[list[dict[str, Any]], RecordingStore], list[tuple[str, str]]] | None = None


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    SOURCES[source.name] = source
    return source


# --- finding the person ---------------------------------------------------------------------------------
def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise BadQuery("email", "not an e-mail address")
    return email


async def resolve(
    db: AsyncSession,
    *,
    number: str | None = None,
    email: str | None = None,
    contact_id: int | None = None,
    region: str = "FR",
) -> Person:
    """The person one number, e-mail or contact id names, with the contacts, numbers and e-mails that are
    theirs (the contacts' own, and those of the call-list leads that carry one of them)."""
    given = [
        k for k, v in (("number", number), ("email", email), ("contact_id", contact_id)) if v is not None
    ]
    if len(given) != 1:
        raise BadQuery("query", "give exactly one of number, email, contact_id")
    contact_ids: set[int] = set()
    numbers: set[str] = set()
    emails: set[str] = set()
    if number is not None:
        try:
            numbers.add(parse(number, region).e164)
        except InvalidNumber as exc:
            raise BadQuery("number", exc.reason) from None
        contact_ids |= set(
            await db.scalars(select(PhoneNumber.contact_id).where(PhoneNumber.e164.in_(numbers)))
        )
    elif email is not None:
        emails.add(normalise_email(email))
        contact_ids |= set(await db.scalars(select(Contact.id).where(func.lower(Contact.email).in_(emails))))
    else:
        if await db.get(Contact, contact_id) is None:
            raise PersonNotFound(f"no contact {contact_id}")
        contact_ids.add(int(contact_id))  # type: ignore[arg-type]
    if contact_ids:
        numbers |= set(
            await db.scalars(select(PhoneNumber.e164).where(PhoneNumber.contact_id.in_(contact_ids)))
        )
        emails |= {
            e.lower() for e in await db.scalars(select(Contact.email).where(Contact.id.in_(contact_ids))) if e
        }
    person = Person(frozenset(contact_ids), frozenset(numbers), frozenset(emails), region)
    leads = await _lead_ids(db, person)
    if leads:
        numbers |= set(await db.scalars(select(LeadNumber.e164).where(LeadNumber.lead_id.in_(leads))))
        for fields in await db.scalars(select(Lead.fields).where(Lead.id.in_(leads))):
            found = (fields or {}).get("email")
            if isinstance(found, str) and _EMAIL.match(found.strip().lower()):
                emails.add(found.strip().lower())
    return Person(frozenset(contact_ids), frozenset(numbers), frozenset(emails), region)


# --- helpers ----------------------------------------------------------------------------------------------
def as_dict(obj: Any) -> dict[str, Any]:
    """A mapped row's columns, as JSON can hold them."""
    return {a.key: plain(getattr(obj, a.key)) for a in inspect(obj).mapper.column_attrs}


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _holds(column: Any, needles: frozenset[str]) -> Any:
    """Rows whose column (text or JSON, as text) holds one of the needles: a scan, fine for an erasure."""
    text = func.lower(cast(column, Text))
    return or_(*(text.contains(n.lower(), autoescape=True) for n in needles))


async def _by_number(
    db: AsyncSession, model: type[Any], columns: list[InstrumentedAttribute[Any]], person: Person
) -> list[Any]:
    """Rows of `model` where one of `columns` is one of the person's numbers, in whatever shape it was
    stored: the last digits narrow the scan, the parser decides."""
    if not person.numbers:
        return []
    where = or_(*(c.like(f"%{s}") for c in columns for s in person.suffixes))
    rows = (await db.scalars(select(model).where(where))).all()
    return [r for r in rows if any(person.has_number(getattr(r, c.key)) for c in columns)]


async def _lead_ids(db: AsyncSession, person: Person) -> set[int]:
    ids: set[int] = set()
    if person.contact_ids:
        ids |= set(await db.scalars(select(Lead.id).where(Lead.contact_id.in_(person.contact_ids))))
    if person.numbers:
        ids |= set(await db.scalars(select(LeadNumber.lead_id).where(LeadNumber.e164.in_(person.numbers))))
    if person.emails:
        for lead in await db.scalars(select(Lead).where(_holds(Lead.fields, person.emails))):
            if any(
                isinstance(v, str) and v.strip().lower() in person.emails
                for v in (lead.fields or {}).values()
            ):
                ids.add(lead.id)
    return ids


async def _calls(db: AsyncSession, person: Person) -> list[Call]:
    found = {c.id: c for c in await _by_number(db, Call, [Call.caller_number, Call.called_number], person)}
    if person.contact_ids:
        for c in await db.scalars(select(Call).where(Call.contact_id.in_(person.contact_ids))):
            found[c.id] = c
    return sorted(found.values(), key=lambda c: c.id)


def _scrub(value: Any, needles: frozenset[str]) -> Any:
    """A JSON value with every string that holds one of the needles replaced by ERASED."""
    if isinstance(value, str):
        low = value.lower()
        return ERASED if any(n.lower() in low for n in needles) else value
    if isinstance(value, dict):
        return {k: _scrub(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, needles) for v in value]
    return value


def _needles(person: Person) -> frozenset[str]:
    """The strings that give the person away in free text: numbers (E.164 and last digits) and e-mails."""
    return frozenset(person.numbers) | person.suffixes | person.emails


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
    return [as_dict(c) for c in await _calls(db, p)]


async def _erase_calls(db: AsyncSession, p: Person, _: Erasure) -> int:
    calls = await _calls(db, p)
    for c in calls:
        c.caller_name = None
        if c.contact_id in p.contact_ids or p.has_number(c.caller_number):
            c.caller_number = None
        if p.has_number(c.called_number):
            c.called_number = None
    return len(calls)


async def _open_calls(db: AsyncSession, p: Person) -> list[OpenCall]:
    needles = _needles(p)
    if not needles:
        return []
    return list(await db.scalars(select(OpenCall).where(_holds(OpenCall.data, needles))))


async def _find_open_calls(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
    return [as_dict(c) for c in await _open_calls(db, p)]


async def _erase_open_calls(db: AsyncSession, p: Person, _: Erasure) -> int:
    calls = await _open_calls(db, p)
    for c in calls:  # the row the call's end writes takes no number or name of theirs
        data = _scrub(c.data, _needles(p))
        for k in ("caller_number", "called_number", "caller_name"):
            if k in data and (k == "caller_name" or data[k] == ERASED):
                data[k] = None
        c.data = data
    return len(calls)


async def _interactions(db: AsyncSession, p: Person) -> list[Interaction]:
    call_ids = [c.id for c in await _calls(db, p)]
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
    found = {s.id: s for s in await _by_number(db, IvrSession, [IvrSession.caller], p)}
    linkedids = [c.linkedid for c in await _calls(db, p)]
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
    ids = await _lead_ids(db, p)
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
    ids = await _lead_ids(db, p)
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
    found = {c.id: c for c in await _by_number(db, Callback, [Callback.number_e164], p)}
    leads = await _lead_ids(db, p)
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
    found = {a.id: a for a in await _by_number(db, SurveyAnswer, [SurveyAnswer.caller_number], p)}
    linkedids = [c.linkedid for c in await _calls(db, p)]
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


async def _recordings(db: AsyncSession, p: Person) -> list[Recording]:
    linkedids = [c.linkedid for c in await _calls(db, p)]
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
    rows = await _recordings(db, p)
    for rec in rows:  # the row holds no personal data (times, queue, agent): it stays as proof, purged
        if rec.purged_at is None:
            erasure.keys.append(rec.storage_key)
            rec.purged_at = erasure.now
    return len(rows)


def _text_source(
    model: type[Any], column: InstrumentedAttribute[Any], erased: Callable[[Any, frozenset[str]], Any]
) -> tuple[Any, Any]:
    """find/erase for a log whose free text (or JSON) may quote the person: rows that hold one of the
    needles, rewritten by `erased`."""

    async def rows(db: AsyncSession, p: Person) -> list[Any]:
        needles = _needles(p)
        if not needles:
            return []
        return list(await db.scalars(select(model).where(_holds(column, needles)).order_by(model.id)))

    async def find(db: AsyncSession, p: Person) -> list[dict[str, Any]]:
        return [as_dict(r) for r in await rows(db, p)]

    async def erase(db: AsyncSession, p: Person, _: Erasure) -> int:
        found = await rows(db, p)
        for r in found:
            setattr(r, column.key, erased(getattr(r, column.key), _needles(p)))
        return len(found)

    return find, erase


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
    Source("recordings", _find_recordings, _erase_recordings, _recording_files),
    Source("import_rejects", *_text_source(ImportReject, ImportReject.reason, lambda _v, _n: ERASED)),
    Source("audit_log", *_text_source(AuditLog, AuditLog.detail, _scrub)),
]:
    register(_src)


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
    """Erase, bury the tombstones, audit (hashes and counts only) and commit; then remove the files."""
    counts, erasure = await erase(db, person, store, now)
    hashes = await tombstones.bury(db, key, person.numbers, person.emails)
    audit_person(
        db,
        "person_erased",
        person,
        {"counts": counts, "tombstones": hashes},
        user_id=user_id,
        request=request,
    )
    await db.commit()
    failed = erasure.unreachable + await remove_files(erasure)
    return {"counts": counts, "tombstones": len(hashes), "files_not_removed": failed}


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


__all__ = [
    "ERASED",
    "SOURCES",
    "BadQuery",
    "Erasure",
    "Gathered",
    "Person",
    "PersonNotFound",
    "Source",
    "audit_person",
    "audit_target",
    "erase",
    "erase_person",
    "gather",
    "object_to_calls",
    "register",
    "remove_files",
    "resolve",
]
