"""AMI bytes → validated messages. Pure: no sockets, no panoramisk, so it is fast and tested on transcripts.

Why not panoramisk's parser: it decodes each TCP chunk on its own (a UTF-8 character split across two reads
is lost), and it trusts every block. A SIP caller can put CR/LF into CallerIDNum, which Asterisk writes
unescaped, and so forge whole events (reference/asterisk-ami.md §0.1). Here every event must:

- start with `Event`, `Privilege` (and `Timestamp` when the PBX stamps events), each exactly once;
- repeat no header, except the few Asterisk really repeats (`ChanVariable`…);
- carry each channel snapshot complete and in Asterisk's order (`Channel` … `Linkedid`).

A snapshot cut short is the mark of an injection in progress: the blocks that follow are the attacker's,
up to the one that carries the rest of the genuine snapshot. The forged blocks are dropped and counted;
the genuine event is stitched back together from its head and its tail, with the poisoned field emptied,
so the call itself is still tracked (as a caller with no usable number).
These are strong heuristics, not proof: an SBC that refuses `%`-escapes in From is the real cure.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass, field

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
_CUTTABLE = SNAPSHOT[:-1]  # a block that ends on one of these may have been cut by an injected CR/LF
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
        if self._taint is not None:
            return self._stitch(pairs)
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
        if self._tainted(pairs, keys):
            return None
        return self._validate_event(keys, headers, dup)

    def _tainted(self, pairs: list[tuple[str, str]], keys: list[str]) -> bool:
        """A block cut inside a snapshot: keep its genuine head and wait for the tail."""
        tail = _truncated_snapshot(keys)
        if tail is None:
            return False
        self._taint = ([*pairs[:-1], (keys[-1], POISONED)], tail)
        self.dropped["injected"] += 1
        return True

    def _stitch(self, pairs: list[tuple[str, str]]) -> AmiEvent | None:
        assert self._taint is not None
        head, tail = self._taint
        keys = [k for k, _ in pairs]
        start = _find_tail(keys, tail)
        if start is None:
            self.dropped["injected"] += 1
            return None
        self._taint = None
        if start > 0:
            self.dropped["injected"] += 1  # the forged event the tail was glued to
        merged = head + pairs[start:]
        keys = [k for k, _ in merged]
        if self._tainted(merged, keys):  # the same caller ID poisons the next snapshot too
            self.dropped["injected"] -= 1
            return None
        headers = dict(merged)
        return self._validate_event(keys, headers, _bad_duplicates(merged, headers))

    def _validate_event(self, keys: list[str], headers: dict[str, str], dup: bool) -> AmiEvent | None:
        name = headers["Event"]
        if dup:
            self.dropped["duplicate_header"] += 1
            return None
        if len(keys) < 2 or keys[1] != "Privilege":
            self.dropped["no_privilege"] += 1
            return None
        ts = 0.0
        if self.require_timestamp and name not in NO_TIMESTAMP:
            if len(keys) < 3 or keys[2] != "Timestamp":
                self.dropped["no_timestamp"] += 1
                return None
            try:
                ts = float(headers["Timestamp"])
            except ValueError:
                self.dropped["bad_timestamp"] += 1
                return None
        if name not in NO_SNAPSHOT and not _snapshots_whole(keys):
            self.dropped["bad_snapshot"] += 1
            return None
        self.events += 1
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


def _prefixes(keys: list[str]) -> list[tuple[str, int]]:
    """(prefix, index of its `Channel` key) for every snapshot started in the block."""
    found = []
    last = len(keys) - 1
    for i, key in enumerate(keys):
        if key.endswith("Channel") and (i == last or keys[i + 1] == key + "State"):
            found.append((key[:-7], i))
    return found


def _truncated_snapshot(keys: list[str]) -> tuple[str, ...] | None:
    """If the block ends inside a snapshot, the keys that the genuine rest of the event will carry."""
    if not keys[-1].endswith(_CUTTABLE):
        return None
    for prefix, start in _prefixes(keys):
        expected = _expected(prefix)
        got = keys[start : start + len(expected)]
        if len(got) < len(expected) and got == expected[: len(got)] and start + len(got) == len(keys):
            return tuple(expected[len(got) :])
    return None


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
    for m in _SNAP_START.finditer(sig):
        prefix, at = m.group(1), m.start(1)
        whole = _joined(prefix)
        end = at + len(whole)
        if not sig.startswith(whole, at) or (end < len(sig) and sig[end] != "\0"):
            return False
    return True


def _joined(prefix: str) -> str:
    found = _JOINED.get(prefix)
    if found is None:
        found = _JOINED[prefix] = "\0".join(_expected(prefix))
    return found


def _find_tail(keys: list[str], tail: tuple[str, ...]) -> int | None:
    n = len(tail)
    for i in range(len(keys) - n, -1, -1):  # the genuine tail is the last occurrence
        if tuple(keys[i : i + n]) == tail:
            return i
    return None
