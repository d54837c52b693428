"""What the KPIs, the wallboard and (re)connecting browsers read from the service: live calls, snapshots,
health.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.bus import (
    SUPERVISING_ROLES,
    Message,
    Principal,
    ToAgent,
    ToAgentAndStaff,
    ToAgentAndSupervisors,
    ToSupervisors,
    interface_of,
)
from core.errors import NotFound
from cti.events import CallRecord, to_wire

if TYPE_CHECKING:
    from cti.pbx_unit import PbxUnit

# Ended calls stay among the live facts this long: the history writer batches its rows (and retries), and
# until a row is written the call must still count; once written, the history row is the one counted.
RECENT_ENDED_S = 300.0
NO_NODE_RUNS_IT = "no node runs the link now"


class LiveViews:
    """Calls not in the history yet, browser snapshots and health."""

    # several nodes: a server's pbx_link as the node running its link says (app/cluster_bus.py ClusterView)
    link_elsewhere: Callable[[str], dict[str, Any] | None] | None = None

    # -- what the KPIs and the wallboard need from calls not in the history yet ----------------------------
    def _forget_ended(self, now: float) -> None:
        while self._ended_recently:
            linkedid, (at, _) = next(iter(self._ended_recently.items()))
            if now - at < RECENT_ENDED_S:
                break
            del self._ended_recently[linkedid]

    def recently_ended(self, now: float) -> list[CallRecord]:
        """Calls ended in the last few minutes (RECENT_ENDED_S): the history may not hold them yet
        (app/live_facts.py counts them with the calls in progress)."""
        self._forget_ended(now)
        return [rec for _, rec in self._ended_recently.values()]

    def user_id(self, interface: str | None) -> int | None:
        info = self.directory.get(interface)
        return info.user_id if info else None

    def call_views(self) -> list[dict[str, Any]]:
        """Calls an agent is on, as the wallboard's "current call" shows them: the caller (number, and the
        contact their number matched), the queue and when the agent answered."""
        out = []
        for call in list(self.tracker.calls.values()):
            if not (call.agent or call.first_agent):
                continue
            out.append(
                {
                    "type": "call_live",
                    "linkedid": call.linkedid,
                    "caller": {
                        "number": call.caller.number,
                        "name": call.caller.name,
                        "withheld": call.caller.withheld,
                    },
                    "contact": self.screenpop.contact_name(call.linkedid),
                    "queue": call.queue,
                    "agent": call.agent or call.first_agent,
                    "answered_at": call.answered_at,
                }
            )
        return out

    # -- snapshots for (re)connecting browsers ---------------------------------------------------------------
    def state_messages(self, pbx: str | None = None) -> list[Message]:
        """Everything a (re)connecting browser may be shown, each item with its audience (the hub's routing
        rules): `snapshot` keeps what admits one user, and other nodes mirror the whole (app/cluster_bus.py).
        `pbx`: one Asterisk server's agents, queues, calls and pops. Its links are not in it (see `snapshot`).
        """
        units = self.units
        if pbx is not None:
            unit = self.unit_named(pbx)
            if unit is None:
                raise NotFound(f"pbx: no server named {pbx!r}")
            units = [unit]

        def here(agent: str) -> bool:
            return pbx is None or self.unit_of(agent) in units

        out: list[Message] = []
        for view in self.tracker.agent_views():  # a supervisor sees their team's agents, as over REST
            if here(view.agent):
                team = self._team_of(view.agent)
                out.append(
                    Message(
                        ToAgentAndSupervisors(view.agent, team), to_wire(view, self._agent_fields(view.agent))
                    )
                )
        out.extend(
            Message(ToAgentAndStaff(p.agent), to_wire(p)) for p in self.tracker.phone_views() if here(p.agent)
        )
        queues = self.tracker if pbx is None else units[0].tracker
        out.extend(Message(ToSupervisors(), to_wire(q)) for q in queues.queue_views(time.time()))
        calls = self.call_views()
        out.extend(
            Message(ToSupervisors(), c)
            for c in calls
            if pbx is None or c["linkedid"] in units[0].tracker.calls
        )
        out.extend(Message(ToAgent(pop["agent"]), pop) for pop in self.screenpop.pops() if here(pop["agent"]))
        return out

    async def snapshot(self, who: Principal, pbx: str | None = None) -> list[dict[str, Any]]:
        """What a (re)connecting browser is shown; `pbx`: one Asterisk server's agents, queues and calls."""
        items = [m.payload for m in self.state_messages(pbx) if m.audience.admits(who)]
        units = [u for u in self.units if pbx is None or u.name == pbx]
        mine = interface_of(who.sip_endpoint)
        supervising = who.role in SUPERVISING_ROLES
        # an agent's desk shows the link of their phone's server; supervisors see each server's
        for unit in units if supervising or mine is None or pbx is not None else [self.unit_of(mine)]:
            items.append(self._link_state(unit))
        return items

    def _runs_here(self, unit: PbxUnit) -> bool:
        return unit.owned or self.leases.local

    def _link_state(self, unit: PbxUnit) -> dict[str, Any]:
        """A server's pbx_link item: this node's link, or the one another node runs, as its state says
        (several nodes: `link_elsewhere`, from the mirror of the others' state)."""
        if self._runs_here(unit) or self.link_elsewhere is None:
            reason = unit.link.stats.last_error or ""
            return {"type": "pbx_link", **self._link_id(unit), "up": unit.ready, "reason": reason}
        there = self.link_elsewhere(unit.name)
        if there is None:
            return {"type": "pbx_link", **self._link_id(unit), "up": False, "reason": NO_NODE_RUNS_IT}
        return {**there, **self._link_id(unit)}

    def link_messages(self, pbx: str) -> list[Message]:
        """The pbx_link of server `pbx` if its link runs here, for the other nodes' mirrors: their desks
        and wallboards show it (`link_elsewhere` there; supervisors straight from the mirror)."""
        return [
            Message(ToSupervisors(), self._link_state(u))
            for u in self.units
            if u.name == pbx and self._runs_here(u)
        ]

    def _link_id(self, unit: PbxUnit) -> dict[str, str]:
        """A server's name on its pbx_link messages; with several, also their key (one item per server in
        the browsers' store, web/static/js/ws.js)."""
        return {"pbx": unit.name, "key": unit.name} if len(self.units) > 1 else {"pbx": unit.name}

    def health(self) -> dict[str, Any]:
        if not self.settings.ami_enabled:
            return {"ok": True, "enabled": False}
        servers = [{**unit.status(), "owned": unit.owned} for unit in self.units]
        return {
            "enabled": True,
            **self.link.status(),  # the first server's, as when there was one
            # a link another node runs is that node's to report (several nodes: `pbx:<name>` leases)
            "ok": all(server["ok"] for server in servers if server["owned"] or self.leases.local),
            "owned": [unit.lease for unit in self.units if unit.owned],
            "calls": len(self.tracker.calls),
            "history_written": self.history.written,
            "servers": servers,  # each server's link: name (its SystemName by default), error, channels
        }

    def history_health(self) -> dict[str, Any]:
        """The history writer: `ok` false while finished calls wait in memory (database away or full)."""
        return self.history.health()
