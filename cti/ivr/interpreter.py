"""The IVR interpreter: a flow plus what the caller does → what to do next. No I/O.

`Session.start()` and `Session.feed(event)` each return a `Step`: sounds to play (`outputs`), then
either a `request` whose answer comes back as the next event (digits, the data dip, scheduling a
callback, a recording) or an `exit` that ends the IVR (queue, transfer, voicemail, hang up). The
FastAGI edge performs the I/O; tests drive a session with tables of events.

The session records the caller's path (nodes, keys pressed, results) for the call history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cti.ivr import model as m
from cti.ivr.hours import HoursStatus
from cti.ivr.input_nodes import InputNodes, luhn_ok
from cti.ivr.steps import (
    LOOKUP_DEFAULTS,
    SURVEY_OPTIN,
    CallbackDone,
    CallContext,
    CallerHangup,
    Digits,
    Event,
    Exit,
    GetDigits,
    LookupCaller,
    LookupDone,
    Output,
    Play,
    Record,
    Recorded,
    Request,
    SaveSurvey,
    SayDigits,
    SayNumber,
    ScheduleCallback,
    Step,
    SurveySaved,
)
from cti.numbers import InvalidNumber, is_withheld, parse

MAX_HOPS = 200  # node visits per session: a runaway flow exits to the fallback instead of spinning
_VAR_REF = re.compile(r"\{([a-z_][a-z0-9_]{0,49})\}")


def condition_holds(cond: m.Condition, variables: Mapping[str, Any]) -> bool:
    if cond.all is not None:
        return all(condition_holds(c, variables) for c in cond.all)
    if cond.any is not None:
        return any(condition_holds(c, variables) for c in cond.any)
    assert cond.var is not None
    value = variables.get(cond.var)
    if cond.is_set is not None:
        return (value not in (None, "", False)) == cond.is_set
    if cond.equals is not None:
        return _same(value, cond.equals)
    if cond.not_equals is not None:
        return not _same(value, cond.not_equals)
    if cond.one_of is not None:
        return any(_same(value, v) for v in cond.one_of)
    if cond.matches is not None:
        return value is not None and re.fullmatch(cond.matches, str(value)) is not None
    return False


def _same(value: Any, expected: Any) -> bool:
    # Collected digits are strings and YAML reads `equals: 42` as an int: compare like with like.
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected or (isinstance(value, bool) and value == expected)
    return value is not None and str(value) == str(expected)


def _hours_status(node: m.Hours, ctx: CallContext) -> tuple[HoursStatus, str]:
    """The stored schedule the node names, else the one written in the flow; with neither (a name not
    stored and no fallback) the line is closed, as a caller would rather hear that than wait unanswered."""
    stored = ctx.schedules.get(node.schedule_name) if node.schedule_name else None
    schedule = stored or node.schedule
    if schedule is None:
        return HoursStatus.CLOSED, f"no schedule {node.schedule_name!r}"
    return schedule.status(ctx.now)


class Session(InputNodes):
    """One caller going through one flow."""

    def __init__(self, flow: m.Flow, ctx: CallContext, start_at: str | None = None) -> None:
        self.flow = flow
        self.ctx = ctx
        self.start_at = start_at if start_at in flow.nodes else flow.start
        self.variables: dict[str, Any] = {"caller": _caller_digits(ctx.caller), "did": ctx.did}
        self.path: list[dict[str, Any]] = []
        self.exit: Exit | None = None
        self.hops = 0
        self._node: str | None = None
        self._attempt = 0
        self._phase = ""  # inside a callback node: confirm | enter | schedule
        self._pending: Request | None = None
        self._number = ""

    # --- public API --------------------------------------------------------------------------------

    def start(self) -> Step:
        return self._run(self.start_at, [])

    def feed(self, event: Event) -> Step:
        if self.exit is not None:
            raise RuntimeError("the session has ended")
        if isinstance(event, CallerHangup):
            node = self._node or self.start_at
            self._record(node, result="caller_hangup")
            return self._finish(Exit("caller_hangup", node), [])
        node_id = self._node
        if node_id is None or self._pending is None:
            raise RuntimeError("no request is waiting for an answer")
        node = self.flow.nodes[node_id]
        self._pending = None
        out: list[Output] = []
        if isinstance(node, m.Menu):
            return self._menu_input(node_id, node, event, out)
        if isinstance(node, m.Collect):
            return self._collect_input(node_id, node, event, out)
        if isinstance(node, m.Lookup):
            values = dict(LOOKUP_DEFAULTS)
            if isinstance(event, LookupDone):
                values |= {k: v for k, v in event.values.items() if k in LOOKUP_DEFAULTS}
            self.variables |= values
            self._record(
                node_id, result="known" if values["known"] else "unknown", tier=values["tier"] or None
            )
            return self._run(node.next, out)
        if isinstance(node, m.Callback):
            return self._callback_input(node_id, node, event, out)
        if isinstance(node, m.RecordComment):
            ok = isinstance(event, Recorded) and event.ok and bool(event.reference)
            if ok:
                assert isinstance(event, Recorded)
                self.variables[node.var] = event.reference
            self._record(node_id, result="recorded" if ok else "not_recorded")
            return self._run(node.next, out)
        if isinstance(node, m.SurveySave):
            saved = isinstance(event, SurveySaved) and event.ok
            self._record(node_id, result="saved" if saved else "not_saved")
            return self._run(node.next, out)
        if isinstance(node, m.Voicemail):
            ok = isinstance(event, Recorded) and event.ok
            ref = event.reference if isinstance(event, Recorded) else ""
            self._record(node_id, result="recorded" if ok else "not_recorded", recording=ref or None)
            return self._finish(Exit("voicemail", node_id, reason=ref), out)
        raise RuntimeError(f"node {node_id} does not take events")

    @property
    def current_node(self) -> str:
        return self._node or self.start_at

    # --- the walk ----------------------------------------------------------------------------------

    def _run(self, node_id: str, out: list[Output]) -> Step:
        """Follow nodes that need no answer until one waits for the caller or the IVR ends."""
        while True:
            self.hops += 1
            if self.hops > MAX_HOPS:
                return self._finish(Exit("error", node_id, reason="too many steps"), out)
            node = self.flow.nodes[node_id]
            self._node, self._attempt, self._phase = node_id, 0, ""
            match node:
                case m.Play():
                    out.append(Play(tuple(node.sounds)))
                    self._record(node_id)
                    node_id = node.next
                case m.Say():
                    text = self._expand(node.value)
                    digits = "".join(ch for ch in text if ch.isdigit())
                    if node.say == "number" and digits:
                        out.append(SayNumber(int(digits[:15])))
                    elif digits:
                        out.append(SayDigits(digits[:32]))
                    self._record(node_id)
                    node_id = node.next
                case m.SetVars():
                    self.variables |= dict(node.values)
                    self._record(node_id)
                    node_id = node.next
                case m.Branch():
                    chosen = node.default
                    for i, case in enumerate(node.cases):
                        if condition_holds(case.when, self.variables):
                            chosen = case.next
                            self._record(node_id, result=f"case {i + 1}")
                            break
                    else:
                        self._record(node_id, result="default")
                    node_id = chosen
                case m.Hours():
                    status, why = _hours_status(node, self.ctx)
                    self.variables["hours_status"] = str(status)
                    self._record(node_id, result=str(status), reason=why or None)
                    if status.is_open:
                        node_id = node.open
                    elif status is HoursStatus.HOLIDAY and node.holiday is not None:
                        node_id = node.holiday
                    else:
                        node_id = node.closed
                case m.Lookup():
                    return self._ask(LookupCaller(self.ctx.caller), out)
                case m.Menu():
                    return self._ask(GetDigits(tuple(node.prompt), 1, node.timeout_s), out)
                case m.Collect():
                    return self._ask(self._collect_request(node), out)
                case m.Callback():
                    return self._callback_start(node_id, node, out)
                case m.Voicemail():
                    out.append(Play((*node.prompt, "beep")))
                    return self._ask(Record(node.max_s), out)
                case m.RecordComment():
                    out.append(Play((*node.prompt, "beep")))
                    return self._ask(Record(node.max_s, "comment"), out)
                case m.SurveySave():
                    return self._ask(self._survey_answers(), out)
                case m.QueueNode():
                    self._record(node_id, result="queued")
                    return self._finish(
                        Exit(
                            "queue",
                            node_id,
                            queue=node.queue,
                            priority=node.priority,
                            max_wait_s=node.max_wait_s,
                            on_timeout=node.on_timeout,
                            survey=condition_holds(
                                m.Condition(var=SURVEY_OPTIN, equals=True), self.variables
                            ),
                        ),
                        out,
                    )
                case m.Transfer():
                    self._record(node_id, result="transferred")
                    return self._finish(Exit("transfer", node_id, number=node.number), out)
                case m.Hangup():
                    if node.sounds:
                        out.append(Play(tuple(node.sounds)))
                    self._record(node_id, result="hangup")
                    return self._finish(Exit("hangup", node_id), out)
                case _:  # pragma: no cover - the model's union is closed
                    raise RuntimeError(f"unknown node type {type(node).__name__}")

    def _ask(self, request: Request, out: list[Output]) -> Step:
        self._pending = request
        return Step(tuple(out), request=request)

    def _finish(self, exit_: Exit, out: list[Output]) -> Step:
        self.exit = exit_
        self._pending = None
        return Step(tuple(out), exit=exit_)

    def _record(self, node_id: str, **detail: Any) -> None:
        node = self.flow.nodes[node_id]
        entry: dict[str, Any] = {"node": node_id, "type": node.type}
        if node.label:
            entry["label"] = node.label
        entry |= {k: v for k, v in detail.items() if v is not None}
        self.path.append(entry)

    def _survey_answers(self) -> SaveSurvey:
        """The scores as the `collect` nodes left them; a value out of range (a flow whose pattern lets it
        through) is not an answer."""
        csat = _score(self.variables.get("csat"), 1, 5)
        nps = _score(self.variables.get("nps"), 0, 10)
        comment = self.variables.get("comment")
        return SaveSurvey(csat, nps, str(comment) if comment else None)

    def _expand(self, template: str) -> str:
        return _VAR_REF.sub(lambda mt: str(self.variables.get(mt.group(1), "")), template)

    def _retry_or_fail(
        self,
        node_id: str,
        retries: int,
        on_failure: str,
        request: Request,
        sounds: tuple[str, ...],
        out: list[Output],
    ) -> Step:
        self._attempt += 1
        if self._attempt >= retries:
            self._record(node_id, result="failed")
            return self._run(on_failure, out)
        if sounds:
            out.append(Play(sounds))
        self._pending = request
        return Step(tuple(out), request=request)

    def _usable_number(self, raw: str | None) -> str | None:
        if raw is None or is_withheld(raw) or not raw.strip():
            return None
        try:
            return parse(raw, self.ctx.region).e164
        except InvalidNumber:
            return None

    def _national_digits(self, e164: str) -> str:
        try:
            return "".join(ch for ch in parse(e164, self.ctx.region).national() if ch.isdigit())
        except InvalidNumber:  # pragma: no cover - e164 came out of parse()
            return e164.lstrip("+")


def _score(value: Any, low: int, high: int) -> int | None:
    text = str(value) if value is not None else ""
    if not text.isdigit() or len(text) > 2:
        return None
    n = int(text)
    return n if low <= n <= high else None


def _caller_digits(raw: str | None) -> str:
    """The caller ID reduced to what a flow may say or test: digits and a leading +, at most 20."""
    if not raw:
        return ""
    kept = "".join(ch for ch in raw if ch.isdigit() or ch == "+")[:20]
    return kept


def run_script(
    flow: m.Flow, ctx: CallContext, events: list[Event], start_at: str | None = None
) -> list[Step]:
    """Run a session on a list of events; stops at the exit (a convenience for tests and tools)."""
    session = Session(flow, ctx, start_at)
    steps = [session.start()]
    for event in events:
        if steps[-1].exit is not None:
            break
        steps.append(session.feed(event))
    return steps


# the edge, the simulator and the tests use the whole protocol as `interpreter.<name>`
__all__ = [
    "LOOKUP_DEFAULTS",
    "MAX_HOPS",
    "SURVEY_OPTIN",
    "CallContext",
    "CallbackDone",
    "CallerHangup",
    "Digits",
    "Event",
    "Exit",
    "GetDigits",
    "LookupCaller",
    "LookupDone",
    "Output",
    "Play",
    "Record",
    "Recorded",
    "Request",
    "SaveSurvey",
    "SayDigits",
    "SayNumber",
    "ScheduleCallback",
    "Session",
    "Step",
    "SurveySaved",
    "condition_holds",
    "luhn_ok",
    "run_script",
]
