"""Several Asterisk servers: which server is whose (cti/pbx_map.py) and their trackers read as one
(cti/trackers.py). Pure: the trackers are fed the snapshots Asterisk sends on (re)connect."""

from __future__ import annotations

import pytest

from cti import pbx_map
from cti.tracker import Tracker
from cti.trackers import TrackerSet

NAMES = ["a", "b"]


@pytest.mark.parametrize(
    ("system_name", "others", "several", "refused"),
    [
        ("pbx-b", ["pbx-a"], True, None),
        ("", ["pbx-a"], True, "no systemname"),
        ("pbx-a", ["pbx-a"], True, "another server's"),
        ("pbx-a", [None, "pbx-c"], True, None),
        ("", [], False, None),  # one server: today's rule, any name
    ],
)
def test_given_a_system_name_when_a_server_logs_in_then_it_is_refused_only_if_empty_or_taken(
    system_name: str, others: list[str | None], several: bool, refused: str | None
) -> None:
    got = pbx_map.refusal(system_name, others, several)
    assert (got is None) if refused is None else (refused in (got or ""))


@pytest.mark.parametrize(
    ("pbx", "home"),
    [(None, 0), ("a", 0), ("b", 1), ("gone", 0)],
)
def test_given_a_users_pbx_when_mapped_then_their_server_or_the_first(pbx: str | None, home: int) -> None:
    assert pbx_map.home(pbx, NAMES) == home


@pytest.mark.parametrize(
    ("call_id", "server"),
    [
        ("pbx-b-1700000000.4", 1),
        ("pbx-a-1700000000.4", 0),
        ("pbx-a-b-1700000000.4", 2),  # the longest systemname that fits
        ("dial-0001", 0),  # no prefix known: the first server
        ("pbx-c-1700000000.4", 0),
    ],
)
def test_given_a_call_id_when_its_server_is_sought_then_the_systemname_it_starts_with_decides(
    call_id: str, server: int
) -> None:
    assert pbx_map.server_of_id(call_id, ["pbx-a-", "pbx-b-", "pbx-a-b-", None]) == server


def _channel(system: str, n: int, endpoint: str, queue_call: bool = True) -> dict[str, str]:
    uid = f"{system}-1700000000.{n}"
    return {
        "Uniqueid": uid,
        "Linkedid": uid,
        "Channel": f"PJSIP/{endpoint}-0000000{n}",
        "CallerIDNum": "0612345678",
        "Exten": "support" if queue_call else "",
        "Context": "plateau-inbound",
    }


def _server(system: str, registered: str) -> Tracker:
    """A server whose snapshot shows agent1 and agent2 (both endpoints exist on both servers), `registered`
    reachable, one inbound call waiting in `support`."""
    tracker = Tracker()
    tracker.resync_channels([_channel(system, 1, "trunk")], 100.0)
    devices = [
        {"Device": "PJSIP/agent1", "State": "NOT_INUSE" if registered == "agent1" else "UNAVAILABLE"},
        {"Device": "PJSIP/agent2", "State": "NOT_INUSE" if registered == "agent2" else "UNAVAILABLE"},
    ]
    tracker.resync_devices(devices)
    member = {"Queue": "support", "Location": f"PJSIP/{registered}", "Status": "1", "Paused": "0"}
    entry = {"Queue": "support", "Linkedid": f"{system}-1700000000.1", "Wait": "5"}
    tracker.resync_queues([member], [entry], 100.0)
    return tracker


@pytest.fixture
def several() -> TrackerSet:
    homes = {"PJSIP/agent1": 0, "PJSIP/agent2": 1}
    return TrackerSet([_server("pbx-a", "agent1"), _server("pbx-b", "agent2")], lambda i: homes.get(i, 0))


def test_given_two_servers_when_read_as_one_then_calls_and_queues_hold_both_servers_callers(
    several: TrackerSet,
) -> None:
    assert sorted(several.calls) == ["pbx-a-1700000000.1", "pbx-b-1700000000.1"]
    assert sorted(several.waiting["support"]) == ["pbx-a-1700000000.1", "pbx-b-1700000000.1"]
    (queue,) = several.queue_views(105.0)
    assert (queue.queue, queue.waiting) == ("support", 2)


def test_given_an_endpoint_on_both_servers_when_read_as_one_then_the_agent_is_their_own_servers(
    several: TrackerSet,
) -> None:
    agents = several.agents
    assert agents["PJSIP/agent1"].registered is True  # from server a, not b's unregistered copy
    assert agents["PJSIP/agent2"].registered is True  # from server b
    assert {p.agent for p in several.phone_views() if p.registered} == {"PJSIP/agent1", "PJSIP/agent2"}
    assert {v.agent: v.queues for v in several.agent_views()} == {
        "PJSIP/agent1": ("support",),
        "PJSIP/agent2": ("support",),
    }
