"""The FastAGI server that runs IVR flows. The only module that uses `panoramisk.fast_agi`.

panoramisk 1.4's FastAGI has traps (see the Asterisk reference, §1.4); this wrapper owns the fixes:
- its request handler busy-loops at EOF, so a TCP connect-and-close (a health check, a port scanner)
  freezes the whole event loop: `SafeApplication.handler` reads the headers line by line with a
  deadline and drops a connection that closes or stalls before sending them;
- with AGISIGHUP on, Asterisk writes an inline `HANGUP` line that desynchronises replies: the
  dialplan sets `AGISIGHUP=no` before `AGI()`, and any `HANGUP` line, `511` (dead channel), EOF or
  `result=-1` still ends the flow cleanly (`ChannelGone`), with the history row closed as a hang-up;
- a route that raises never leaves the socket open: Asterisk then continues the dialplan, which sends
  the caller to the DID's queue, so a fault in Plateau never strands a caller.

The flow's decisions come from the pure interpreter; this module only performs them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from panoramisk import fast_agi
from panoramisk.utils import parse_agi_result
from sqlalchemy import select

from core.db import Database
from core.models import Call, Complaint, ComplaintStatus
from core.recording_store import spoken_key
from cti.ivr import history, hours_store
from cti.ivr import interpreter as it
from cti.ivr.flows import flow_for_did
from cti.ivr.hours import Schedule
from cti.ivr.model import Flow
from cti.ivr.ports import CallbackRefused, IvrData

log = logging.getLogger(__name__)

ROUTE = "ivr"
SURVEY_ROUTE = "survey"  # agi://host:port/survey[,<flow>]: the post-call survey, on a call already handled
HEADER_TIMEOUT_S = 5.0  # Asterisk sends every agi_* header at once; anything slower is not Asterisk
MAX_HEADERS = 200
KEYS = "0123456789*#"
INTER_DIGIT_S = 3.0
DB_TIMEOUT_S = 3.0  # the data dip must not keep a caller in silence
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9+_.-]{0,80}$")


class ChannelGone(Exception):
    """The caller hung up or the channel died: stop talking to it."""


class SafeApplication(fast_agi.Application):
    """panoramisk's Application with a request handler that survives EOF, garbage and slow clients."""

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            headers = await asyncio.wait_for(read_headers(reader), HEADER_TIMEOUT_S)
        except (TimeoutError, ConnectionError, ValueError, asyncio.LimitOverrunError) as exc:
            log.info("FastAGI: dropped a connection without a valid request (%s)", type(exc).__name__)
            headers = None
        try:
            if headers is None:
                return
            script = headers.get("agi_network_script")
            route = self._route.get(script) if script is not None else None
            if route is None:
                log.warning("FastAGI: no route for %r", script)
                return
            request = fast_agi.Request(
                app=self, headers=headers, reader=reader, writer=writer, encoding=self.default_encoding
            )
            try:
                await route(request)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("FastAGI route %r failed; Asterisk continues the dialplan", script)
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2)
            except (TimeoutError, ConnectionError, OSError):
                pass


async def read_headers(reader: asyncio.StreamReader) -> OrderedDict[str, str] | None:
    """The `agi_*: value` lines up to the blank line; None when the peer closes first (the panoramisk
    1.4 handler spins forever right there)."""
    headers: OrderedDict[str, str] = OrderedDict()
    for _ in range(MAX_HEADERS + 1):
        line = await reader.readline()
        if not line:
            return None  # EOF before the end of the headers
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            return headers if headers else None
        if ": " in text:
            key, value = text.split(": ", 1)
            headers[key] = value
    raise ValueError("too many FastAGI headers")


class AgiChannel:
    """Commands on one FastAGI connection, each reply checked for hang-up and dead channel."""

    def __init__(self, request: fast_agi.Request) -> None:
        self.request = request
        self.reader: asyncio.StreamReader = request.reader
        self.writer: asyncio.StreamWriter = request.writer

    async def command(self, line: str, timeout: float = 30.0) -> tuple[int, str]:
        """Send one AGI command; returns (result, data). Raises ChannelGone on any sign of hang-up."""
        if "\n" in line or "\r" in line:
            raise ValueError("an AGI command is one line")
        try:
            self.writer.write(line.encode() + b"\n")
            await self.writer.drain()
            while True:
                raw = await asyncio.wait_for(self.reader.readline(), timeout)
                if not raw:
                    raise ChannelGone("FastAGI socket closed")
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if text == "HANGUP":  # AGISIGHUP left on: skip the notice, the real reply follows
                    continue
                if text.startswith("511"):
                    raise ChannelGone(text)
                if text.startswith("100"):
                    continue
                if text.startswith("520"):  # usage error: the text runs until 520 End of proper usage.
                    while raw and not raw.startswith(b"520 "):
                        raw = await asyncio.wait_for(self.reader.readline(), timeout)
                    raise RuntimeError(f"AGI usage error for {line.split(' ')[0:2]}")
                break
        except (ConnectionError, TimeoutError) as exc:
            raise ChannelGone(f"{type(exc).__name__} on {line.split(' ')[0:2]}") from None
        parsed = parse_agi_result(text)
        if parsed.get("error") in ("AGIResultHangup", "AGIAppError"):
            raise ChannelGone(text)
        if "error" in parsed:
            raise RuntimeError(f"AGI {line.split(' ')[0:2]}: {text}")
        value, data = parsed.get("result", ("0", ""))
        try:
            return int(value), data
        except ValueError:
            return 0, data

    async def get_variable(self, expr: str) -> str:
        result, data = await self.command(f"GET FULL VARIABLE {expr}")
        return data if result == 1 else ""

    async def set_variable(self, name: str, value: str | int) -> None:
        text = str(value)
        if not _SAFE_VALUE.match(text):
            raise ValueError(f"refusing to set {name} to {text!r}")
        await self.command(f'SET VARIABLE {name} "{text}"')

    async def stream(self, sound: str, escape: str = KEYS) -> str:
        """Play one sound; returns the key that interrupted it, or ''."""
        result, _ = await self.command(f'STREAM FILE {sound} "{escape}"', timeout=600)
        return chr(result) if result > 0 else ""

    async def say_digits(self, digits: str, escape: str = KEYS) -> str:
        result, _ = await self.command(f'SAY DIGITS {digits} "{escape}"', timeout=120)
        return chr(result) if result > 0 else ""

    async def say_number(self, number: int, escape: str = KEYS) -> str:
        result, _ = await self.command(f'SAY NUMBER {number} "{escape}"', timeout=120)
        return chr(result) if result > 0 else ""

    async def wait_digit(self, timeout_s: float) -> str:
        result, _ = await self.command(f"WAIT FOR DIGIT {int(timeout_s * 1000)}", timeout=timeout_s + 30)
        return chr(result) if result > 0 else ""


@dataclass
class IvrServer:
    """The FastAGI endpoint `agi://host:port/ivr,<DID>[,<resume node>]` running the flows."""

    flows: Mapping[str, Flow]
    db: Database
    data: IvrData  # customers, surveys, callbacks: the application's (app/ivr_data.py)
    host: str = "127.0.0.1"
    port: int = 4573
    region: str = "FR"
    default_zone: str = "Europe/Paris"
    default_flow: str | None = None
    survey_flow: str = "satisfaction"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    active: int = 0
    handled: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> None:
        app = SafeApplication(loop=asyncio.get_running_loop())
        app.add_route(ROUTE, self._route)
        app.add_route(SURVEY_ROUTE, self._survey_route)
        self._server = await asyncio.start_server(app.handler, self.host, self.port)
        log.info("FastAGI IVR listening on %s:%s with %d flows", self.host, self.port, len(self.flows))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _survey_route(self, request: fast_agi.Request) -> None:
        name = (request.headers.get("agi_arg_1") or "").strip() or self.survey_flow
        flow = self.flows.get(name)
        if flow is None:
            log.warning("IVR: no survey flow %r; the caller is released", name[:64])
            return
        await self._route(request, flow)

    async def _route(self, request: fast_agi.Request, flow: Flow | None = None) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.active += 1
        try:
            await self.run_call(AgiChannel(request), request.headers, flow)
        finally:
            self.active -= 1
            self.handled += 1
            self._tasks.discard(task)

    async def run_call(self, chan: AgiChannel, headers: Mapping[str, str], flow: Flow | None = None) -> None:
        did = _digits(headers.get("agi_arg_1") or headers.get("agi_extension") or "") if flow is None else ""
        resume = (headers.get("agi_arg_2") or "").strip() or None
        flow = flow or flow_for_did(self.flows, did, self.default_flow)
        if flow is None:
            log.info("IVR: no flow for DID %r; the dialplan routes the call", did)
            return
        caller = headers.get("agi_callerid")
        caller = None if caller in (None, "", "unknown") else caller
        try:
            linkedid = await chan.get_variable("${CHANNEL(linkedid)}") or headers.get("agi_uniqueid", "")
        except ChannelGone:
            return  # gone before the first prompt: nothing to record
        schedules = await self._schedules(flow)
        session = it.Session(flow, it.CallContext(caller, did, self.clock(), self.region, schedules), resume)
        row_id = await self._db(
            lambda s: history.record_start(
                s,
                linkedid=linkedid,
                uniqueid=headers.get("agi_uniqueid", ""),
                flow=flow.name,
                did=did,
                caller=caller,
            ),
            timeout=DB_TIMEOUT_S,  # the caller is not answered until this row exists
        )
        exit_: it.Exit | None = None
        try:
            await chan.command("ANSWER")
            await chan.set_variable("CHANNEL(language)", flow.language)
            exit_ = await self._drive(chan, session, linkedid)
        except ChannelGone:
            if session.exit is None:
                session.feed(it.CallerHangup())
            exit_ = session.exit
        except asyncio.CancelledError:
            exit_ = it.Exit("error", session.current_node, reason="service stopping")
            raise
        except Exception as exc:
            log.exception("IVR flow %s failed on linkedid %s", flow.name, linkedid)
            exit_ = it.Exit("error", session.current_node, reason=type(exc).__name__)
        finally:
            if row_id is not None and exit_ is not None:
                final = exit_
                await self._db(lambda s: history.record_end(s, row_id, path=session.path, exit_=final))

    async def _schedules(self, flow: Flow) -> dict[str, Schedule]:
        """The stored schedules the flow names, read once per call; on a database fault none, so the
        schedules written in the flow decide rather than the caller waiting."""
        names = flow.schedule_names()
        if not names:
            return {}
        return await self._db(lambda s: hours_store.load(s, names), timeout=DB_TIMEOUT_S) or {}

    async def _drive(self, chan: AgiChannel, session: it.Session, linkedid: str) -> it.Exit:
        step = session.start()
        typeahead = ""
        while True:
            typeahead = await self._outputs(chan, step.outputs, typeahead)
            if step.exit is not None:
                await self._exit(chan, step.exit)
                return step.exit
            request = step.request
            event: it.Event
            if isinstance(request, it.GetDigits):
                event = it.Digits(await self._get_digits(chan, request, typeahead))
                typeahead = ""
            elif isinstance(request, it.LookupCaller):
                event = it.LookupDone(await self._lookup(request.caller) or {})
            elif isinstance(request, it.ScheduleCallback):
                event = await self._schedule(request, session)
            elif isinstance(request, it.Record):
                event = await self._record(chan, request, linkedid)
            elif isinstance(request, it.SaveSurvey):
                event = await self._save_survey(request, session, linkedid)
            else:  # pragma: no cover - the interpreter only asks for these
                raise RuntimeError(f"unknown request {request!r}")
            step = session.feed(event)

    async def _outputs(self, chan: AgiChannel, outputs: tuple[it.Output, ...], typeahead: str) -> str:
        """Play the step's sounds; a key pressed meanwhile cuts them and is kept for the next read."""
        for out in outputs:
            if typeahead:
                break
            if isinstance(out, it.Play):
                for sound in out.sounds:
                    typeahead = await chan.stream(sound)
                    if typeahead:
                        break
            elif isinstance(out, it.SayDigits):
                typeahead = await chan.say_digits(out.digits)
            elif isinstance(out, it.SayNumber):
                typeahead = await chan.say_number(out.number)
        return typeahead

    async def _get_digits(self, chan: AgiChannel, req: it.GetDigits, typeahead: str) -> str:
        digits = typeahead
        if not digits:
            for sound in req.prompt:
                digits = await chan.stream(sound)
                if digits:
                    break
        wait = req.timeout_s
        while len(digits) < req.max_digits and not (req.terminator and digits.endswith(req.terminator)):
            key = await chan.wait_digit(wait if not digits else min(INTER_DIGIT_S, wait))
            if not key:
                break
            digits += key
        return digits

    async def _exit(self, chan: AgiChannel, exit_: it.Exit) -> None:
        if exit_.kind == "queue" and exit_.queue:
            await chan.set_variable("PLATEAU_IVR_QUEUE", exit_.queue)
            await chan.set_variable("PLATEAU_IVR_PRIO", exit_.priority)
            await chan.set_variable("PLATEAU_IVR_MAXWAIT", exit_.max_wait_s)
            await chan.set_variable("PLATEAU_IVR_ON_TIMEOUT", exit_.on_timeout or "")
            # read by the dialplan after the queue: the caller goes to the survey if the agent hangs up first
            await chan.set_variable("PLATEAU_SURVEY", "1" if exit_.survey else "")
            await chan.set_variable("PLATEAU_IVR_ACTION", "queue")
        elif exit_.kind == "transfer" and exit_.number:
            await chan.set_variable("PLATEAU_IVR_NUMBER", exit_.number)
            await chan.set_variable("PLATEAU_IVR_ACTION", "transfer")
        elif exit_.kind in ("hangup", "voicemail"):
            await chan.set_variable("PLATEAU_IVR_ACTION", "hangup")
        # "error": no action, so the dialplan sends the caller to the DID's queue

    async def _lookup(self, caller: str | None) -> dict[str, Any] | None:
        if not caller:
            return None

        async def dip(s: Any) -> dict[str, Any]:
            contacts = await self.data.find_contacts(s, caller, self.region)
            if not contacts:
                return {"known": False}
            return await caller_variables(s, contacts)

        return await self._db(dip, timeout=DB_TIMEOUT_S)

    async def _schedule(self, req: it.ScheduleCallback, session: it.Session) -> it.CallbackDone:
        tz = self.data.time_zone_of(req.number_e164) or self.default_zone
        contact_id = session.variables.get("contact_id") or None
        caller_number = session.variables.get("caller", "")

        async def create(s: Any) -> int:
            agent_id = await last_agent(s, int(contact_id)) if req.mode == "agent" and contact_id else None
            ref = await self.data.schedule_callback(
                s,
                number_e164=req.number_e164,
                contact_id=int(contact_id) if contact_id else None,
                due_at=self.clock(),  # as soon as an agent is free: the caller chose not to wait
                tz=tz,
                agent_id=agent_id,
                note=f"IVR {session.flow.name} → {req.queue}; appelant {caller_number or 'masqué'}",
            )
            await s.commit()
            return ref

        try:
            ref = await self._db(create, timeout=DB_TIMEOUT_S, reraise=(CallbackRefused,))
        except CallbackRefused as exc:
            log.warning("IVR callback refused: %s", exc)
            return it.CallbackDone(False)
        return it.CallbackDone(ref is not None, str(ref) if ref is not None else "")

    async def _record(self, chan: AgiChannel, req: it.Record, linkedid: str) -> it.Recorded:
        # a survey comment goes into the recordings folder (PLATEAU_REC_DIR, set by Plateau on connect) under
        # a store key (core/recording_store.py), so that a person's export and erasure reach it
        folder = "${GLOBAL(PLATEAU_REC_DIR)}" if req.purpose == "comment" else "${ASTSPOOLDIR}"
        spool = await chan.get_variable(folder)
        if not spool:
            return it.Recorded(False)
        path = f"{spool}/{spoken_key(req.purpose, linkedid, time.time()).removesuffix('.wav')}"
        try:
            await chan.command(f'RECORD FILE {path} wav "#" {req.max_s * 1000} s=5', timeout=req.max_s + 30)
        except ChannelGone:
            pass  # hanging up is how most callers end a message; Asterisk keeps what was recorded
        return it.Recorded(True, f"{path}.wav")

    async def _save_survey(self, req: it.SaveSurvey, session: it.Session, linkedid: str) -> it.SurveySaved:
        async def save(s: Any) -> bool:
            await self.data.save_survey(
                s,
                linkedid=linkedid,
                flow=session.flow.name,
                caller=session.variables.get("caller") or None,
                csat=req.csat,
                nps=req.nps,
                comment=req.comment,
                now=self.clock(),
                region=self.region,
            )
            await s.commit()
            return True

        return it.SurveySaved(bool(await self._db(save, timeout=DB_TIMEOUT_S)))

    async def _db(
        self, fn: Callable[[Any], Any], timeout: float = 10.0, reraise: tuple[type[Exception], ...] = ()
    ) -> Any:
        """Run `fn(session)`; a database fault is logged and gives None, never a stuck caller."""
        try:
            async with self.db.session() as s:
                return await asyncio.wait_for(fn(s), timeout)
        except reraise:
            raise
        except Exception:
            log.exception("IVR database call failed")
            return None


async def caller_variables(session: Any, contacts: list[Any]) -> dict[str, Any]:
    """The data dip's variables for the matched contacts: the best tier, any open complaint."""
    order = {"vip": 0, "gold": 1, "standard": 2, "low": 3}
    tiers = [str(c.tier) for c in contacts] + [str(c.account.tier) for c in contacts if c.account is not None]
    tier = min(tiers, key=lambda t: order.get(t, 9)) if tiers else ""
    ids = [c.id for c in contacts]
    complaint = await session.scalar(
        select(Complaint.id)
        .where(
            Complaint.contact_id.in_(ids),
            Complaint.status.in_([ComplaintStatus.open, ComplaintStatus.in_progress]),
        )
        .limit(1)
    )
    first = contacts[0]
    return {
        "known": True,
        "tier": tier,
        "open_complaint": complaint is not None,
        "customer_name": f"{first.first_name} {first.last_name}".strip() if len(contacts) == 1 else "",
        "contact_id": str(first.id) if len(contacts) == 1 else "",
    }


async def last_agent(session: Any, contact_id: int) -> int | None:
    """The agent who last answered this customer (an agent-only callback goes back to them)."""
    return await session.scalar(
        select(Call.agent_id)
        .where(Call.contact_id == contact_id, Call.agent_id.is_not(None))
        .order_by(Call.offered_at.desc())
        .limit(1)
    )


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() or ch == "+")[:32]
