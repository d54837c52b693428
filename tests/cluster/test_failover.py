"""Three nodes, two PBXs: n1 runs both links (the harness starts it first). A desk on another node gets the
pops of n1's link; killing n1 (SIGKILL) or cutting it from PostgreSQL moves both links to another node,
which writes the calls n1 left in progress; every call that ended is exactly one history row, those that
ended or were answered while no node followed the server (the survivors frozen) from its call records. A
campaign run by n1 with an agent on each server dials over both; a desk whose node is killed during its call
is back on a survivor, showing the call, within ttl + one renewal + a margin, and then follows the new
owner."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select, text

from core.dialer_tables import DialerCall, LeadAttempt
from core.models import OpenCall
from cti.pbx_process import PrivateAsterisk
from tests.cluster.conftest import LEASES, LINKS, Node, Site
from tests.conftest import wait_for
from tests.cti.pbx.conftest import KNOWN_NUMBER, WsClient
from tests.cti.pbx.sipp import Caller, Sipp
from tests.dialer.engine.conftest import add_all_day_rule_set, add_campaign

pytestmark = pytest.mark.cluster
NUMBERS = ["+33611000801", "+33611000802", "+33611000803"]
FIGURE = "cluster-figure"
TAKEOVER_WAIT_S = 30  # a deadline to poll against, far above ttl + one renewal (3 + 1 s): no timing asserted
# a desk of a killed node is back within ttl + one renewal + a margin (its reconnects, a loaded machine)
DESK_BOUND_S = float(LEASES["PLATEAU_LEASE_TTL_S"]) + float(LEASES["PLATEAU_LEASE_RENEW_EVERY_S"]) + 5


def figure(values: dict[str, object]) -> None:
    """A measured figure, not asserted: bench/failover.py reads these lines (pytest -s)."""
    print(FIGURE, json.dumps(values))


async def _login(node: Node, n: int, queue: str = "support") -> None:
    async with node.client(f"agent{n}") as c:
        r = await c.post("/api/v1/agent/login", json={"queues": [queue]})
    assert r.status_code == 204, r.text


def _member(pbx: PrivateAsterisk, agent: str, queue: str) -> bool:
    return f"PJSIP/{agent}" in pbx.rx(f"queue show {queue}")


async def _rows(site: Site, n: int) -> bool:
    return await site.row_count() >= n


async def _taken_over(site: Site) -> dict[str, str | None]:
    return {lease: await site.owner_of(lease) for lease in LINKS}


def _caller(name: str) -> list[Caller]:
    return [Caller(KNOWN_NUMBER, "5551000", name)]


async def test_given_b_run_by_n1_when_a_call_comes_into_b_then_agent2s_desk_on_n2_pops_and_one_row_is_written(
    site: Site, phones: tuple[Sipp, Sipp]
) -> None:
    _, on_b = phones
    n1, n2 = site.nodes["n1"], site.nodes["n2"]
    assert await n2.links() == []
    assert (await n1.health())["node"]["pbx_links"] == LINKS
    desk = await n2.ws("agent2")  # the desk's socket went to a node that does not run B's link
    await wait_for(lambda: desk.of_type("snapshot"), 10, what="agent2's snapshot from n2")
    # B's link runs on n1, up: n2 says so from n1's state (not "down" because it does not run it itself)
    links = [i for i in desk.of_type("snapshot")[0]["items"] if i["type"] == "pbx_link"]
    assert [(i["pbx"], i["up"]) for i in links] == [("b", True)], links
    on_b.agent(2, "answer", ring_ms=500)
    # the desk's controls go to its node too: n2 forwards them over the bus to n1, which runs B
    await _login(n2, 2)
    assert _member(site.pbxs[1], "agent2", "support")  # done on B before the answer came back
    async with n2.client("agent2") as c:  # an error on n1 comes back as it would have been raised on n2
        r = await c.post("/api/v1/agent/calls/pbx-b-nosuchcall/hangup")
    assert r.status_code == 404 and r.headers["X-Plateau-Error"] == "no_such_call", r.text
    async with n2.client("agent2") as c:  # a number n1 cannot dial is the caller's mistake there too
        r = await c.post("/api/v1/agent/dial", json={"number": "12"})
    assert r.status_code == 422 and r.headers["X-Plateau-Error"] == "invalid_number", r.text

    on_b.call(_caller("Jose Muller"), hold_ms=2000)
    await wait_for(lambda: desk.pops(phase="ringing", partial=False), 15, what="the pop on n2's desk")
    pop = desk.pops(phase="ringing", partial=False)[0]
    assert pop["linkedid"].startswith("pbx-b-")
    await wait_for(lambda: _rows(site, 1), 30, interval=0.2, what="the history row")
    rows = await site.rows()
    assert [(r.linkedid, r.outcome, r.agent_id) for r in rows] == [
        (pop["linkedid"], "answered", site.users["agent2"])
    ]


async def test_given_n1_running_both_links_when_killed_then_another_node_takes_them_and_writes_calls_once(
    site: Site, phones: tuple[Sipp, Sipp]
) -> None:
    on_a, on_b = phones
    n1 = site.nodes["n1"]
    on_a.agent(1, "answer", ring_ms=300)
    on_b.agent(2, "answer", ring_ms=300)
    await _login(n1, 1)
    await _login(n1, 2)
    on_b.call(_caller("Before"), hold_ms=1000)
    await wait_for(lambda: _rows(site, 1), 30, interval=0.2, what="the call ended before the kill")
    # one call on each server in progress when n1 dies; they end after another node has taken the links
    on_a.call(_caller("AcrossA"), hold_ms=12_000)
    on_b.call(_caller("AcrossB"), hold_ms=12_000)
    await wait_for(lambda: _noted_answered(site, 2), 15, interval=0.2, what="both calls noted answered by n1")

    await asyncio.to_thread(n1.process.kill)
    killed = time.monotonic()
    owners = await _wait_owners(site)
    took = time.monotonic() - killed
    figure({"fault": "kill -9", "links_taken_s": round(took, 2)})
    assert set(owners.values()) <= {"n2", "n3"}, owners

    await wait_for(lambda: _rows(site, 3), 40, interval=0.2, what="the two calls across the kill written")
    rows = await site.rows()
    assert len(rows) == len({r.linkedid for r in rows}) == 3, [(r.linkedid, r.caller_name) for r in rows]
    by_name = {r.caller_name: r for r in rows}
    assert sorted(by_name) == ["AcrossA", "AcrossB", "Before"]
    assert by_name["AcrossA"].linkedid.startswith("pbx-a-")
    assert by_name["AcrossB"].linkedid.startswith("pbx-b-")
    assert {by_name[n].outcome for n in ("AcrossA", "AcrossB")} == {"answered"}


async def test_given_b_run_by_n1_when_a_call_begins_and_ends_before_any_node_takes_b_then_it_is_written_once(
    site: Site, phones: tuple[Sipp, Sipp]
) -> None:
    _, on_b = phones
    n1, survivors = site.nodes["n1"], [site.nodes["n2"], site.nodes["n3"]]
    on_b.agent(2, "answer", ring_ms=300)
    await _login(n1, 2)
    on_b.call(_caller("Before"), hold_ms=500)  # B's last call written: its records are read from there
    await wait_for(lambda: _rows(site, 1), 30, interval=0.2, what="the call before the kill written")

    # the survivors frozen: no node can take B's link until the call has begun and ended on B
    for node in survivors:
        os.kill(node.process.pid, signal.SIGSTOP)
    try:
        await asyncio.to_thread(n1.process.kill)
        await asyncio.to_thread(on_b.call, _caller("InTheGap"), 1000, wait=True)
        assert "0 active calls" in site.pbxs[1].rx("core show channels count")
        assert await _lease_owner(site, "pbx:b") == "n1"  # dead: no node followed B during the call
    finally:
        for node in survivors:
            os.kill(node.process.pid, signal.SIGCONT)
    owners = await _wait_owners(site)
    assert set(owners.values()) <= {"n2", "n3"}, owners

    await wait_for(lambda: _rows(site, 2), 30, interval=0.2, what="the call in the gap written")
    rows = [r for r in await site.rows() if r.caller_name == "InTheGap"]
    assert [(r.caller_number, r.agent_id, r.outcome) for r in rows] == [
        (KNOWN_NUMBER, site.users["agent2"], "answered")
    ]
    assert rows[0].linkedid.startswith("pbx-b-")
    assert await site.row_count() == 2


async def test_given_a_call_ringing_on_b_when_n1_dies_and_is_answered_before_a_takeover_then_its_row_says_so(
    site: Site, phones: tuple[Sipp, Sipp]
) -> None:
    _, on_b = phones
    n1, survivors = site.nodes["n1"], [site.nodes["n2"], site.nodes["n3"]]
    on_b.agent(2, "answer", ring_ms=2000)  # under the queue's ring timeout (3 s): answered on the first ring
    await _login(n1, 2)
    on_b.call(_caller("Ringing"), hold_ms=8000)  # ends well after another node has taken B's link

    async def ringing() -> bool:
        return _agent2_leg(site.pbxs[1]) == "Ringing" and await _queued(site)

    await wait_for(ringing, 15, interval=0.1, what="agent2 ringing, the call noted queued by n1")
    for node in survivors:  # frozen: the answer happens while no node follows B
        os.kill(node.process.pid, signal.SIGSTOP)
    try:
        await asyncio.to_thread(n1.process.kill)
        await wait_for(lambda: _agent2_leg(site.pbxs[1]) == "Up", 10, interval=0.1, what="agent2 answered")
        assert await _lease_owner(site, "pbx:b") == "n1"
    finally:
        for node in survivors:
            os.kill(node.process.pid, signal.SIGCONT)
    await _wait_owners(site)

    await wait_for(lambda: _rows(site, 1), 40, interval=0.2, what="the call's row")
    rows = await site.rows()
    assert [(r.caller_name, r.outcome, r.agent_id, r.queue) for r in rows] == [
        ("Ringing", "answered", site.users["agent2"], "support")
    ]
    assert rows[0].answered_at is not None


async def test_given_a_call_answered_on_b_when_n1_dies_and_ends_before_a_takeover_then_its_true_end_is_kept(
    site: Site, phones: tuple[Sipp, Sipp]
) -> None:
    _, on_b = phones
    n1, survivors = site.nodes["n1"], [site.nodes["n2"], site.nodes["n3"]]
    on_b.agent(2, "answer", ring_ms=300)
    await _login(n1, 2)
    on_b.call(_caller("Across"), hold_ms=3000)
    await wait_for(lambda: _noted_answered(site, 1), 15, interval=0.1, what="the call noted answered by n1")
    for node in survivors:  # frozen: the call ends while no node follows B
        os.kill(node.process.pid, signal.SIGSTOP)
    try:
        await asyncio.to_thread(n1.process.kill)
        await wait_for(lambda: _agent2_leg(site.pbxs[1]) is None, 15, interval=0.1, what="the call's end")
        ended = time.time()
    finally:
        for node in survivors:
            os.kill(node.process.pid, signal.SIGCONT)
    await _wait_owners(site)

    await wait_for(lambda: _rows(site, 1), 30, interval=0.2, what="the call's row")
    (row,) = await site.rows()
    assert (row.caller_name, row.outcome, row.agent_id, row.queue) == (
        "Across",
        "answered",
        site.users["agent2"],
        "support",
    )
    # from B's call records, not when the next owner found it gone; its talk time known
    assert row.ended_at is not None and row.ended_at.timestamp() <= ended
    assert row.answered_at is not None and row.talk_s is not None and row.talk_s > 1
    assert abs(row.talk_s - (row.ended_at - row.answered_at).total_seconds()) < 0.01


def _agent2_leg(pbx: PrivateAsterisk) -> str | None:
    """The state of agent2's channel on the PBX (`Ringing`, `Up`), None without one."""
    for line in pbx.rx("core show channels concise").splitlines():
        fields = line.split("!")
        if fields[0].startswith("PJSIP/agent2-") and len(fields) > 4:
            return fields[4]
    return None


async def _queued(site: Site) -> bool:
    """n1's note of the call says which queue it waits in (what the next owner learns it from)."""
    async with site.db.session() as s:
        return any(note.get("queue") for note in await s.scalars(select(OpenCall.data)))


async def _lease_owner(site: Site, lease: str) -> str | None:
    async with site.db.session() as s:
        owner = await s.scalar(text("SELECT owner FROM leases WHERE name = :name"), {"name": lease})
    return str(owner) if owner is not None else None


async def test_given_n1_running_both_links_when_cut_from_postgresql_then_it_drops_them_before_another_takes(
    site: Site,
) -> None:
    n1 = site.nodes["n1"]
    assert n1.proxy is not None
    a, b = site.pbxs
    # what the PBXs themselves count of Plateau's sessions, sampled all along, in order
    samples: list[tuple[float, int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic(), site.ami_sessions(a), site.ami_sessions(b)))
            done.wait(0.05)

    sampler = asyncio.create_task(asyncio.to_thread(sample))
    await wait_for(lambda: len(samples) > 2, 10, what="the first samples")
    cut = time.monotonic()
    n1.proxy.cut()
    owners = await _wait_owners(site)
    took = time.monotonic() - cut
    await wait_for(lambda: samples[-1][1:] == (1, 1), 10, what="the new owner's sessions counted")
    done.set()
    await sampler
    assert set(owners.values()) <= {"n2", "n3"}, owners
    for pbx in (1, 2):  # n1's session, none (n1 let go), the new owner's: never two at once
        counts = [sample[pbx] for sample in samples]
        runs = [count for i, count in enumerate(counts) if i == 0 or count != counts[i - 1]]
        assert runs == [1, 0, 1], counts
    dropped = max(next(sample[0] for sample in samples if sample[pbx] == 0) for pbx in (1, 2)) - cut
    figure(
        {
            "fault": "cut from PostgreSQL",
            "links_dropped_s": round(dropped, 2),
            "links_taken_s": round(took, 2),
        }
    )
    assert await n1.links() == []  # n1 runs no link (its /healthz still answers)


async def _noted_answered(site: Site, n: int) -> bool:
    """The owner's notes of its calls in progress (what the next owner adopts) say `n` were answered."""
    async with site.db.session() as s:
        notes = list(await s.scalars(select(OpenCall.data)))
    return sum(1 for note in notes if note.get("answered_at") is not None) >= n


async def _wait_owners(site: Site) -> dict[str, str | None]:
    owners: dict[str, str | None] = {}

    async def moved() -> bool:
        owners.update(await _taken_over(site))
        return all(owner in {"n2", "n3"} for owner in owners.values())

    await wait_for(moved, TAKEOVER_WAIT_S, interval=0.1, what="both links run by n2 or n3")
    return owners


async def test_given_a_campaign_run_by_n1_when_n1_is_killed_then_another_node_goes_on_dialling_no_lead_twice(
    site: Site, phones: tuple[Sipp, Sipp]
) -> None:
    on_a, _ = phones
    n1 = site.nodes["n1"]
    rule_set = await add_all_day_rule_set(site.db)
    on_a.customer("answer", ring_ms=200)
    on_a.agent(1, "answer", ring_ms=200, talk_ms=5000)
    await _login(n1, 1, queue="sales")
    _, lead_ids = await add_campaign(site.db, NUMBERS, rule_set=rule_set)
    # n2 and n3 run no link: only n1 contends for the campaign, and places its first call
    await wait_for(lambda: _with_agent(site), 30, interval=0.2, what="the first call with the agent")

    await asyncio.to_thread(n1.process.kill)
    assert [r.lead_id for r in await _in_flight(site)] == lead_ids[:1]  # what the next node adopts
    owners = await _wait_owners(site)
    assert set(owners.values()) <= {"n2", "n3"}, owners

    async def each_lead_once() -> bool:
        return sorted(a.lead_id for a in await _attempts(site)) == sorted(lead_ids)

    await wait_for(each_lead_once, 60, interval=0.2, what="one attempt per lead")
    dialled = Counter(o["number"] for o in site.a_proxy.originates())
    assert dialled == Counter(NUMBERS)  # the call in flight was adopted by the next node, not dialled again
    first = (await _attempts(site))[0]
    assert (first.lead_id, first.result, first.agent_id) == (lead_ids[0], "contact", site.users["agent1"])
    await wait_for(lambda: _no_row_in_flight(site), 20, interval=0.2, what="no call left in flight")
    await wait_for(lambda: _rows(site, len(NUMBERS)), 20, interval=0.2, what="a history row per call")
    rows = await site.rows()
    assert len(rows) == len({r.linkedid for r in rows}) == len(NUMBERS), [r.linkedid for r in rows]


async def _attempts(site: Site) -> list[LeadAttempt]:
    async with site.db.session() as s:
        return list(await s.scalars(select(LeadAttempt).order_by(LeadAttempt.id)))


async def _in_flight(site: Site) -> list[DialerCall]:
    async with site.db.session() as s:
        return list(await s.scalars(select(DialerCall)))


async def _with_agent(site: Site) -> bool:
    return any(r.agent_connected_at is not None for r in await _in_flight(site))


async def _no_row_in_flight(site: Site) -> bool:
    return await _in_flight(site) == []


async def test_given_agents_on_both_servers_when_n1_runs_a_campaign_then_it_dials_over_both_each_lead_once(
    site: Site, phones: tuple[Sipp, Sipp]
) -> None:
    n1 = site.nodes["n1"]
    rule_set = await add_all_day_rule_set(site.db)
    for n, sipp in enumerate(phones, start=1):  # agent1's phone on A, agent2's on B
        sipp.customer("answer", ring_ms=200)
        sipp.agent(n, "answer", ring_ms=200, talk_ms=1500)
        await _login(n1, n, queue="sales")  # agent2's login goes to B, run by n1 too
    # both ready before the campaign exists: its first turn places a call for each, one per server
    await wait_for(lambda: _ready(n1, {"PJSIP/agent1", "PJSIP/agent2"}), 15, interval=0.2, what="both ready")
    numbers = [*NUMBERS, "+33611000804"]
    _, lead_ids = await add_campaign(site.db, numbers, rule_set=rule_set)

    async def each_lead_once() -> bool:
        return sorted(a.lead_id for a in await _attempts(site)) == sorted(lead_ids)

    await wait_for(each_lead_once, 45, interval=0.2, what="one attempt per lead")
    await wait_for(lambda: _no_row_in_flight(site), 20, interval=0.2, what="no call left in flight")
    await wait_for(lambda: _rows(site, len(numbers)), 20, interval=0.2, what="a history row per call")
    attempts, rows = await _attempts(site), await site.rows()
    assert {a.result for a in attempts} == {"contact"}
    # each customer waited in the queue of the server that answered them, for that server's agent
    assert {a.agent_id for a in attempts} == {site.users["agent1"], site.users["agent2"]}
    assert len(rows) == len({r.linkedid for r in rows}) == len(numbers), [r.linkedid for r in rows]
    on_a = [r for r in rows if r.linkedid.startswith("pbx-a-")]
    on_b = [r for r in rows if r.linkedid.startswith("pbx-b-")]
    assert on_a and on_b and len(on_a) + len(on_b) == len(numbers), [r.linkedid for r in rows]
    dialled_on_a = Counter(o["number"] for o in site.a_proxy.originates())  # the proxy sees A's only
    assert sum(dialled_on_a.values()) == len(on_a) and set(dialled_on_a.values()) == {1}, dialled_on_a


async def test_given_a_desk_on_n1_during_a_call_when_n1_is_killed_then_it_comes_back_on_n2_within_the_bound(
    site: Site, phones: tuple[Sipp, Sipp]
) -> None:
    on_a, _ = phones
    n1, n2 = site.nodes["n1"], site.nodes["n2"]
    on_a.agent(1, "answer", ring_ms=300)
    await _login(n1, 1)
    desk = await n1.ws("agent1")  # on the node that runs A's link, the one killed
    await wait_for(lambda: desk.of_type("snapshot"), 10, what="agent1's snapshot from n1")
    on_a.call(_caller("Across"), hold_ms=12_000)  # ends after another node has taken A's link
    await wait_for(lambda: _on_call(_view(desk)), 15, what="agent1 on the call")
    linkedid = _on_call(_view(desk))
    assert linkedid is not None and linkedid.startswith("pbx-a-")

    await asyncio.to_thread(n1.process.kill)
    killed = time.monotonic()
    await wait_for(lambda: desk.task is not None and desk.task.done(), 10, what="the desk's socket closed")
    back = await n2.ws("agent1")  # reconnecting to a survivor, as the browser does
    left = DESK_BOUND_S - (time.monotonic() - killed)

    def shown() -> bool:
        return _on_call(_view(back)) == linkedid

    await wait_for(shown, left, interval=0.05, what="the desk back, showing the call, within the bound")
    desk_back = time.monotonic() - killed
    owners = await _wait_owners(site)
    took = time.monotonic() - killed
    figure({"fault": "kill -9", "desk_back_s": round(desk_back, 2), "links_taken_s": round(took, 2)})
    assert set(owners.values()) <= {"n2", "n3"}, owners

    await wait_for(lambda: _rows(site, 1), 30, interval=0.2, what="the call's history row")

    # the call's end reaches the desk from A's new owner (over the bus when it is n3)
    await wait_for(lambda: _on_call(_view(back)) is None, 10, interval=0.2, what="the call's end on the desk")
    assert [r.linkedid for r in await site.rows()] == [linkedid]


async def _ready(node: Node, agents: set[str]) -> bool:
    """Whether the node's live picture (a supervisor's) shows every one of `agents` ready."""
    async with node.client("boss") as c:
        items = (await c.get("/api/v1/supervisor/live")).json()["items"]
    ready = {i["agent"] for i in items if i["type"] == "agent_state_changed" and i["state"] == "ready"}
    return agents <= ready


def _view(desk: WsClient) -> list[dict[str, object]]:
    """What the desk was told, in order: its snapshot's items, then what came after (replays, deltas)."""
    out: list[dict[str, object]] = []
    for _, message in desk.messages:
        out.extend(message["items"] if message.get("type") == "snapshot" else [message])
    return out


def _on_call(items: list[dict[str, object]]) -> str | None:
    """The call agent1 is on, by the desk's agent states (the last one said), or None."""
    mine = [i for i in items if i.get("type") == "agent_state_changed" and i.get("agent") == "PJSIP/agent1"]
    if not mine or mine[-1].get("state") != "on_call":
        return None
    linkedid = mine[-1].get("linkedid")
    return linkedid if isinstance(linkedid, str) else None
