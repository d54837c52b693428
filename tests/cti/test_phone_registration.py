"""The tracker follows whether each agent's phone is registered: device state (UNAVAILABLE: no contact),
ContactStatus (Created/Removed, with the time) and the DeviceStateList of a (re)connect."""

from __future__ import annotations

import pytest

from cti.ami_wire import AmiEvent
from cti.events import PhoneRegistration
from cti.tracker import Tracker


def _ev(name: str, ts: float, **headers: str) -> AmiEvent:
    return AmiEvent(name, {"Event": name, **headers}, ts)


CASES = [
    (
        "a phone registers then its registration is removed",
        [
            _ev("ContactStatus", 10, EndpointName="agent1", AOR="agent1", ContactStatus="Created"),
            _ev("DeviceStateChange", 10.01, Device="PJSIP/agent1", State="NOT_INUSE"),
            _ev("ContactStatus", 50, EndpointName="agent1", AOR="agent1", ContactStatus="Removed"),
            _ev("DeviceStateChange", 50.01, Device="PJSIP/agent1", State="UNAVAILABLE"),
        ],
        [PhoneRegistration("PJSIP/agent1", True, 10), PhoneRegistration("PJSIP/agent1", False, 50)],
    ),
    (
        "the device state alone (a phone ringing, busy, idle) keeps it registered",
        [
            _ev("DeviceStateChange", 5, Device="PJSIP/agent2", State="NOT_INUSE"),
            _ev("DeviceStateChange", 6, Device="PJSIP/agent2", State="RINGING"),
            _ev("DeviceStateChange", 7, Device="PJSIP/agent2", State="INUSE"),
        ],
        [PhoneRegistration("PJSIP/agent2", True, 5)],
    ),
    (
        "the carrier trunk is no agent's phone; unknown states and other contact statuses say nothing",
        [
            _ev("DeviceStateChange", 5, Device="PJSIP/trunk", State="NOT_INUSE"),
            _ev("ContactStatus", 5, EndpointName="trunk", ContactStatus="Created"),
            _ev("DeviceStateChange", 6, Device="PJSIP/agent3", State="UNKNOWN"),
            _ev("ContactStatus", 6, EndpointName="agent3", ContactStatus="Reachable"),
        ],
        [],
    ),
]


@pytest.mark.parametrize(("case", "events", "expected"), CASES, ids=[c[0] for c in CASES])
def test_given_phone_events_when_tracked_then_registration_follows(
    case: str, events: list[AmiEvent], expected: list[PhoneRegistration]
) -> None:
    tracker = Tracker(trunks=["PJSIP/trunk"])
    out = [e for ev in events for e in tracker.feed(ev) if isinstance(e, PhoneRegistration)]
    assert out == expected


def test_given_a_reconnect_when_devices_are_listed_then_phones_are_known_since_an_unknown_time() -> None:
    tracker = Tracker(trunks=["PJSIP/trunk"])
    out = tracker.resync_devices(
        [
            {"Device": "PJSIP/agent1", "State": "NOT_INUSE"},
            {"Device": "PJSIP/agent2", "State": "UNAVAILABLE"},
            {"Device": "PJSIP/trunk", "State": "NOT_INUSE"},
            {"Device": "Queue:support_avail", "State": "NOT_INUSE"},
        ]
    )
    assert out == [
        PhoneRegistration("PJSIP/agent1", True, None),
        PhoneRegistration("PJSIP/agent2", False, None),
    ]
    assert tracker.phone_views() == out
