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
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.caller_lookup import CallerLookup
from core.bus import Message, ToAgent
from core.db import Database
from cti.events import AgentRingEnded, AgentRinging, CallAnswered, CallEnded, CallerId, CallOffered, Direction
from cti.numbers import try_parse

log = logging.getLogger(__name__)
IvrSummaryFn = Callable[[Any, str], Any]
UnhappyFn = Callable[..., list[Any]]  # (account_id=, contact_id=, number=) → app.unhappy.Reason list


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


class ScreenPop(CallerLookup):
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

    def pops(self) -> list[dict[str, Any]]:
        """Each agent's current pop (replayed to a desk that connects)."""
        return list(self.current.values())
