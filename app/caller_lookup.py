"""The screen-pop's caller lookup: the caller's matches, their history, open complaints and last survey
answer, read at once on connections of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.complaints import sla_state
from app.customers import CallerMatch, find_callers, matched_contact_ids
from app.schemas import ComplaintOut, ContactOut, InteractionOut
from core.models import Complaint, ComplaintStatus, Interaction, SurveyAnswer
from cti.events import CallerId
from cti.numbers import lookup_keys

log = logging.getLogger(__name__)

HISTORY_PER_CONTACT = 5
OPEN = (ComplaintStatus.open, ComplaintStatus.in_progress)

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


class CallerLookup:
    """The lookup's own warmed connections and the four statements it runs on them."""

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
