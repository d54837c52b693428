"""The live engine hands the pacing policy the same inputs as the simulator (no PBX, no database)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from core.db import Database
from core.dialer_tables import Campaign
from cti.ami_wire import AmiEvent
from cti.events import AgentState
from dialer import leads_model as m
from dialer.compliance import builtin_rule_sets
from dialer.engine import CampaignLoop, DialerService, LiveCall
from dialer.pacing import AbandonMeasure, Observation, make_policy

QUEUE = "sales"


def _agent(endpoint: str, state: AgentState, since: float) -> Any:
    return SimpleNamespace(endpoint=endpoint, state=state, since=since, queues={QUEUE: (False, "")})


def _call(channel_id: str, campaign_id: int) -> LiveCall:
    return LiveCall(
        channel_id=channel_id,
        campaign_id=campaign_id,
        campaign_name="c",
        script=None,
        lead_id=1,
        lead_status=m.LeadStatus.NEW,
        lead_fields={},
        e164="+15550000001",
        started_at=datetime(2026, 3, 2, tzinfo=UTC),
        t0=time.monotonic() - 5,
    )


def _observe(agents: list[Any], prepare: Any = None, db: Database | None = None) -> Observation:
    cti = SimpleNamespace(
        tracker=SimpleNamespace(agents={a.endpoint: a for a in agents}),
        settings=SimpleNamespace(ami_trunks=["trunk"]),
        raw_listeners=[],
        screenpop=SimpleNamespace(extras=[]),
    )
    service = DialerService(cti, db=db)  # type: ignore[arg-type]
    campaign = Campaign(id=7, max_channels=30, dial_ratio=3.0)
    loop = service.loops[7] = CampaignLoop(7, make_policy("plateau"))
    if prepare is not None:
        prepare(service, loop)
    return service._observe(loop, campaign, builtin_rule_sets()["US-TCPA"], QUEUE)


def test_given_an_agent_wrapping_up_a_campaign_call_when_observed_then_its_talk_time_is_passed() -> None:
    now = time.time()
    agents = [
        _agent("PJSIP/a", AgentState.wrap_up, now - 3),  # wrapping up this campaign's 95 s call
        _agent("PJSIP/b", AgentState.wrap_up, now - 1),  # wrapping up a call the engine did not place
        _agent("PJSIP/c", AgentState.ready, now - 10),
    ]

    def prepare(service: DialerService, loop: CampaignLoop) -> None:
        service._wraps["PJSIP/a"] = (7, 95.0, time.monotonic() - 3)
        loop.stats.call_finished(95.0, 4.0)

    obs = _observe(agents, prepare)
    assert obs.in_wrap_talk == [95.0, None]
    assert list(obs.talk_wrap) == [(95.0, 4.0)]
    assert obs.agents_ready == 1


async def test_given_a_machine_answered_when_resolved_then_it_counts_as_connected_not_live(
    db: Database,
) -> None:
    # the dial results arrive as Asterisk sends them (on_ami); their notes go to a real database
    machine, busy = _call("dial-m", 7), _call("dial-b", 7)
    machine.amd = True

    services: list[DialerService] = []

    def prepare(service: DialerService, loop: CampaignLoop) -> None:
        services.append(service)
        service.calls.update({c.channel_id: c for c in (machine, busy)})
        for linkedid, status in (("dial-m", "ANSWER"), ("dial-b", "BUSY")):
            service.on_ami(
                AmiEvent(
                    "DialEnd", {"Linkedid": linkedid, "DestChannel": "PJSIP/trunk-01", "DialStatus": status}
                )
            )
        service.on_ami(
            AmiEvent("UserEvent", {"Linkedid": "dial-m", "UserEvent": "AMDResult", "AMDStatus": "MACHINE"})
        )
        loop.abandon_24h = AbandonMeasure(2, 100)

    obs = _observe([], prepare, db)
    await services[0].stop()  # its notes written
    assert obs.connect_rate == 0.5
    assert obs.answer_rate == 0.0
    assert obs.abandon_24h == AbandonMeasure(2, 100)
