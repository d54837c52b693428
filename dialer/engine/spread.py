"""Which Asterisk server places each of a campaign's calls, when Plateau speaks to several (pure).

A customer answered on a server waits in that server's queue, where only that server's agents can take
them: a campaign dials over the servers where some of its agents are, and a call for one agent (a callback
kept for them) goes to that agent's server. Each other call goes to the server with the most channels still
free (its `channel_limit` minus the channels in use, minus the calls placed on it in this turn), so the
servers' headroom evens out; a server without a limit is never full, and among such servers the calls go in
turn. A server that is down or full takes none: a call with no room is not placed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Room:
    """One server as the campaign sees it now."""

    name: str
    up: bool
    agents: int  # the campaign's agents whose phone is on this server
    in_use: int  # channels up on it now
    limit: int | None  # its channel_limit (None: none)

    def free(self, placed: int) -> float:
        if not self.up:
            return 0
        if self.limit is None:
            return math.inf
        return max(0, self.limit - self.in_use - placed)


def capacity(rooms: Sequence[Room]) -> float:
    """How many calls the campaign could place now over the servers of its agents (inf: no limit)."""
    return sum(room.free(0) for room in rooms if room.agents > 0)


def spread(rooms: Sequence[Room], wants: Sequence[str | None]) -> list[str | None]:
    """The server of each call, in order: `wants` names the server a call must go to (its agent's), or is
    None for any server of the campaign's agents. None back: no room for that call."""
    placed: Counter[str] = Counter()
    by_name = {room.name: room for room in rooms}
    out: list[str | None] = []
    for want in wants:
        if want is not None:
            room = by_name.get(want)
            choice = want if room is not None and room.free(placed[want]) >= 1 else None
        else:
            open_rooms = [
                (room.free(placed[room.name]), -placed[room.name], room.agents, -i, room.name)
                for i, room in enumerate(rooms)
                if room.agents > 0 and room.free(placed[room.name]) >= 1
            ]
            choice = max(open_rooms)[-1] if open_rooms else None
        if choice is not None:
            placed[choice] += 1
        out.append(choice)
    return out
