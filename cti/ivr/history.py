"""IVR history: write each pass of a call through a flow, read it back for the pop, the call history
and the reports.

`ivr_summary(session, linkedid)` is what the screen-pop and the call-history writer call: the path of
every pass, the keys pressed, the time spent, the exit, and one human line ("a choisi 2 — facturation").
`ivr_exit_report` says where callers leave the IVR (per flow, node and kind of exit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.ivr_tables import IvrSession
from core.models import utcnow
from cti.ivr.interpreter import Exit

_TEXT = {
    "fr": {
        "chose": "a choisi {key} — {label}",
        "chose_bare": "a choisi {key}",
        "no_choice": "aucun choix valide",
        "entered": "a saisi {what}",
        "closed": "appel hors horaires",
        "holiday": "jour férié{why}",
        "exception_closed": "fermeture exceptionnelle{why}",
        "known": "client reconnu{tier}",
        "queue": "→ file {queue}",
        "priority": " (prioritaire)",
        "transfer": "→ transféré au {number}",
        "voicemail": "a laissé un message",
        "callback": "rappel demandé au {number}",
        "hangup": "fin par le SVI",
        "caller_hangup": "a raccroché dans le SVI ({where})",
        "error": "incident SVI, file de secours",
        "join": " ; ",
    },
    "en": {
        "chose": "chose {key} — {label}",
        "chose_bare": "chose {key}",
        "no_choice": "no valid choice",
        "entered": "entered {what}",
        "closed": "called out of hours",
        "holiday": "public holiday{why}",
        "exception_closed": "exceptional closure{why}",
        "known": "known customer{tier}",
        "queue": "→ queue {queue}",
        "priority": " (priority)",
        "transfer": "→ transferred to {number}",
        "voicemail": "left a message",
        "callback": "callback requested on {number}",
        "hangup": "ended by the IVR",
        "caller_hangup": "hung up in the IVR ({where})",
        "error": "IVR failure, fallback queue",
        "join": "; ",
    },
}


def describe(path: Sequence[dict[str, Any]], exit_: dict[str, Any] | None, language: str = "fr") -> str:
    """One line for a person: the choices made, then how the caller left. Pure."""
    t = _TEXT.get(language, _TEXT["fr"])
    parts: list[str] = []
    for p in path:
        kind, result = p.get("type"), p.get("result")
        if kind == "menu" and "choice" in p:
            label = p.get("choice_label")
            parts.append(
                t["chose"].format(key=p["choice"], label=label)
                if label
                else t["chose_bare"].format(key=p["choice"])
            )
        elif kind == "menu" and result == "failed":
            parts.append(t["no_choice"])
        elif kind == "collect" and result == "ok":
            parts.append(t["entered"].format(what=p.get("label") or p.get("var") or "?"))
        elif kind == "hours" and result in ("closed", "holiday", "exception_closed"):
            why = f" ({p['reason']})" if p.get("reason") else ""
            parts.append(t[result].format(why=why))
        elif kind == "lookup" and result == "known":
            parts.append(t["known"].format(tier=f" {p['tier'].upper()}" if p.get("tier") else ""))
        elif kind == "callback" and result == "scheduled":
            parts.append(t["callback"].format(number=p.get("number", "")))
    if exit_:
        kind = exit_.get("kind")
        if kind == "queue":
            parts.append(
                t["queue"].format(queue=exit_.get("queue")) + (t["priority"] if exit_.get("priority") else "")
            )
        elif kind == "transfer":
            parts.append(t["transfer"].format(number=exit_.get("number")))
        elif kind == "voicemail":
            parts.append(t["voicemail"])
        elif kind == "caller_hangup":
            where = next(
                (p.get("label") or p["node"] for p in reversed(path) if p.get("node") == exit_.get("node")),
                exit_.get("node"),
            )
            parts.append(t["caller_hangup"].format(where=where))
        elif kind == "error":
            parts.append(t["error"])
    return t["join"].join(parts)


def exit_detail(exit_: Exit) -> dict[str, Any]:
    detail: dict[str, Any] = {"kind": exit_.kind, "node": exit_.node}
    for key in ("queue", "number", "on_timeout"):
        if getattr(exit_, key):
            detail[key] = getattr(exit_, key)
    if exit_.kind == "queue":
        detail |= {"priority": exit_.priority, "max_wait_s": exit_.max_wait_s}
    if exit_.reason:
        detail["reason"] = exit_.reason
    return detail


def keys_pressed(path: Sequence[dict[str, Any]]) -> str:
    return "".join(str(p["digits"]) for p in path if p.get("digits") and not p.get("sensitive"))[:200]


async def record_start(
    session: AsyncSession, *, linkedid: str, uniqueid: str, flow: str, did: str, caller: str | None
) -> int:
    row = IvrSession(
        linkedid=linkedid[:64],
        uniqueid=uniqueid[:64],
        flow=flow,
        did=did[:32],
        caller=(caller or None) and caller[:32],
        started_at=utcnow(),
        path=[],
        digits="",
    )
    session.add(row)
    await session.commit()
    return row.id


async def record_end(
    session: AsyncSession,
    row_id: int,
    *,
    path: list[dict[str, Any]],
    exit_: Exit,
    ended_at: datetime | None = None,
) -> None:
    row = await session.get(IvrSession, row_id)
    if row is None:
        return
    ended = ended_at or utcnow()
    row.ended_at = ended
    row.duration_s = round(max(0.0, (ended - row.started_at).total_seconds()), 3)
    row.path = list(path)
    row.digits = keys_pressed(path)
    row.exit_kind = exit_.kind
    row.exit_node = exit_.node
    row.exit_detail = exit_detail(exit_)
    await session.commit()


async def ivr_summary(session: AsyncSession, linkedid: str, language: str = "fr") -> dict[str, Any] | None:
    """The IVR part of a call for the pop and the call history; None when the call did not go through it."""
    rows = (
        await session.scalars(
            select(IvrSession)
            .where(IvrSession.linkedid == linkedid)
            .order_by(IvrSession.started_at, IvrSession.id)
        )
    ).all()
    if not rows:
        return None
    path: list[dict[str, Any]] = []
    for r in rows:
        path.extend({"flow": r.flow, **p} for p in (r.path or []))
    last = rows[-1]
    choices = [
        {"key": p["choice"], "label": p.get("choice_label", "")}
        for p in path
        if p.get("type") == "menu" and "choice" in p
    ]
    return {
        "linkedid": linkedid,
        "flow": rows[0].flow,
        "flows": list(dict.fromkeys(r.flow for r in rows)),
        "started_at": rows[0].started_at.isoformat(),
        "ended_at": last.ended_at.isoformat() if last.ended_at else None,
        "duration_s": round(sum(r.duration_s or 0.0 for r in rows), 3),
        "digits": "".join(r.digits for r in rows),
        "choices": choices,
        "path": path,
        "exit": last.exit_detail,
        "in_ivr": last.exit_kind is None,
        "summary": describe(path, last.exit_detail, language),
    }


async def ivr_exit_report(
    session: AsyncSession, *, since: datetime, until: datetime, flow: str | None = None
) -> list[dict[str, Any]]:
    """Where callers leave the IVR: per flow, exit node and exit kind, the number of passes and the mean
    time spent, busiest first. Passes still in progress (or cut by a crash) count under kind None."""
    stmt = (
        select(
            IvrSession.flow,
            IvrSession.exit_node,
            IvrSession.exit_kind,
            func.count(),
            func.avg(IvrSession.duration_s),
        )
        .where(IvrSession.started_at >= since, IvrSession.started_at < until)
        .group_by(IvrSession.flow, IvrSession.exit_node, IvrSession.exit_kind)
    )
    if flow is not None:
        stmt = stmt.where(IvrSession.flow == flow)
    rows = (await session.execute(stmt)).all()
    totals: dict[str, int] = {}
    for r in rows:
        totals[r[0]] = totals.get(r[0], 0) + int(r[3])
    out = [
        {
            "flow": r[0],
            "exit_node": r[1],
            "exit_kind": r[2],
            "count": int(r[3]),
            "share": round(int(r[3]) / totals[r[0]], 4),
            "avg_duration_s": round(float(r[4]), 1) if r[4] is not None else None,
        }
        for r in rows
    ]
    out.sort(key=lambda x: (x["flow"], -x["count"], x["exit_node"] or ""))
    return out


async def ivr_choice_report(
    session: AsyncSession, *, since: datetime, until: datetime, flow: str | None = None, limit: int = 100_000
) -> list[dict[str, Any]]:
    """Per-key selections of every menu (the wallboard's IVR tile): flow, menu node, key, label, count.
    Reads at most `limit` passes of the period, newest first (a report, not an export)."""
    stmt = (
        select(IvrSession.flow, IvrSession.path)
        .where(IvrSession.started_at >= since, IvrSession.started_at < until)
        .order_by(IvrSession.started_at.desc())
        .limit(limit)
    )
    if flow is not None:
        stmt = stmt.where(IvrSession.flow == flow)
    counts: dict[tuple[str, str, str], list[Any]] = {}
    for row_flow, path in (await session.execute(stmt)).all():
        for p in path or []:
            if p.get("type") == "menu" and "choice" in p:
                key = (row_flow, str(p.get("node")), str(p["choice"]))
                counts.setdefault(key, [p.get("choice_label", ""), 0])[1] += 1
    return [
        {"flow": f, "node": n, "key": k, "label": label, "count": c}
        for (f, n, k), (label, c) in sorted(
            counts.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[1][1], kv[0][2])
        )
    ]
