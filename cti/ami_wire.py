"""AMI bytes → validated messages. Pure: no sockets, no panoramisk, so it is fast and tested on transcripts.

Why not panoramisk's parser: it decodes each TCP chunk on its own (a UTF-8 character split across two reads
is lost), and it trusts every block. A SIP caller can put CR/LF into CallerIDNum, which Asterisk writes
unescaped, and so forge whole events (reference/asterisk-ami.md §0.1). Here every event must:

- start with `Event`, `Privilege` (and `Timestamp` when the PBX stamps events), each exactly once;
- repeat no header, except the few Asterisk really repeats (`ChanVariable`…);
- carry each channel snapshot complete and in Asterisk's order (`Channel` … `Linkedid`).

A caller ID holding CR or LF (any of them, alone or paired, at the start, middle or end of the value) shows
in two ways. Without a blank line, the event carries lines that are not Asterisk's right after a caller-ID
field (CallerIDNum … ConnectedLineName): walking the snapshot in Asterisk's order, every line up to the
snapshot's next field is the rest of that value, so those lines are dropped (counted as `injected_lines`)
and the field reads `POISONED`. With a blank line, the snapshot is cut short: the blocks that follow are
the attacker's, up to the one that carries the rest of the genuine snapshot; they are dropped and counted
(`injected`) and the genuine event is stitched back together from its head and its tail, the poisoned
field again reading `POISONED`. Either way the call itself is still tracked, as a caller with no usable
number. The common case pays for none of this: only a block that fails the checks, or whose line breaks
are not all CR LF, is walked.
These are strong heuristics, not proof: an SBC that refuses `%`-escapes in From is the real cure.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass, field

# Originate's variable for a ring the user asked for (click-to-call, preview dial, supervision): phones that
# honour the header (the desk's browser phone, many desk phones) answer at once. The dialplan's
# [plateau-phone-headers] adds the same header to the calls the dialer connects.
AUTO_ANSWER = {"PJSIP_HEADER(add,Call-Info)": "<sip:plateau>;answer-after=0"}


class AmiError(RuntimeError):
    """An action failed: refused by Asterisk, timed out, or lost with the connection."""


class AmiUnavailable(AmiError):
    """Not connected (or not logged in) to the PBX."""


EOL = "\r\n"
SNAPSHOT = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)
REPEATABLE = frozenset({"ChanVariable", "DestChanVariable", "Output", "Variable"})
# Events that carry caller-ID fields without a channel snapshot (we produce their values ourselves).
NO_SNAPSHOT = frozenset({"OriginateResponse"})
# Sent by the manager session itself on login, without a Timestamp even when timestampevents=yes.
NO_TIMESTAMP = frozenset({"FullyBooted"})
_LINE = re.compile(r"^([^:\r\n]+):(?: |(?=[\r\n]|$))([^\r\n]*)", re.M)
# Snapshot checks run on the keys joined by NUL (a few hundred bytes), not on the whole block.
_SNAP_START = re.compile(r"(?:^|\0)(\w*)Channel\0\1ChannelState(?=\0|$)")
_JOINED: dict[str, str] = {}
_SHAPES: dict[str, bool] = {}
_BREAK = re.compile(r"\r\n|\r|\n")
# Where a caller's CR/LF lands: CallerIDNum … ConnectedLineName (indexes in SNAPSHOT). Asterisk escapes the
# names (`\r`), not the numbers; both are watched.
_CALLER_ID = frozenset(range(SNAPSHOT.index("CallerIDNum"), SNAPSHOT.index("ConnectedLineName") + 1))
_MENDABLE = frozenset({"duplicate_header", "bad_snapshot"})
_EXPECTED: dict[str, list[str]] = {}
MAX_BLOCK = 64 * 1024  # a block this large is garbage, not AMI: drop it rather than grow without bound
POISONED = "<injected>"  # what a field that carried an injection reads as once the event is stitched


@dataclass(slots=True)
class AmiEvent:
    """One validated AMI event. `ts` is Asterisk's Timestamp (epoch seconds), else the receipt time."""

    name: str
    headers: dict[str, str]
    ts: float = 0.0

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)


@dataclass(slots=True)
class AmiResponse:
    """A `Response:` block, or a list item carrying an ActionID: handed to whoever sent the action."""

    headers: dict[str, str | list[str]]


@dataclass
class AmiReader:
    """Incremental reader: `feed(bytes)` returns the complete messages, in order."""

    require_timestamp: bool = True
    dropped: Counter[str] = field(default_factory=Counter)
    events: int = 0
    banner: str | None = None
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace")
    )
    _buf: str = ""
    _taint: tuple[list[tuple[str, str]], tuple[str, ...]] | None = None  # (genuine head, expected tail keys)

    def reset(self) -> None:
        """A new connection: forget any partial block and any injection in progress."""
        self._decoder.reset()
        self._buf = ""
        self._taint = None
        self.banner = None

    def feed(self, data: bytes) -> list[AmiEvent | AmiResponse]:
        text = self._buf + self._decoder.decode(data)
        if self.banner is None and text.startswith("Asterisk Call Manager/"):
            line, sep, rest = text.partition(EOL)
            if not sep:
                self._buf = text
                return []
            self.banner, text = line, rest
        blocks = text.split(EOL + EOL)
        self._buf = blocks.pop()
        if len(self._buf) > MAX_BLOCK:
            self.dropped["oversized"] += 1
            self._buf = ""
        out: list[AmiEvent | AmiResponse] = []
        for block in blocks:
            msg = self._parse(block)
            if msg is not None:
                out.append(msg)
        return out

    def _parse(self, block: str) -> AmiEvent | AmiResponse | None:
        # One regex pass in C: `Key: value` lines (and `Key:` with nothing after); others are skipped.
        pairs: list[tuple[str, str]] = _LINE.findall(block)
        if not pairs:
            return None
        # every break a CR LF and every line a header? (one-character counts: the cheapest test there is)
        lf = block.count("\n")
        odd = lf + 1 != len(pairs) or block.count("\r") != lf
        if self._taint is not None:
            return self._stitch(_lines(block) if odd else pairs)
        headers = dict(pairs)
        if len(headers) == len(pairs):
            keys, dup = list(headers), False  # insertion order is block order when nothing repeats
        else:
            keys, dup = [k for k, _ in pairs], _bad_duplicates(pairs, headers)
        if keys[0] == "Response" or (
            keys[0] == "Event" and "ActionID" in headers and "Privilege" not in headers
        ):
            return AmiResponse(_multi(pairs) if dup else headers)
        if keys[0] != "Event":
            self.dropped["no_event_header"] += 1
            return None
        if odd:  # a lone CR or LF, or a line that is no header: a caller ID may have carried it
            return self._mend(_lines(block), pairs)
        found = self._check(keys, headers, dup)
        if isinstance(found, AmiEvent):
            self.events += 1
            return found
        if found in _MENDABLE:
            return self._mend(pairs, pairs)
        self.dropped[found] += 1
        return None

    def _mend(self, items: list[tuple[str | None, str]], pairs: list[tuple[str, str]]) -> AmiEvent | None:
        """An event whose snapshot holds lines that are not Asterisk's: a caller ID carried CR or LF.

        The lines after a caller-ID field, up to the next field of that snapshot, are the rest of its value:
        they are dropped and the field reads `POISONED`. A block that ends inside a snapshot was cut by a
        blank line in the value: its head waits for the tail (see `_stitch`). What cannot be mended this
        way is judged as read (`pairs`), and dropped if it is not a valid event."""
        mended = _mend_snapshots(items)
        if mended is None or (not mended[1] and mended[2] is None):
            return self._accept(pairs)
        fixed, lines, tail = mended
        if lines:
            self.dropped["injected_lines"] += lines
        if tail is not None:
            fixed[-1] = (fixed[-1][0], POISONED)
            self._taint = (fixed, tail)
            self.dropped["injected"] += 1
            return None
        return self._accept(fixed)

    def _stitch(self, items: list[tuple[str | None, str]]) -> AmiEvent | None:
        """The block after a cut one: the attacker's lines, then the genuine rest of the cut event."""
        assert self._taint is not None
        head, tail = self._taint
        keys = [k for k, _ in items]
        start = _find_tail(keys, tail)
        if start is None:
            self.dropped["injected"] += 1
            return None
        self._taint = None
        if start > 0:
            self.dropped["injected"] += 1  # the forged event the tail was glued to
        merged: list[tuple[str | None, str]] = [*head, *items[start:]]
        plain = [(k, v) for k, v in merged if k is not None]
        event = self._mend(merged, plain)
        if self._taint is not None:  # the same caller ID cut the next snapshot too
            self.dropped["injected"] -= 1
        return event

    def _accept(self, pairs: list[tuple[str, str]]) -> AmiEvent | None:
        headers = dict(pairs)
        found = self._check([k for k, _ in pairs], headers, _bad_duplicates(pairs, headers))
        if isinstance(found, str):
            self.dropped[found] += 1
            return None
        self.events += 1
        return found

    def _check(self, keys: list[str], headers: dict[str, str], dup: bool) -> AmiEvent | str:
        """The event, or why it is refused."""
        name = headers["Event"]
        if dup:
            return "duplicate_header"
        if len(keys) < 2 or keys[1] != "Privilege":
            return "no_privilege"
        ts = 0.0
        if self.require_timestamp and name not in NO_TIMESTAMP:
            if len(keys) < 3 or keys[2] != "Timestamp":
                return "no_timestamp"
            try:
                ts = float(headers["Timestamp"])
            except ValueError:
                return "bad_timestamp"
        if name not in NO_SNAPSHOT and not _snapshots_whole(keys):
            return "bad_snapshot"
        return AmiEvent(name, headers, ts)


def _bad_duplicates(pairs: list[tuple[str, str]], headers: dict[str, str]) -> bool:
    if len(headers) == len(pairs):
        return False
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen and key not in REPEATABLE:
            return True
        seen.add(key)
    return False


def _multi(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def _expected(prefix: str) -> list[str]:
    found = _EXPECTED.get(prefix)
    if found is None:
        found = _EXPECTED[prefix] = [prefix + k for k in SNAPSHOT]
    return found


def _snapshots_whole(keys: list[str]) -> bool:
    """Every snapshot started in the block runs complete and in order. The answer depends on the keys
    alone, and Asterisk sends a few dozen shapes, so it is remembered per shape (bounded)."""
    sig = "\0".join(keys)
    known = _SHAPES.get(sig)
    if known is None:
        if len(_SHAPES) > 4096:
            _SHAPES.clear()
        known = _SHAPES[sig] = _check_shape(sig)
    return known


def _check_shape(sig: str) -> bool:
    starts = 0
    for m in _SNAP_START.finditer(sig):
        prefix, at = m.group(1), m.start(1)
        whole = _joined(prefix)
        end = at + len(whole)
        if not sig.startswith(whole, at) or (end < len(sig) and sig[end] != "\0"):
            return False
        starts += 1
    # and no snapshot ends without its start: the genuine tail of a cut event glued to a forged head
    return sig.count("Linkedid\0") + sig.endswith("Linkedid") == starts


def _joined(prefix: str) -> str:
    found = _JOINED.get(prefix)
    if found is None:
        found = _JOINED[prefix] = "\0".join(_expected(prefix))
    return found


def _lines(block: str) -> list[tuple[str | None, str]]:
    """Every line, broken at CR LF, a lone CR or a lone LF; `(None, text)` for a line that is no header."""
    out: list[tuple[str | None, str]] = []
    for line in _BREAK.split(block):
        m = _LINE.match(line)
        out.append((m.group(1), m.group(2)) if m else (None, line))
    return out


def _mend_snapshots(
    items: list[tuple[str | None, str]],
) -> tuple[list[tuple[str, str]], int, tuple[str, ...] | None] | None:
    """Walk the block's snapshots in Asterisk's order. After a caller-ID field, every line up to the
    snapshot's next field is the rest of the value: drop it and poison the field. Returns the lines kept,
    how many were dropped, and the fields still expected if the block ends inside a snapshot (it was cut);
    None if a snapshot is out of order for another reason (then nothing here can vouch for it).

    Forged lines may copy the snapshot's own next fields: then the genuine ones come later and repeat
    them, and the event fails the duplicate check; it is never read with the forged values."""
    out: list[tuple[str, str]] = []
    dropped, i, n = 0, 0, len(items)
    while i < n:
        key, value = items[i]
        if key is None:
            i += 1
            continue
        if not (key.endswith("Channel") and i + 1 < n and items[i + 1][0] == key + "State"):
            out.append((key, value))
            i += 1
            continue
        expected = _expected(key[:-7])
        for j, want in enumerate(expected):
            if i == n:
                return out, dropped, tuple(expected[j:])
            key, value = items[i]
            if key != want:
                return None
            i += 1
            if j in _CALLER_ID:
                nxt, start = expected[j + 1], i
                while i < n and items[i][0] != nxt:
                    i += 1
                if i == n and _holds(items, start, expected[j + 2 :]):
                    return None  # the snapshot runs on to its end without `nxt`: a hole, not a cut
                if i > start:
                    value, dropped = POISONED, dropped + i - start
            out.append((want, value))
    return out, dropped, None


def _holds(items: list[tuple[str | None, str]], start: int, run: list[str]) -> bool:
    keys = [k for k, _ in items[start:]]
    return any(keys[i : i + len(run)] == run for i in range(len(keys) - len(run) + 1))


def _find_tail(keys: list[str | None], tail: tuple[str, ...]) -> int | None:
    n = len(tail)
    for i in range(len(keys) - n, -1, -1):  # the genuine tail is the last occurrence
        if tuple(keys[i : i + n]) == tail:
            return i
    return None
