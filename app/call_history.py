"""The contact history writer: every call ends up as exactly one `calls` row, written in batches.

Rows are keyed by Linkedid and inserted with ON CONFLICT DO NOTHING, so replaying the same events (a
resync, a restart, a retried batch) never duplicates a call or its timeline entry.

A database that cannot be reached or written (PostgreSQL restarting, the SQLite file's disk full) is waited
for: the calls stay in memory, in order, and are written when it answers again; `health()` says how many wait.
Only a row the database refuses (its data) goes to the dead-letter file, and one that cannot be written
there either (disk full) stays in memory and is tried again.

Calls in progress are noted in `calls_open` (offered, queued, answered: what is known so far) by the same
writer, and each note is deleted in the transaction that writes its call's row. A Plateau killed and started
again reads the notes left: the calls Asterisk still carries are adopted by the tracker and their rows get
the noted facts (`merge_note`); those it no longer carries ended while Plateau was away and are written from
the note (`record_from_note`: end time = when it was found, outcome `answered` or `unobserved`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.customers import find_contact_ids
from app.surveys import complete_from_calls
from core.db import Database, dialect_insert
from core.directory import AgentDirectory
from core.models import Call, CallDirection, Interaction, InteractionKind, OpenCall
from core.settings import VAR
from cti.events import CallAnswered, CallEnded, CallerId, CallOffered, CallQueued, CallRecord, Direction

log = logging.getLogger(__name__)

DEAD_LETTER = VAR / "history-dead-letter.jsonl"
IvrPathFn = Callable[[Any, str], Awaitable[dict[str, Any] | None]]
RETRY_MAX_S = 5.0
UNOBSERVED = "unobserved"  # outcome of a call that ended unanswered while Plateau was away
_NOTES = object()  # on the writer's queue: open-call notes to write
DirectionFn = Callable[[str], Direction | None]


def note_event(note: dict[str, Any], event: Any, direction: Direction | None) -> None:
    """Fold an event of a call in progress into its note (plain JSON values)."""
    if direction is not None:
        note["direction"] = direction.value
    caller = getattr(event, "caller", None)
    if caller is not None and "caller_number" not in note:
        note["caller_number"], note["caller_name"] = caller.number, caller.name
    note.setdefault("offered_at", event.at)
    if isinstance(event, CallOffered):
        note["offered_at"], note["called_number"] = event.at, event.called_number
    elif isinstance(event, CallQueued):
        note["queue"] = event.queue
    elif isinstance(event, CallAnswered):
        note.setdefault("agent", event.agent)
        note.setdefault("answered_at", event.at)
        if event.queue:
            note["queue"] = event.queue


def _caller_of(note: dict[str, Any]) -> CallerId:
    number, name = note.get("caller_number"), note.get("caller_name")
    return CallerId(number, name, number is None and name is None)


def record_from_note(linkedid: str, note: dict[str, Any], ended_at: float) -> CallRecord:
    """A call noted in progress that ended while Plateau was away: what was known of it; it ended at the
    latest when Plateau found it gone (its talk time is unknown)."""
    offered, answered = float(note["offered_at"]), note.get("answered_at")
    return CallRecord(
        linkedid=linkedid,
        direction=Direction(note.get("direction") or Direction.internal),
        caller=_caller_of(note),
        called_number=note.get("called_number"),
        queue=note.get("queue"),
        agent=note.get("agent"),
        offered_at=offered,
        answered_at=answered,
        ended_at=ended_at,
        wait_s=round(answered - offered, 3) if answered is not None and note.get("queue") else None,
        talk_s=None,
        hold_s=0.0,
        outcome="answered" if answered is not None else UNOBSERVED,
        hangup_cause=None,
    )


def merge_note(rec: CallRecord, note: dict[str, Any]) -> CallRecord:
    """A call adopted from Asterisk after a restart: the tracker saw only its end; the note has its start."""
    offered = min(rec.offered_at, float(note.get("offered_at") or rec.offered_at))
    answered = note.get("answered_at") or rec.answered_at
    unknown_caller = rec.caller.number is None and rec.caller.name is None
    return replace(
        rec,
        direction=Direction(note["direction"]) if note.get("direction") else rec.direction,
        caller=_caller_of(note) if unknown_caller and "caller_number" in note else rec.caller,
        called_number=rec.called_number or note.get("called_number"),
        queue=rec.queue or note.get("queue"),
        agent=rec.agent or note.get("agent"),
        offered_at=offered,
        answered_at=answered,
        wait_s=rec.wait_s if rec.wait_s is not None or answered is None else round(answered - offered, 3),
        talk_s=round(rec.ended_at - answered - rec.hold_s, 3) if answered is not None else rec.talk_s,
        outcome="answered" if answered is not None else rec.outcome,
    )


def settle_gap(
    notes: dict[str, dict[str, Any]],
    live: set[str],
    found: list[CallRecord],
    seen: set[str],
    now: float,
) -> list[CallRecord]:
    """What to write of a server's calls that ended while no one followed it (Plateau down, or its link
    between two nodes), once its channels are listed again (`live`). A call noted in progress (`notes`) and
    gone: Asterisk's record of it (`found`: true end, agent) with what the note knew, else the note alone
    (ended at the latest `now`). A call in the records alone began and ended unseen; written unless it is
    up or was seen ending (`seen`)."""
    by_id = {rec.linkedid: rec for rec in found}
    out = [
        merge_note(by_id[linkedid], note) if linkedid in by_id else record_from_note(linkedid, note, now)
        for linkedid, note in notes.items()
        if linkedid not in live
    ]
    out += [rec for rec in found if rec.linkedid not in notes and rec.linkedid not in live | seen]
    return sorted(out, key=lambda rec: rec.offered_at)


def database_unavailable(exc: BaseException) -> bool:
    """The database is away or cannot write (connection refused or cut, server shutting down, disk full),
    as opposed to refusing a row's data: the first is waited for, the second is dead-lettered."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))
    return isinstance(exc, (OSError, TimeoutError))


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


def _cut(value: str | None, n: int) -> str | None:
    return value[:n] if value else value


def call_row(
    rec: CallRecord, agent_id: int | None, contact_id: int | None, ivr_path: list[Any] | None
) -> dict[str, Any]:
    return {
        "linkedid": rec.linkedid,
        "direction": CallDirection(rec.direction.value),
        "caller_number": rec.caller.number,
        "caller_name": rec.caller.name,
        "called_number": rec.called_number,
        "queue": rec.queue,
        "agent_id": agent_id,
        "contact_id": contact_id,
        "offered_at": _dt(rec.offered_at),
        "answered_at": _dt(rec.answered_at),
        "ended_at": _dt(rec.ended_at),
        "wait_s": rec.wait_s,
        "talk_s": round(rec.talk_s, 3) if rec.talk_s is not None else None,
        "hold_s": rec.hold_s,
        "wrap_s": None,
        "outcome": rec.outcome,
        "hangup_cause": rec.hangup_cause,
        "ivr_path": ivr_path,
    }


class CallHistoryWriter:
    def __init__(
        self,
        db: Database,
        directory: AgentDirectory,
        region: str,
        *,
        matches: dict[str, list[int]] | None = None,
        ivr_summary: IvrPathFn | None = None,
        batch: int = 500,
        flush_s: float = 0.2,
        dead_letter: Path | None = None,
        direction_of: DirectionFn | None = None,
    ) -> None:
        self.db = db
        self.directory = directory
        self.region = region
        self.matches = matches if matches is not None else {}
        self.ivr_summary = ivr_summary
        self.batch, self.flush_s = batch, flush_s
        self.queue: asyncio.Queue[CallRecord] = asyncio.Queue()
        self.written = 0
        self.failed_batches = 0
        self.retry_base_s = 0.2
        self.dead_letter = dead_letter or DEAD_LETTER
        self.pending = 0  # calls handed over and not yet in the database (or the dead-letter file)
        self.error: str | None = None  # why the calls wait, while they do
        self._unwritable: list[CallRecord] = []  # refused by the database and by the dead-letter file
        self._batch: list[CallRecord] = []  # the batch being written
        self.direction_of = direction_of or (lambda _linkedid: None)
        self._open: dict[str, dict[str, Any]] = {}  # calls in progress → their note
        self._dirty: set[str] = set()  # notes changed since written
        self._notes_queued = False
        self._held: set[str] = set()  # prefixes whose notes wait for `take_notes`
        self.recovered: dict[str, dict[str, Any]] = {}  # notes a previous run left (`load_open`)
        self.adopting: set[str] = set()  # servers' links gained from another node: their notes to take
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def on_event(self, event: Any) -> None:
        if isinstance(event, CallEnded):
            rec = event.record
            self._open.pop(rec.linkedid, None)
            self._dirty.discard(rec.linkedid)
            note = self.recovered.pop(rec.linkedid, None)
            self._enqueue(merge_note(rec, note) if note is not None else rec)
        elif isinstance(event, (CallOffered, CallQueued, CallAnswered)):
            note = self._open.setdefault(event.linkedid, {})
            note_event(note, event, self.direction_of(event.linkedid))
            self._dirty.add(event.linkedid)
            self._queue_notes()

    def _queue_notes(self) -> None:
        if not self._notes_queued:
            self._notes_queued = True
            self.queue.put_nowait(_NOTES)  # type: ignore[arg-type]

    def _enqueue(self, rec: CallRecord) -> None:
        self._idle.clear()
        self.pending += 1
        self.queue.put_nowait(rec)

    async def load_open(self) -> None:
        """The calls a previous run noted in progress and did not write (it was killed)."""
        async with self.db.session() as s:
            rows = (await s.execute(select(OpenCall.linkedid, OpenCall.data))).all()
        self.recovered = {linkedid: dict(data) for linkedid, data in rows}
        if rows:
            log.info("history: %d call(s) in progress when the previous run stopped", len(rows))

    def hold_notes(self, prefix: str) -> None:
        """A server's link just gained: this node's notes of its calls (ids starting with `prefix`) are not
        written until the previous owner's are read (`take_notes`), which they would replace."""
        self._held.add(prefix)

    async def take_notes(self, prefix: str) -> int:
        """A server's link taken over from another node: the notes that node left of its calls in progress
        there (ids starting with `prefix`) are this node's to write (`close_gap`, or at their end). What it
        knew first (start, caller, answer) wins over what this node saw of the same call since."""
        try:
            async with self.db.session() as s:
                query = select(OpenCall.linkedid, OpenCall.data).where(
                    OpenCall.linkedid.startswith(prefix, autoescape=True)
                )
                rows = (await s.execute(query)).all()
        finally:
            self._held.discard(prefix)
        for linkedid, data in rows:
            self.recovered[linkedid] = dict(data)
            if linkedid in self._open:
                self._open[linkedid] = {**self._open[linkedid], **data}
                self._dirty.add(linkedid)
        if any(linkedid.startswith(prefix) for linkedid in self._dirty):
            self._queue_notes()  # those held meanwhile
        return len(rows)

    def close_gap(
        self, prefix: str, live: set[str], found: list[CallRecord], seen: set[str], now: float
    ) -> list[CallRecord]:
        """After a server's channel snapshot (`live`: the calls it carries): its calls that ended while no
        one followed it are written, from Asterisk's records (`found`) and the notes left (`recovered`);
        `seen`: calls this node saw end. The calls still up end as adopted calls."""
        notes = {k: v for k, v in self.recovered.items() if k.startswith(prefix)}
        records = settle_gap(notes, live, found, seen, now)
        for rec in records:
            self.recovered.pop(rec.linkedid, None)
            self._enqueue(rec)
        if records:
            gone = sum(1 for k in notes if k not in live)
            log.info("history: %d call(s) ended unseen (%d noted in progress)", len(records), gone)
        return records

    def forget(self, prefix: str) -> None:
        """A server's link lost to another node: its calls in progress (ids starting with `prefix`) are that
        node's to write; their notes stay in the database for it, and none is rewritten from here."""
        for notes in (self._open, self.recovered):
            for linkedid in [k for k in notes if k.startswith(prefix)]:
                del notes[linkedid]
        self._dirty = {k for k in self._dirty if not k.startswith(prefix)}

    async def last_ended_at(self, prefix: str = "") -> float | None:
        """When the last call written whose id starts with `prefix` (a server's) ended: Asterisk's records of
        that server are read from there on."""
        query = select(func.max(Call.ended_at))
        if prefix:
            query = query.where(Call.linkedid.startswith(prefix, autoescape=True))
        async with self.db.session() as s:
            last = await s.scalar(query)
        if last is None:
            return None
        return (last if last.tzinfo else last.replace(tzinfo=UTC)).timestamp()

    async def unwritten(self, linkedids: list[str]) -> set[str]:
        """Those of `linkedids` that have no row yet."""
        if not linkedids:
            return set()
        async with self.db.session() as s:
            there = set(await s.scalars(select(Call.linkedid).where(Call.linkedid.in_(linkedids))))
        return set(linkedids) - there

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="call-history")

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await self.drain(timeout=5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # the database still away at shutdown: what waited for it goes to the dead-letter file
        left, self._batch, self._unwritable = [*self._batch, *self._unwritable], [], []
        while not self.queue.empty():
            if (item := self.queue.get_nowait()) is not _NOTES:
                left.append(item)
        for rec in left:
            self._dead_letter(rec)
        for rec in self._unwritable:
            log.error("history: call %s lost at shutdown: %s", rec.linkedid, self.error)

    async def drain(self, timeout: float = 10) -> None:
        """Wait until every call handed over so far is in the database."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def _run(self) -> None:
        while True:
            if self._unwritable:  # the dead-letter file could not be written: try again now and then
                try:
                    items = [await asyncio.wait_for(self.queue.get(), RETRY_MAX_S)]
                except TimeoutError:
                    items = []
                held, self._unwritable = self._unwritable, []
                for rec in held:
                    self._dead_letter(rec)
                self.pending -= len(held) - len(self._unwritable)
                if not items:
                    self._set_idle_if_done()
                    continue
            else:
                items = [await self.queue.get()]
            deadline = asyncio.get_running_loop().time() + self.flush_s
            while len(items) < self.batch:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0 and self.queue.empty():
                    break
                try:
                    items.append(
                        self.queue.get_nowait()
                        if not self.queue.empty()
                        else await asyncio.wait_for(self.queue.get(), remaining)
                    )
                except TimeoutError:
                    break
            records = [r for r in items if r is not _NOTES]
            if len(records) < len(items):
                self._notes_queued = False  # notes changed from now on come with the next batch
            held_before, self._batch = len(self._unwritable), records
            await self._write_with_retry(records)
            self._batch = []
            self.pending -= len(records) - (len(self._unwritable) - held_before)
            self._set_idle_if_done()

    def _set_idle_if_done(self) -> None:
        if self.queue.empty() and not self._unwritable:
            self.error = None
            self._idle.set()

    async def _write_with_retry(self, records: list[CallRecord]) -> None:
        """Write the batch; while the database is away, wait for it (the calls stay here, in order). A batch
        it refuses is written call by call, and the calls refused alone go to the dead-letter file."""
        attempt = 0
        while True:
            try:
                await self.write(records)
                if records and not self._unwritable:  # notes alone do not say the calls can be written
                    self.error = None
                return
            except Exception as exc:
                self.failed_batches += 1
                attempt += 1
                if not database_unavailable(exc) and attempt >= 5:
                    break
                if attempt == 1:
                    log.exception("history: batch of %d calls failed; retrying", len(records))
                self.error = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
                await asyncio.sleep(min(RETRY_MAX_S, self.retry_base_s * 2 ** min(attempt - 1, 8)))
        for rec in records:  # one poisoned record must not take the others down with it
            try:
                await self.write([rec])
            except Exception:
                self._dead_letter(rec)

    def _dead_letter(self, rec: CallRecord) -> None:
        """Nothing is lost: what cannot be written is kept on disk for replay, and said loudly. When the file
        cannot take it (disk full), the call stays in memory and is tried again; a line cut short by the
        full disk is taken back, so the file holds whole lines only."""
        line = (json.dumps(asdict(rec), default=str, ensure_ascii=False) + "\n").encode()
        try:
            self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dead_letter, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                end = os.lseek(fd, 0, os.SEEK_END)
                try:
                    if os.write(fd, line) != len(line):
                        raise OSError(errno.ENOSPC, "short write")
                except OSError:
                    os.ftruncate(fd, end)
                    raise
            finally:
                os.close(fd)
        except OSError as exc:
            self._unwritable.append(rec)
            self.error = f"dead-letter file {self.dead_letter}: {exc}"
            log.error("history: call %s kept in memory: %s", rec.linkedid, self.error)
            return
        log.error("history: call %s could not be written; kept in %s", rec.linkedid, self.dead_letter)

    def health(self) -> dict[str, Any]:
        """`ok` is false while calls wait for the database or for room in the dead-letter file."""
        ok = self.error is None
        return {"ok": ok, "written": self.written, "pending": self.pending, "error": self.error}

    async def write(self, records: list[CallRecord]) -> int:
        """Insert the calls that are not there yet, with a timeline entry for the matched contact; in the same
        transaction, note the calls in progress and drop the notes of those written."""
        notes = {
            linkedid: dict(self._open[linkedid])
            for linkedid in self._dirty
            if linkedid in self._open and not any(linkedid.startswith(p) for p in self._held)
        }
        self._dirty.difference_update(notes)
        if not records and not notes:
            return 0
        await self.directory.refresh_if_stale()
        try:
            return await self._write(records, notes)
        except BaseException:
            self._dirty.update(linkedid for linkedid in notes if linkedid in self._open)
            raise

    async def _write(self, records: list[CallRecord], notes: dict[str, dict[str, Any]]) -> int:
        async with self.db.session() as s:
            rows = []
            known = {r.linkedid: self.matches.pop(r.linkedid) for r in records if r.linkedid in self.matches}
            unknown = [r.caller.number for r in records if r.linkedid not in known and r.caller.number]
            looked_up = await find_contact_ids(s, unknown, self.region) if unknown else {}
            for rec in records:
                contact_ids = known.get(rec.linkedid) or looked_up.get(rec.caller.number or "")
                contact_id = contact_ids[0] if contact_ids and len(contact_ids) == 1 else None
                agent = self.directory.get(rec.agent)
                ivr = await self.ivr_summary(s, rec.linkedid) if self.ivr_summary else None
                rows.append(
                    call_row(
                        rec, agent.user_id if agent else None, contact_id, ivr.get("path") if ivr else None
                    )
                )
            if notes:
                now = datetime.now(UTC)
                upsert = dialect_insert(s, OpenCall)
                await s.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["linkedid"],
                        set_={"data": upsert.excluded.data, "noted_at": upsert.excluded.noted_at},
                    ),
                    [{"linkedid": k, "data": v, "noted_at": now} for k, v in notes.items()],
                )
            if not records:
                await s.commit()
                return 0
            await s.execute(delete(OpenCall).where(OpenCall.linkedid.in_([r.linkedid for r in records])))
            stmt = dialect_insert(s, Call).on_conflict_do_nothing(index_elements=["linkedid"])
            # executemany with RETURNING (SQLAlchemy's insertmanyvalues): compiled once per batch
            inserted = (
                await s.execute(stmt.returning(Call.id, Call.linkedid, sort_by_parameter_order=True), rows)
            ).all()
            by_linkedid = {r["linkedid"]: r for r in rows}
            timeline = []
            for call_id, linkedid in inserted:
                row = by_linkedid[linkedid]
                if row["contact_id"] is not None:
                    timeline.append(
                        Interaction(
                            contact_id=row["contact_id"],
                            kind=InteractionKind.call,
                            call_id=call_id,
                            agent_id=row["agent_id"],
                            at=row["ended_at"],
                            data={
                                "direction": row["direction"].value,
                                "outcome": row["outcome"],
                                "queue": row["queue"],
                                "talk_s": row["talk_s"],
                                "wait_s": row["wait_s"],
                            },
                        )
                    )
            s.add_all(timeline)
            await complete_from_calls(s, [linkedid for _call_id, linkedid in inserted])
            await s.commit()
        self.written += len(inserted)
        return len(inserted)
