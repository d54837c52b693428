"""Screen-pop: on the ring towards an agent, find the caller and push what the agent needs to that agent only.

The lookup is bounded in time: when the store is slow the pop goes out at once with the caller ID alone
(`partial`), and the full pop follows under the same `pop_id` when the lookup lands. One lookup per call
serves every agent it rings (ring-no-answer, then the next agent). Caller names are data, never markup:
the browser renders them as text.

The caller's part of the lookup (matches, history, complaints) starts when an inbound call arrives, so
that while the caller hears the greeting, the IVR or the queue, it is done before the first ring; the ring
adds the IVR path the call has just taken, and looks the caller up again only if the number changed.

The lookup is on the ring's critical path, so it runs on a few connections of its own, opened and warmed
at start-up: no pool checkout behind the history writers and the WebSocket logins, no pre-ping, and
autocommit (no BEGIN/ROLLBACK). The match, the matches' history, their open complaints and their last
survey answer are four statements on four connections at once, all keyed by the caller's number, so the
ring waits for one round trip, not four in a row. They are read with prebuilt Core statements (compiled
once, cached) into plain dicts, without ORM objects or validation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.complaints import sla_state
from app.customers import CallerMatch, find_callers, matched_contact_ids
from app.schemas import ComplaintOut, ContactOut, InteractionOut
from core.bus import Message, ToAgent
from core.db import Database
from core.models import Complaint, ComplaintStatus, Interaction, SurveyAnswer
from cti.events import AgentRingEnded, AgentRinging, CallAnswered, CallEnded, CallerId, CallOffered, Direction
from cti.numbers import lookup_keys, try_parse

log = logging.getLogger(__name__)

HISTORY_PER_CONTACT = 5
OPEN = (ComplaintStatus.open, ComplaintStatus.in_progress)
IvrSummaryFn = Callable[[Any, str], Any]
UnhappyFn = Callable[..., list[Any]]  # (account_id=, contact_id=, number=) → app.unhappy.Reason list

MAX_CONTACTS = 10


# The history and open complaints of the contacts the caller's number matches: keyed by the caller's lookup
# keys instead of the matches' ids, so that they run at the same time as the match, each on a connection of
# its own (one round trip of wait on the ring's path instead of three). The columns are the pop's fields, as
# the REST API's schemas name them (one definition of the shape).
_MATCHED = matched_contact_ids(MAX_CONTACTS)
_HISTORY = (
    select(*(Interaction.__table__.c[f] for f in InteractionOut.model_fields))
    .where(Interaction.__table__.c.contact_id.in_(_MATCHED))
    .order_by(Interaction.__table__.c.at.desc(), Interaction.__table__.c.id.desc())
    .limit(HISTORY_PER_CONTACT * 2)
)
_COMPLAINTS = (
    select(*(Complaint.__table__.c[f] for f in ComplaintOut.model_fields if f != "sla_state"))
    .where(Complaint.__table__.c.contact_id.in_(_MATCHED), Complaint.__table__.c.status.in_(OPEN))
    .order_by(Complaint.__table__.c.answer_due_at)
)

# The matches' latest post-call survey answer ("last CSAT 2/5"), keyed the same way.
_LAST_SURVEY = (
    select(SurveyAnswer.csat, SurveyAnswer.nps, SurveyAnswer.answered_at.label("at"))
    .where(
        SurveyAnswer.__table__.c.contact_id.in_(_MATCHED),
        (SurveyAnswer.csat.is_not(None)) | (SurveyAnswer.nps.is_not(None)),
    )
    .order_by(SurveyAnswer.answered_at.desc(), SurveyAnswer.id.desc())
    .limit(1)
)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def caller_view(caller: CallerId, region: str) -> dict[str, Any]:
    parsed = try_parse(caller.number, region) if caller.number else None
    return {
        "number": caller.number,
        "e164": parsed.e164 if parsed else None,
        "display": parsed.national() if parsed else caller.number,
        "name": caller.name,
        "withheld": caller.withheld,
        "valid": parsed is not None,
    }


def new_contact_form(caller: dict[str, Any]) -> dict[str, Any] | None:
    """What the desk pre-fills for an unknown caller (nothing to pre-fill for a withheld number)."""
    if caller["withheld"] or not caller["number"]:
        return None
    first, _, last = (caller["name"] or "").partition(" ")
    return {"number": caller["e164"] or caller["number"], "first_name": first, "last_name": last}


class ScreenPop:
    def __init__(
        self,
        db: Database,
        publish: Callable[[Message], Any],
        region: str,
        *,
        lookup_timeout_s: float = 0.25,
        due_soon: timedelta = timedelta(days=2),
        ivr_summary: IvrSummaryFn | None = None,
        connections: int = 12,  # a few rings at once while the database is slow; each takes four
        unhappy: UnhappyFn | None = None,
    ) -> None:
        self.db = db
        self.publish = publish
        self.region = region
        self.lookup_timeout_s = lookup_timeout_s
        self.due_soon = due_soon
        self.ivr_summary = ivr_summary
        self.unhappy = unhappy  # the unhappy-customers file's reasons, from its cache (no query on the ring)
        self.current: dict[str, dict[str, Any]] = {}  # agent interface → its latest pop (for snapshots)
        self.matches: dict[str, list[int]] = {}  # linkedid → matched contact ids (for the history writer)
        self._lookups: dict[str, asyncio.Task[dict[str, Any]]] = {}  # linkedid → the pop's whole lookup
        # linkedid → (number, its matches, history and complaints): started when the call arrives
        self._found: dict[str, tuple[str, asyncio.Task[dict[str, Any]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle: list[AsyncConnection] = []  # the pop's own connections, not in use right now
        self._open = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.connections = connections
        self.pops_sent = 0
        # linkedid → extra pop fields or None (the dialer adds the lead, campaign and script of its calls)
        self.extras: list[Callable[[str], dict[str, Any] | None]] = []

    # -- bus subscriber -----------------------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        if isinstance(event, CallOffered) and event.direction == Direction.inbound:
            self._found_of(event.linkedid, event.caller)
        elif isinstance(event, AgentRinging):
            self._lookup_of(event.linkedid, event.caller)  # first in the loop's queue: the query leaves first
            self._spawn(
                self._pop(
                    event.linkedid,
                    event.agent,
                    event.caller,
                    event.queue,
                    event.called_number,
                    "ringing",
                    event.at,
                )
            )
        elif isinstance(event, CallAnswered):
            pop = self.current.get(event.agent)
            if pop is not None and pop["linkedid"] == event.linkedid:
                self._update(event.agent, phase="answered", answered_at=event.at)
            else:  # click-to-call, outbound, or a transfer that reached this agent without a ring event
                self._lookup_of(event.linkedid, event.caller)
                self._spawn(
                    self._pop(
                        event.linkedid, event.agent, event.caller, event.queue, None, "answered", event.at
                    )
                )
        elif isinstance(event, AgentRingEnded) and event.reason != "answer":
            pop = self.current.get(event.agent)
            if pop is not None and pop["linkedid"] == event.linkedid and pop["phase"] == "ringing":
                self._update(event.agent, phase="missed")
        elif isinstance(event, CallEnded):
            for agent in event.agents:
                pop = self.current.get(agent)
                if (
                    pop is not None
                    and pop["linkedid"] == event.record.linkedid
                    and pop["phase"] == "answered"
                ):
                    self._update(
                        agent, phase="wrap_up", ended_at=event.record.ended_at, outcome=event.record.outcome
                    )
            self._lookups.pop(event.record.linkedid, None)
            self._found.pop(event.record.linkedid, None)

    def disposed(self, agent: str, linkedid: str, code: str) -> None:
        """The call's disposition is saved: its pop says so (phase `done`), in every tab of the agent and in
        the snapshot of a desk opened later, which therefore offers no second wrap-up."""
        pop = self.current.get(agent)
        if pop is not None and pop["linkedid"] == linkedid:
            self._update(agent, phase="done", disposition=code)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, agent: str, pop: dict[str, Any]) -> None:
        self.current[agent] = pop
        self.pops_sent += 1
        self.publish(Message(ToAgent(agent), pop))

    def _update(self, agent: str, **changes: Any) -> None:
        pop = {**self.current[agent], **changes, "sent_at": time.time()}
        self._send(agent, pop)

    # -- the pop ------------------------------------------------------------------------------------------
    async def _pop(
        self,
        linkedid: str,
        agent: str,
        caller: CallerId,
        queue: str | None,
        dnis: str | None,
        phase: str,
        at: float,
    ) -> None:
        lookup = self._lookup_of(linkedid, caller)
        base = {
            "type": "pop",
            "pop_id": f"{linkedid}:{agent}",
            "linkedid": linkedid,
            "agent": agent,
            "phase": phase,
            "queue": queue,
            "dnis": dnis,
            "caller": caller_view(caller, self.region),
            "event_at": at,
        }
        for extra in self.extras:
            base.update(extra(linkedid) or {})
        try:
            found = await asyncio.wait_for(asyncio.shield(lookup), self.lookup_timeout_s)
        except TimeoutError:
            self._send(
                agent,
                {
                    **base,
                    "partial": True,
                    "matches": [],
                    "history": [],
                    "complaints": [],
                    "new_contact": None,
                    "ivr": None,
                    "sent_at": time.time(),
                },
            )
            try:
                found = await lookup
            except Exception:
                log.exception("screenpop: lookup failed for %s", linkedid)
                return
            current = self.current.get(agent)
            if current is None or current["pop_id"] != base["pop_id"]:
                return
            base["phase"] = current["phase"]
        except Exception:
            log.exception("screenpop: lookup failed for %s", linkedid)
            found = {"matches": [], "history": [], "complaints": [], "ivr": None, "error": "lookup failed"}
        new_contact = None if found["matches"] else new_contact_form(base["caller"])
        self._send(
            agent, {**base, **found, "partial": False, "new_contact": new_contact, "sent_at": time.time()}
        )

    def _lookup_of(self, linkedid: str, caller: CallerId) -> asyncio.Task[dict[str, Any]]:
        """The call's one lookup for its pops, completed by the first ring with the IVR path."""
        lookup = self._lookups.get(linkedid)
        if lookup is None:
            found = self._found_of(linkedid, caller)
            lookup = self._lookups[linkedid] = asyncio.get_running_loop().create_task(
                self._with_ivr(linkedid, found)
            )
        return lookup

    def _found_of(self, linkedid: str, caller: CallerId) -> asyncio.Task[dict[str, Any]]:
        """The caller's matches, history and complaints: one lookup per call and number. One that failed
        (the store was down when the call arrived) is tried again rather than served to the ring."""
        number = caller.number or ""
        cached = self._found.get(linkedid)
        if cached is not None and cached[0] == number:
            task = cached[1]
            if not task.done() or task.cancelled() or task.exception() is None:
                return task
        task = asyncio.get_running_loop().create_task(self._lookup(linkedid, caller))
        task.add_done_callback(_retrieve)  # a call that never rings: its lookup's failure is not news
        self._found[linkedid] = (number, task)
        return task

    async def _with_ivr(self, linkedid: str, found: asyncio.Task[dict[str, Any]]) -> dict[str, Any]:
        ivr = await self._ivr(linkedid) if self.ivr_summary is not None else None  # while `found` runs
        return {**await asyncio.shield(found), "ivr": ivr}

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """One of the pop's own connections. Past `connections` lookups at once, the next waits for one:
        opening another (TLS, authentication) would cost more than the wait, and take CPU from the rest."""
        while not self._idle and self._open >= self.connections:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
        if self._idle:
            conn = self._idle.pop()
        else:
            self._open += 1
            try:
                conn = await self.db.engine.connect()
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            except BaseException:
                self._open -= 1
                self._next_waiter()
                raise
        try:
            yield conn
        except BaseException:
            self._open -= 1  # a broken or interrupted connection is not reused; a waiter opens another
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        else:
            self._idle.append(conn)
        finally:
            self._next_waiter()

    def _next_waiter(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _lookup(self, linkedid: str, caller: CallerId) -> dict[str, Any]:
        """Matches, their history, open complaints: one round trip each, at the same time."""
        t0 = time.perf_counter()
        try:
            found = await self._lookup_on(linkedid, caller)
        except Exception:  # the pop's connection died (database restarted): once more on a fresh one
            log.warning("screenpop: lookup for %s failed; retrying on a new connection", linkedid)
            found = await self._lookup_on(linkedid, caller)
        found["lookup_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return found

    async def _lookup_on(self, linkedid: str, caller: CallerId) -> dict[str, Any]:
        e164, suffix = lookup_keys(caller.number or "", self.region)
        keys = {"e164": e164, "suffix": suffix}
        if not suffix:
            self._note_matches(linkedid, [])
            return {"matches": [], "history": [], "complaints": [], "last_survey": None}
        async with asyncio.TaskGroup() as tg:  # the first failure cancels the rest
            matched = tg.create_task(self._matches(caller.number or ""))
            history = tg.create_task(self._rows(_HISTORY, keys))
            complaints = tg.create_task(self._rows(_COMPLAINTS, keys))
            survey = tg.create_task(self._rows(_LAST_SURVEY, keys))
        contacts = matched.result()
        ids = [m["id"] for m in contacts]
        self._note_matches(linkedid, ids)
        for m in contacts:
            account = m.get("account") or {}
            m["unhappy"] = self._unhappy(account.get("id"), m["id"], None)
        return {
            # an unknown caller: by the number as the history stores it (app.unhappy_segment)
            "unhappy": [] if contacts else self._unhappy(None, None, caller.number),
            "matches": contacts,
            "history": [to_jsonable_python(r) for r in history.result()] if ids else [],
            "complaints": self._with_sla(complaints.result()) if ids else [],
            "last_survey": to_jsonable_python(survey.result()[0]) if ids and survey.result() else None,
        }

    def _unhappy(self, account_id: int | None, contact_id: int | None, number: str | None) -> list[Any]:
        if self.unhappy is None:
            return []
        found = self.unhappy(account_id=account_id, contact_id=contact_id, number=number)
        return [
            {"code": r.code.value, "count": r.count, "last_at": to_jsonable_python(r.last_at)} for r in found
        ]

    def _note_matches(self, linkedid: str, ids: list[int]) -> None:
        """For the history writer, which takes them when it writes the call: not for a call already ended
        (a lookup started at its arrival that lands after it), whose entry nobody would take."""
        if linkedid in self._found:
            self.matches[linkedid] = ids

    async def _matches(self, number: str) -> list[dict[str, Any]]:
        async with self._connection() as conn:
            s = AsyncSession(bind=conn)
            try:
                matches: list[CallerMatch] = await find_callers(s, number, self.region)
            finally:
                await s.close()
        return [
            {**ContactOut.model_validate(m.contact).model_dump(mode="json"), "matched_by": m.how}
            for m in matches
        ]

    async def _rows(self, statement: Any, keys: dict[str, Any]) -> list[dict[str, Any]]:
        async with self._connection() as conn:
            return [dict(r) for r in (await conn.execute(statement, keys)).mappings()]

    def _with_sla(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        out = []
        for r in rows:
            item = to_jsonable_python(r)
            item["sla_state"] = sla_state(now, r["answer_due_at"], r["resolved_at"], self.due_soon).value
            out.append(item)
        return out

    async def _ivr(self, linkedid: str) -> dict[str, Any] | None:
        assert self.ivr_summary is not None
        try:
            async with self._connection() as conn:
                s = AsyncSession(bind=conn)
                try:
                    result: dict[str, Any] | None = await self.ivr_summary(s, linkedid)
                finally:
                    await s.close()
            return result
        except Exception:  # the pop goes out without the IVR path rather than not at all
            log.exception("screenpop: IVR summary failed for %s", linkedid)
            return None

    async def warm(self) -> None:
        """Open the pop's connections and prime them before the first ring (a cold connection, its
        prepared statements and the compiled-statement cache cost tens of ms on the first call)."""
        keys = lookup_keys("+33100000000", self.region)
        await asyncio.gather(
            *(self._warm_one(*keys) for _ in range(self.connections)), return_exceptions=True
        )

    async def _warm_one(self, e164: str | None, suffix: str | None) -> None:
        async with self._connection() as conn:  # started together, so each opens a connection of its own
            s = AsyncSession(bind=conn)
            try:
                await find_callers(s, e164, self.region)
            finally:
                await s.close()
            for statement in (_HISTORY, _COMPLAINTS, _LAST_SURVEY):
                await conn.execute(statement, {"e164": e164, "suffix": suffix})

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close()

    def contact_name(self, linkedid: str) -> str | None:
        """The name of the contact the caller's number matched (the first; "+N" more), once looked up."""
        cached = self._found.get(linkedid)
        if cached is None or not cached[1].done() or cached[1].cancelled() or cached[1].exception():
            return None
        matches = cached[1].result()["matches"]
        if not matches:
            return None
        first = matches[0]
        name = f"{first['first_name']} {first['last_name']}".strip() or None
        return f"{name} (+{len(matches) - 1})" if name and len(matches) > 1 else name

    def snapshot_for(self, interface: str | None) -> list[dict[str, Any]]:
        pop = self.current.get(interface or "")
        return [pop] if pop is not None else []
