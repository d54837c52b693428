"""asterisk-conf/manager.conf's event filter: the noise it drops at the source never includes an event that
some part of Plateau handles (the tracker, the dialer's raw listener, the AMI connection itself)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cti.ami_wire import AmiEvent, AmiReader
from cti.tracker import Tracker
from tests.cti.transcripts import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
CONNECTION_EVENTS = {"FullyBooted", "Shutdown", "OriginateResponse"}  # cti/ami.py, cti/ami_wire.py


def _drop_filters() -> list[re.Pattern[str]]:
    lines = (ROOT / "asterisk-conf" / "manager.conf").read_text().splitlines()
    filters = [line.split("=", 1)[1].strip() for line in lines if line.startswith("eventfilter")]
    assert filters and all(f.startswith("!") for f in filters)  # exclusions only: anything new still arrives
    # as Asterisk's regcomp (extended, no REG_NEWLINE: `.` crosses lines) reads them, in Python's dialect
    return [re.compile(f[1:].replace("[[:space:]]", r"\s"), re.S) for f in filters]


def _event(name: str, **fields: str) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in {"Event": name, "Privilege": "call,all", **fields}.items())


def _dropped(text: str) -> bool:
    return any(f.search(text) for f in _drop_filters())


def handled_events() -> set[str]:
    tracker = {n[4:] for n in dir(Tracker) if n.startswith("_on_")}
    engine = (ROOT / "dialer" / "engine" / "call_book.py").read_text()
    dialer = set(re.findall(r'\bname == "(\w+)"', engine))
    assert {"DialBegin", "DialEnd", "AgentConnect"} <= dialer  # the scan still reads the listener
    return tracker | dialer | CONNECTION_EVENTS


@pytest.mark.parametrize("name", sorted(handled_events()))
def test_given_an_event_plateau_handles_when_asterisk_filters_then_it_passes(name: str) -> None:
    assert not _dropped(_event(name))


@pytest.mark.parametrize(
    ("text", "dropped"),
    [
        (_event("Newstate"), True),
        (_event("NewConnectedLine"), True),
        (_event("VarSet", Variable="x"), True),
        (_event("BridgeLeave"), True),
        (_event("NewstateChange"), False),  # the name, not a prefix of another
        (_event("UserEvent", UserEvent="Newstate"), False),  # a dialplan UserEvent is never taken for one
        (_event("UserEvent", UserEvent="DialerMessage"), False),
        (_event("Hangup", Cause="16"), False),
        (_event("DeviceStateChange", Device="Queue:support_avail", State="NOT_INUSE"), True),
        (_event("DeviceStateChange", Device="Queue:support_pause_PJSIP/agent1", State="INUSE"), True),
        (_event("DeviceStateChange", Device="PJSIP/agent1", State="RINGING"), False),  # the agents' phones
        (_event("DeviceStateChange", Device="PJSIP/Queue:odd", State="RINGING"), False),
        (_event("QueueMemberStatus", Interface="PJSIP/agent1", StateInterface="Queue:x"), False),
    ],
)
def test_given_an_event_when_filtered_then_only_listed_names_are_dropped(text: str, dropped: bool) -> None:
    assert _dropped(text) is dropped


def _read(data: bytes) -> list[AmiEvent]:
    return [m for m in AmiReader().feed(data) if isinstance(m, AmiEvent)]


def _as_sent(ev: AmiEvent) -> str:
    """The event's text as Asterisk filters it: whole, any caller-ID payload inside it included."""
    return "".join(f"{k}: {v}\r\n" for k, v in {"Event": ev.name, **ev.headers}.items())


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.ami")))
def test_given_a_recorded_scenario_when_asterisk_filters_it_then_the_tracker_emits_the_same_events(
    name: str,
) -> None:
    """Transcripts recorded before the filter existed: without the events it drops, nothing changes. Those
    recorded since came through it (their session had the same manager.conf): nothing is left to drop."""
    data = (FIXTURES / f"{name}.ami").read_bytes()
    events = _read(data)
    kept = [ev for ev in events if not _dropped(_as_sent(ev))]
    assert (len(kept) < len(events)) is (b"Event: Newstate\r\n" in data)
    whole, filtered = Tracker(), Tracker()
    expected = [out for ev in events for out in whole.feed(ev)]
    assert [out for ev in kept for out in filtered.feed(ev)] == expected
