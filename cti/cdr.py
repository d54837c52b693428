"""Asterisk's own call records, for the calls that began and ended while Plateau was down.

The private Asterisk writes one line per CDR (`asterisk-conf/cdr_custom.conf`, `CDR_FIELDS` in that order)
to `log/cdr-custom/plateau.csv` of its runtime folder. On (re)connect Plateau reads the file's tail since the
last call it wrote (`read_tail`, bounded by `MAX_TAIL_BYTES`) and turns the records of each inbound call
into one `CallRecord` (`calls_from_lines`); the history writer's ON CONFLICT DO NOTHING by Linkedid keeps
each call written once. The fields a caller chooses (number, name) and the dialplan's are base64 in the
file, so a comma, quote, CR or LF in a caller ID cannot break or forge a line; a line that does not parse
is skipped and counted.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cti.events import CallerId, CallRecord, Direction, endpoint_of

CDR_FILE_NAME = "plateau.csv"
CDR_FIELDS = (
    "linkedid",
    "uniqueid",
    "start",
    "answer",
    "end",
    "disposition",
    "channel",
    "agent",  # the channel of the agent who answered (the queue's member Gosub), and when
    "agent_answered",
    "src",  # base64 from here on
    "clid",
    "did",
    "queue",
)
_PLAIN = CDR_FIELDS.index("src")
MAX_TAIL_BYTES = 32 * 1024 * 1024  # about 150,000 records: hours of a busy centre
MARGIN_S = 60.0  # records ending this long before the last call written are read again (written once)
SETTLE_S = 1.0  # after a snapshot, before reading: Asterisk writes a call's record as its channels go


@dataclass(frozen=True, slots=True)
class CdrLine:
    linkedid: str
    uniqueid: str
    start: float
    answer: float | None
    end: float
    disposition: str
    channel: str
    agent: str
    agent_answered: float | None
    src: str
    clid: str
    did: str
    queue: str


def _b64(value: str) -> str:
    return base64.b64decode(value, validate=True).decode("utf-8", errors="replace")


def _time(value: str) -> float | None:
    t = float(value) if value else 0.0
    if t != t or t < 0 or t > 1e11:  # NaN, negative, far future: not a CDR time
        raise ValueError(value)
    return t or None


def parse_line(line: str) -> CdrLine | None:
    """One line of the file → its record, or None when it is not one (cut short, garbled, forged)."""
    parts = line.rstrip("\r\n").split(",")
    if len(parts) != len(CDR_FIELDS):
        return None
    try:
        plain = [p.strip() for p in parts[:_PLAIN]]
        coded = [_b64(p.strip()) for p in parts[_PLAIN:]]
        start, answer, end = _time(plain[2]), _time(plain[3]), _time(plain[4])
        agent_answered = _time(plain[8])
    except (ValueError, binascii.Error):
        return None
    linkedid, uniqueid = plain[0], plain[1]
    if not linkedid or not uniqueid or start is None or end is None or not plain[6]:
        return None
    agent = plain[7] if agent_answered is not None else ""
    return CdrLine(linkedid, uniqueid, start, answer, end, plain[5], plain[6], agent, agent_answered, *coded)


def caller_of(src: str, clid: str) -> CallerId:
    """CDR(clid) is `"name" <number>`: the name is what comes before ` <number>`, unquoted. The same rules
    as the AMI's caller ID (a number kept only if it looks like one, controls blanked, withheld)."""
    name = clid
    if src and clid.endswith(f"<{src}>"):
        name = clid[: -len(src) - 2].strip()
    elif clid.endswith(">") and "<" in clid:
        name = clid[: clid.rindex("<")].strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return CallerId.from_ami(src, name.replace("\\", "\\\\"))  # from_ami undoes C escapes; CDRs have none


def calls_from_lines(lines: Iterable[CdrLine], since: float, until: float) -> list[CallRecord]:
    """The inbound calls (the dialplan set their DID) whose last record ended between `since` and `until`,
    one per Linkedid, ordered by their start. Answered when the queue's member Gosub marked an agent's answer
    (the first is the agent); otherwise `unobserved`: the record cannot tell a caller who gave up from a
    queue timeout, nor a direct DID's ring (Dial, unmarked) from an answer."""
    by_call: dict[str, list[CdrLine]] = {}
    for line in lines:
        by_call.setdefault(line.linkedid, []).append(line)
    out = []
    for linkedid, group in by_call.items():
        did = next((g.did for g in group if g.did), "")
        if not did or not since <= max(g.end for g in group) <= until:
            continue
        trunk = next(g.channel for g in group if g.did)
        legs = [g for g in group if g.channel == trunk]
        offered, ended = min(g.start for g in legs), max(g.end for g in legs)
        answered = [g for g in legs if g.agent]
        first = min(answered, key=lambda g: g.agent_answered or 0.0) if answered else None
        queue = next((g.queue for g in legs if g.queue), None)
        answered_at = first.agent_answered if first else None
        caller = caller_of(legs[0].src, legs[0].clid)
        out.append(
            CallRecord(
                linkedid=linkedid,
                direction=Direction.inbound,
                caller=caller,
                called_number=did[:64],
                queue=queue[:64] if queue else None,
                agent=endpoint_of(first.agent) if first else None,
                offered_at=offered,
                answered_at=answered_at,
                ended_at=ended,
                wait_s=round(answered_at - offered, 3) if answered_at is not None and queue else None,
                talk_s=round(max(0.0, ended - answered_at), 3) if answered_at is not None else None,
                hold_s=0.0,
                outcome="answered" if first else "unobserved",
                hangup_cause=None,
            )
        )
    return sorted(out, key=lambda r: r.offered_at)


def read_from(last_written: float | None, noted: Iterable[float]) -> float | None:
    """Where a server's records are read from after a gap: the end of its last call written, or the start of
    the earliest of its calls noted in progress when earlier (they ended after they began). None when there
    is neither: nothing of that server was ever followed, no gap to fill."""
    starts = [*noted, *([last_written] if last_written is not None else [])]
    return min(starts) if starts else None


def read_tail(path: Path, max_bytes: int = MAX_TAIL_BYTES) -> tuple[list[CdrLine], int]:
    """The records of the file's last `max_bytes` (the first, partial line dropped), and how many lines did
    not parse. A missing file has none."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return [], 0
    with os.fdopen(fd, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - max_bytes))
        data = f.read(max_bytes)
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if size > max_bytes:
        lines = lines[1:]  # cut in the middle
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # a line still being written
    records = [parse_line(line) for line in lines]
    return [r for r in records if r is not None], sum(1 for r in records if r is None)
