"""Which Asterisk server is whose, when Plateau speaks to several (pure: no I/O).

A server is identified by its asterisk.conf `systemname`: Asterisk prefixes every Uniqueid and Linkedid with
it, so two servers' calls never share an id in the history, and a server without one, or with another's,
is refused. An agent belongs to the server their phone registers on: the user's `pbx` (a server's name),
the first server when it is unset or names no server; their calls, pauses and queue memberships go there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def refusal(system_name: str, others: Iterable[str | None], several: bool) -> str | None:
    """Why a PBX whose SystemName is `system_name` may not join (None: it may). `others`: the names of the
    other servers already identified. One server alone keeps today's rule: any name, even none."""
    if not several:
        return None
    if not system_name:
        return (
            "this Asterisk has no systemname (asterisk.conf [options]); with several servers each needs its "
            "own, which prefixes its call ids"
        )
    if system_name in {name for name in others if name}:
        return f"systemname {system_name!r} is another server's too; each server needs its own"
    return None


def home(pbx: str | None, names: Sequence[str]) -> int:
    """The index among `names` of the server an agent whose user names `pbx` belongs to."""
    return names.index(pbx) if pbx in names else 0


def id_prefix(system_name: str) -> str:
    """What Asterisk puts before the Uniqueids and Linkedids of the server named `system_name` (and what
    Plateau puts before the ChannelIds it chooses for its own originates there, so those are its too)."""
    return f"{system_name}-"


def server_of_id(call_id: str, prefixes: Sequence[str | None]) -> int:
    """The index of the server a call id belongs to: the longest of `prefixes` (id_prefix of each server,
    None when not known yet) it starts with, should one systemname begin another; else the first."""
    found = [(len(p), i) for i, p in enumerate(prefixes) if p and call_id.startswith(p)]
    return max(found)[1] if found else 0
