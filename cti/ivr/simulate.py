"""Dry-run a flow without a phone: `plateau ivr try FLOW --keys 2,12345674# --at 2026-11-23T10:00`.

Each digits request takes the next entry of `keys` (a timeout when none is left), the data dip answers
with the given tier (unknown caller without one), callbacks and recordings succeed. Pure: no Asterisk,
no database; what it prints is what the interpreter would ask Asterisk to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cti.ivr import interpreter as it
from cti.ivr.history import describe, exit_detail
from cti.ivr.model import Flow


def simulate(
    flow: Flow,
    *,
    at: datetime,
    keys: Sequence[str] = (),
    caller: str | None = None,
    tier: str | None = None,
    open_complaint: bool = False,
    region: str = "FR",
) -> list[str]:
    lines: list[str] = []
    pending = list(keys)
    session = it.Session(flow, it.CallContext(caller, flow.dids[0] if flow.dids else "", at, region))
    step = session.start()
    while True:
        for out in step.outputs:
            if isinstance(out, it.Play):
                lines.append(f"play {' '.join(out.sounds)}")
            elif isinstance(out, it.SayDigits):
                lines.append(f"say digits {out.digits}")
            else:
                lines.append(f"say number {out.number}")
        if step.exit is not None:
            detail = exit_detail(step.exit)
            lines.append("exit " + " ".join(f"{k}={v}" for k, v in detail.items()))
            lines.append(f"summary: {describe(session.path, detail, flow.language)}")
            return lines
        request = step.request
        event: it.Event
        if isinstance(request, it.GetDigits):
            typed = pending.pop(0) if pending else ""
            lines.append(f"prompt {' '.join(request.prompt)} → {typed or '(timeout)'}")
            event = it.Digits(typed)
        elif isinstance(request, it.LookupCaller):
            known = tier is not None
            values = {"known": known, "tier": tier or "", "open_complaint": open_complaint}
            lines.append(f"lookup {caller or '(no caller ID)'} → {'tier ' + tier if tier else 'unknown'}")
            event = it.LookupDone(values)
        elif isinstance(request, it.ScheduleCallback):
            lines.append(f"schedule callback {request.number_e164} queue={request.queue} mode={request.mode}")
            event = it.CallbackDone(True, "simulated")
        else:
            assert isinstance(request, it.Record)
            lines.append(f"record up to {request.max_s} s")
            event = it.Recorded(True, "simulated.wav")
        step = session.feed(event)
