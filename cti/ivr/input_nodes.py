"""The nodes that wait for the caller: menu, collect and callback, each fed the digits or results the
edge sends back.
"""

from __future__ import annotations

import re

from cti.ivr import model as m
from cti.ivr.steps import (
    CallbackDone,
    Digits,
    Event,
    GetDigits,
    Output,
    Play,
    Request,
    SayDigits,
    ScheduleCallback,
    Step,
)


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class InputNodes:
    """Menu, collect and callback nodes: their requests and what the answers lead to."""

    # --- menu and collect --------------------------------------------------------------------------

    def _menu_input(self, node_id: str, node: m.Menu, event: Event, out: list[Output]) -> Step:
        key = event.value[:1] if isinstance(event, Digits) else ""
        if key and key in node.choices:
            choice = node.choices[key]
            self._record(node_id, digits=key, choice=key, choice_label=choice.label or None)
            return self._run(choice.next, out)
        self._record(node_id, digits=key or None, result="invalid" if key else "timeout")
        sound = node.invalid_sound if key else node.timeout_sound
        request = GetDigits(tuple(node.prompt), 1, node.timeout_s)
        return self._retry_or_fail(
            node_id, node.retries, node.on_failure, request, (sound,) if sound else (), out
        )

    def _collect_request(self, node: m.Collect) -> GetDigits:
        return GetDigits(tuple(node.prompt), node.max_digits, node.timeout_s, node.terminator)

    def _collect_input(self, node_id: str, node: m.Collect, event: Event, out: list[Output]) -> Step:
        raw = event.value if isinstance(event, Digits) else ""
        value = raw.rstrip(node.terminator) if node.terminator else raw
        ok = (
            value.isdigit()
            and node.min_digits <= len(value) <= node.max_digits
            and (node.pattern is None or re.fullmatch(node.pattern, value) is not None)
            and (not node.luhn or luhn_ok(value))
        )
        # A sensitive value (card, PIN) is kept in variables for the flow but never in the history.
        shown = ("*" * len(value) if node.sensitive else value) or None
        if ok:
            self.variables[node.var] = value
            self._record(node_id, digits=shown, result="ok", var=node.var, sensitive=node.sensitive or None)
            return self._run(node.next, out)
        self._record(
            node_id, digits=shown, result="invalid" if value else "timeout", sensitive=node.sensitive or None
        )
        return self._retry_or_fail(
            node_id, node.retries, node.on_failure, self._collect_request(node), (node.invalid_sound,), out
        )

    # --- callback ----------------------------------------------------------------------------------

    def _callback_start(self, node_id: str, node: m.Callback, out: list[Output]) -> Step:
        caller = self._usable_number(self.ctx.caller)
        if caller is None:
            self._phase = "enter"
            return self._ask(self._enter_request(node), out)
        self._phase, self._number = "confirm", caller
        out += [Play(tuple(node.confirm_prompt)), SayDigits(self._national_digits(caller))]
        return self._ask(GetDigits(tuple(node.confirm_keys_prompt), 1, node.timeout_s), out)

    def _enter_request(self, node: m.Callback) -> GetDigits:
        return GetDigits(tuple(node.enter_prompt), 15, node.timeout_s, "#")

    def _callback_input(self, node_id: str, node: m.Callback, event: Event, out: list[Output]) -> Step:
        if self._phase == "schedule":
            ok = isinstance(event, CallbackDone) and event.ok
            ref = event.reference if isinstance(event, CallbackDone) else ""
            self._record(
                node_id,
                result="scheduled" if ok else "not_scheduled",
                number=self._number,
                callback=ref or None,
            )
            self.variables["callback_number"] = self._number
            return self._run(node.next if ok else node.on_failure, out)
        value = event.value if isinstance(event, Digits) else ""
        if self._phase == "confirm":
            if value[:1] == "1":
                self._record(node_id, digits="1", result="confirmed")
                return self._schedule(node, out)
            if value[:1] == "2":
                self._record(node_id, digits="2", result="other_number")
                self._phase, self._attempt = "enter", 0
                return self._ask(self._enter_request(node), out)
            request: Request = GetDigits(tuple(node.confirm_keys_prompt), 1, node.timeout_s)
        else:
            number = self._usable_number(value.rstrip("#"))
            if number is not None:
                self._number = number
                self._record(node_id, digits=value.rstrip("#"), result="number_entered")
                return self._schedule(node, out)
            request = self._enter_request(node)
        self._record(node_id, digits=value or None, result="invalid" if value else "timeout")
        return self._retry_or_fail(
            node_id, node.retries, node.on_failure, request, (node.invalid_sound,), out
        )

    def _schedule(self, node: m.Callback, out: list[Output]) -> Step:
        self._phase = "schedule"
        return self._ask(ScheduleCallback(self._number, node.queue, node.mode), out)
