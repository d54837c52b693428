"""Screen-pop: on the ring towards an agent, find the caller and push what the agent needs to that agent only.

The lookup is bounded in time: when the store is slow the pop goes out at once with the caller ID alone
(`partial`), and the full pop follows under the same `pop_id` when the lookup lands. One lookup per call
serves every agent it rings (ring-no-answer, then the next agent). Caller names are data, never markup:
the browser renders them as text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.bus import Message, ToAgent
from app.complaints import sla_state
from app.customers import CallerMatch, find_callers
from app.db import Database
from app.models import Complaint, ComplaintStatus, Interaction
from app.schemas import ComplaintOut, ContactOut, InteractionOut
from cti.events import AgentRingEnded, AgentRinging, CallAnswered, CallEnded, CallerId
from cti.numbers import try_parse

log = logging.getLogger(__name__)

HISTORY_PER_CONTACT = 5
OPEN = (ComplaintStatus.open, ComplaintStatus.in_progress)
IvrSummaryFn = Callable[[Any, str], Any]


def _one_of(column: Any, ids: list[int]) -> Any:
    # `=` for the usual single match: an IN list is re-expanded at every execution (SQLAlchemy postcompile)
    return column == ids[0] if len(ids) == 1 else column.in_(ids[:10])


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
    ) -> None:
        self.db = db
        self.publish = publish
        self.region = region
        self.lookup_timeout_s = lookup_timeout_s
        self.due_soon = due_soon
        self.ivr_summary = ivr_summary
        self.current: dict[str, dict[str, Any]] = {}  # agent interface → its latest pop (for snapshots)
        self.matches: dict[str, list[int]] = {}  # linkedid → matched contact ids (for the history writer)
        self._lookups: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.pops_sent = 0
        # linkedid → extra pop fields or None (the dialer adds the lead, campaign and script of its calls)
        self.extras: list[Callable[[str], dict[str, Any] | None]] = []

    # -- bus subscriber -----------------------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        if isinstance(event, AgentRinging):
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
        lookup = self._lookups.get(linkedid)
        if lookup is None:
            lookup = self._lookups[linkedid] = asyncio.create_task(self._lookup(linkedid, caller))
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

    async def _lookup(self, linkedid: str, caller: CallerId) -> dict[str, Any]:
        """One connection, a handful of indexed queries: matches, their history, open complaints, IVR path."""
        t0 = time.perf_counter()
        async with self.db.session() as s:
            matches: list[CallerMatch] = (
                await find_callers(s, caller.number, self.region) if caller.number else []
            )
            contacts = [
                {**ContactOut.model_validate(m.contact).model_dump(mode="json"), "matched_by": m.how}
                for m in matches
            ]
            ids = [m["id"] for m in contacts]
            self.matches[linkedid] = ids
            history = await self._history(s, ids) if ids else []
            complaints = await self._complaints(s, ids) if ids else []
            ivr = await self._ivr(s, linkedid) if self.ivr_summary is not None else None
        return {
            "matches": contacts,
            "history": history,
            "complaints": complaints,
            "ivr": ivr,
            "lookup_ms": round((time.perf_counter() - t0) * 1000, 2),
        }

    async def _history(self, s: Any, ids: list[int]) -> list[dict[str, Any]]:
        rows = (
            await s.scalars(
                select(Interaction)
                .where(Interaction.contact_id.in_(ids[:10]))
                .order_by(Interaction.at.desc(), Interaction.id.desc())
                .limit(HISTORY_PER_CONTACT * 2)
            )
        ).all()
        return [InteractionOut.model_validate(r).model_dump(mode="json") for r in rows]

    async def _complaints(self, s: Any, ids: list[int]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        out = []
        for c in (
            await s.scalars(
                select(Complaint)
                .where(Complaint.contact_id.in_(ids[:10]), Complaint.status.in_(OPEN))
                .order_by(Complaint.answer_due_at)
            )
        ).all():
            item = ComplaintOut.model_validate(c).model_dump(mode="json")
            item["sla_state"] = sla_state(now, c.answer_due_at, c.resolved_at, self.due_soon).value
            out.append(item)
        return out

    async def _ivr(self, s: Any, linkedid: str) -> dict[str, Any] | None:
        assert self.ivr_summary is not None
        try:
            result: dict[str, Any] | None = await self.ivr_summary(s, linkedid)
            return result
        except Exception:
            log.exception("screenpop: IVR summary failed for %s", linkedid)
            await s.rollback()
            return None

    async def warm(self, connections: int = 4) -> None:
        """Open and prime pool connections before the first ring (a cold connection costs tens of ms)."""
        caller = CallerId("+33100000000", None, False)
        await asyncio.gather(
            *(self._lookup(f"warm-{n}", caller) for n in range(connections)), return_exceptions=True
        )
        for n in range(connections):
            self.matches.pop(f"warm-{n}", None)

    def snapshot_for(self, interface: str | None) -> list[dict[str, Any]]:
        pop = self.current.get(interface or "")
        return [pop] if pop is not None else []
