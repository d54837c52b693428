"""A campaign's calls spread over several Asterisk servers (dialer/engine/spread.py): table tests."""

from __future__ import annotations

import math

import pytest

from dialer.engine.spread import Room, capacity, spread


def room(name: str, agents: int = 1, in_use: int = 0, limit: int | None = 10, up: bool = True) -> Room:
    return Room(name, up, agents, in_use, limit)


@pytest.mark.parametrize(
    ("rooms", "wants", "placed"),
    [
        # one server without a limit: every call there, as with a single PBX
        ([room("a", limit=None)], [None] * 3, ["a", "a", "a"]),
        # the freest server first, until the headroom evens out, then in turn
        ([room("a", in_use=4), room("b", in_use=8)], [None] * 6, ["a", "a", "a", "a", "b", "a"]),
        ([room("a", in_use=8), room("b", in_use=8)], [None] * 4, ["a", "b", "a", "b"]),
        # never past a limit: calls with no room anywhere are not placed
        ([room("a", in_use=9), room("b", in_use=10)], [None] * 3, ["a", None, None]),
        # only the servers where the campaign has agents
        ([room("a", agents=0), room("b", in_use=9)], [None] * 2, ["b", None]),
        # a server that is down takes nothing
        ([room("a", up=False), room("b")], [None], ["b"]),
        # unlimited servers take calls in turn; the tie goes to more agents, then to the first listed
        ([room("a", limit=None), room("b", limit=None, agents=2)], [None] * 3, ["b", "a", "b"]),
        # a call for one agent goes to that agent's server, if it has room, and counts against it
        ([room("a", in_use=9), room("b")], ["a", None, "a"], ["a", "b", None]),
        ([room("a")], ["gone"], [None]),
    ],
)
def test_given_servers_when_a_campaigns_calls_are_spread_then_each_goes_where_there_is_room(
    rooms: list[Room], wants: list[str | None], placed: list[str | None]
) -> None:
    assert spread(rooms, wants) == placed


@pytest.mark.parametrize(
    ("rooms", "total"),
    [
        ([room("a", in_use=4), room("b", in_use=8)], 8),
        ([room("a", in_use=12), room("b", agents=0)], 0),
        ([room("a", up=False), room("b", in_use=3)], 7),
        ([room("a", limit=None), room("b")], math.inf),
    ],
)
def test_given_servers_when_capacity_is_asked_then_free_channels_of_the_campaigns_servers(
    rooms: list[Room], total: float
) -> None:
    assert capacity(rooms) == total
