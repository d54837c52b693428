"""The CROC script API of the agent's call, on SQLite and PostgreSQL: the view with the lead's variables
(hostile values kept as text), answers checked by the interpreter, objections, the outcome refused while
required answers are missing, and each outcome's dialer action on the lead.

The CTI service is the real one, not connected to a PBX: the agent's pop is put where the screen-pop
puts it (`screenpop.current`), shaped as a dialer call's pop (`DialerService.pop_fields`); the engine's
attempt for the call is written as `dialer.store.record_attempt` writes it. The live path (Asterisk, SIPp,
the desk) is tests/app/browser/test_script_live.py.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.cti_wiring import build_cti
from app.main import create_app
from core.db import Database
from core.dialer_tables import (
    Callback,
    CallList,
    Campaign,
    CampaignList,
    CampaignState,
    CustomRuleSet,
    DncEntry,
    Lead,
    LeadAttempt,
    LeadNumber,
)
from core.models import Account, Contact, DispositionCode, Interaction, Queue, ScriptDraft
from cti.service import CtiService
from dialer import leads_model as m
from dialer.compliance import builtin_rule_sets, clone_rule_set
from dialer.store import load_history, load_leads, record_attempt
from tests.app.api.conftest import Api

pytestmark = pytest.mark.asyncio

HOSTILE = {
    "first_name": "<img src=x onerror=alert(1)>",
    "last_name": "{agent_name}",  # braces in a value are not a placeholder
    "company": '=HYPERLINK("http://x")',
    "civility": "Mme",
    "job_title": "Directrice",
    "offer": "la gestion de flotte",
}
NUMBER = "+33611223344"
ALWAYS = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
# the B2B script's path to "rendez-vous pris", every required answer given
RDV_ANSWERS: dict[str, Any] = {
    "standard": "decideur",
    "presentation": True,
    "raison": True,
    "organisation_actuelle": "prestataire",
    "enjeux": ["couts", "delais"],
    "projet": True,
    "proposition_rdv": True,
    "rdv_date": "2026-12-01",
    "rdv_heure": "10 h, dans leurs locaux",
    "participants": "",
    "email_confirmation": "dg@example.fr",
    "prise_de_conge": True,
}


@dataclass
class Call:
    linkedid: str
    lead_id: int
    campaign_id: int
    attempt_id: int
    contact_id: int | None


async def _cti(api: Api) -> CtiService:
    service = getattr(api.app.state, "cti", None)
    if service is None:
        service = api.app.state.cti = build_cti(api.app.state.settings, api.db, api.app.state.hub)
    return service


async def _scripted_call(
    api: Api, *, script: str = "b2b-rdv-barrage", with_contact: bool = True, rule_set: str = "TEST-ALWAYS"
) -> Call:
    """A dialer call of a campaign with `script`, answered by `agent`, over (the engine wrote it)."""
    now = datetime.now(UTC)
    async with api.db.session() as s:
        if await s.scalar(select(CustomRuleSet.id).where(CustomRuleSet.name == "TEST-ALWAYS")) is None:
            rs = clone_rule_set(
                builtin_rule_sets()["FR-2023"],
                "TEST-ALWAYS",
                {"windows": ALWAYS, "no_calls_on_public_holidays": False, "consent_required_from": None},
            )
            s.add(CustomRuleSet(name=rs.name, data=rs.to_data()))
        if await s.scalar(select(DispositionCode.id).where(DispositionCode.code == "resolved")) is None:
            s.add(DispositionCode(code="resolved", label="Résolu"))
        contact = None
        if with_contact:
            account = Account(name="Transports Dupont")
            s.add(account)
            await s.flush()
            contact = Contact(first_name="Claire", last_name="Dupont", account_id=account.id)
            s.add(contact)
            await s.flush()
        queue = Queue(name=f"sales-{now.timestamp()}", display_name="Ventes")
        cl = CallList(name=f"list-{now.timestamp()}")
        s.add_all([queue, cl])
        await s.flush()
        lead = Lead(list_id=cl.id, fields=HOSTILE, consent=True, contact_id=contact.id if contact else None)
        s.add(lead)
        await s.flush()
        s.add(LeadNumber(lead_id=lead.id, list_id=cl.id, e164=NUMBER, tz="Europe/Paris", country="FR"))
        c = Campaign(
            name=f"camp-{now.timestamp()}",
            queue_id=queue.id,
            script=script,
            rule_set=rule_set,
            state=CampaignState.running,
        )
        s.add(c)
        await s.flush()
        s.add(CampaignList(campaign_id=c.id, list_id=cl.id))
        attempt = await record_attempt(
            s,
            m.Attempt(
                lead_id=lead.id,
                e164=NUMBER,
                started_at=now - timedelta(minutes=3),
                result=m.AttemptResult.CONTACT,
                answered_at=now - timedelta(minutes=3),
                agent_connected_at=now - timedelta(minutes=3),
                agent_id=api.users["agent"].id,
                campaign_id=c.id,
            ),
            ended_at=now - timedelta(seconds=5),
        )
        lead.status = "done"  # what the engine leaves after a contact
        await s.commit()
        ids = Call(f"dial-{lead.id}-{c.id}", lead.id, c.id, attempt.id, contact.id if contact else None)
    service = await _cti(api)
    service.screenpop.current["PJSIP/ep-agent"] = {
        "type": "pop",
        "pop_id": f"{ids.linkedid}:PJSIP/ep-agent",
        "linkedid": ids.linkedid,
        "agent": "PJSIP/ep-agent",
        "phase": "wrap_up",
        "queue": queue.name,
        "caller": {"number": NUMBER, "e164": NUMBER, "display": "06 11 22 33 44", "withheld": False},
        "matches": [],
        "dialer": {
            "campaign_id": c.id,
            "campaign": c.name,
            "script": script,
            "lead_id": lead.id,
            "number": NUMBER,
            "fields": HOSTILE,
        },
    }
    return ids


@contextlib.asynccontextmanager
async def _client(api: Api, username: str, how: str = "login") -> AsyncIterator[httpx.AsyncClient]:
    client = await (api.login(username) if how == "login" else api.bearer(username))
    try:
        yield client
    finally:
        await client.aclose()


def _url(call: Call, tail: str = "") -> str:
    return f"/api/v1/agent/calls/{call.linkedid}/script{tail}"


async def test_given_a_dialer_call_with_a_script_when_read_then_the_leads_values_fill_it_as_text(
    api: Api,
) -> None:
    call = await _scripted_call(api)
    async with _client(api, "agent", "login") as c:
        r = await c.get(_url(call))
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["script"]["id"] == "b2b-rdv-barrage" and view["lead_id"] == call.lead_id
    assert [s["kind"] for s in view["sections"]] == ["contact", "raison", "objectif", "conclusion"]
    current = view["current"]
    assert current["id"] == "standard" and current["section"] == "contact"
    assert "Mme {agent_name}, Directrice" in current["text"]  # the value's braces stay text
    assert "Bonjour, Agent Agent, de la société" in current["text"]  # the agent's display name
    assert current["question"]["required"] is True and len(current["question"]["options"]) == 5
    assert view["variables"]["first_name"] == HOSTILE["first_name"]  # data, escaped by the page
    assert view["contact_id"] == call.contact_id
    objection = next(o for o in view["objections"] if o["id"] == "deja-un-fournisseur")
    assert 'une entreprise comme =HYPERLINK("http://x") est' in objection["text"]
    rdv = next(o for o in view["outcomes"] if o["id"] == "rdv_pris")
    assert [b["step"] for b in rdv["blockers"]] == ["rdv_date", "rdv_heure", "email_confirmation", None]
    async with _client(api, "agent", "login") as c:
        one = await c.get(_url(call, "/objections/pas-le-temps"))
        missing = await c.get(_url(call, "/objections/nope"))
    assert one.status_code == 200 and one.json()["label"] == "« Je n'ai pas le temps »"
    assert missing.status_code == 404


async def test_given_another_agents_call_when_its_script_is_asked_then_404(api: Api) -> None:
    call = await _scripted_call(api)
    async with _client(api, "agent2", "login") as c:
        r = await c.get(_url(call))
    assert r.status_code == 404


async def test_given_answers_when_posted_then_the_script_branches_and_keeps_them_for_a_reload(
    api: Api,
) -> None:
    call = await _scripted_call(api)
    async with _client(api, "agent", "login") as c:
        r = await c.post(_url(call, "/answers"), json={"answers": {"standard": "filtre"}})
        assert r.status_code == 200, r.text
        assert r.json()["current"]["id"] == "barrage_objet"  # the gatekeeper branch
        again = await c.get(_url(call))
    assert again.json()["answers"] == {"standard": "filtre"}
    assert again.json()["current"]["id"] == "barrage_objet"


async def _other_node(api: Api) -> Api:
    """Another node behind the load balancer: its own app, engine and CTI service on the same database, the
    agent's pop as the bus brought it there (no process memory shared with the first)."""
    app = create_app(api.app.state.settings)
    app.state.db = Database(api.db.url)
    service = app.state.cti = build_cti(app.state.settings, app.state.db, app.state.hub)
    service.screenpop.current.update(copy.deepcopy((await _cti(api)).screenpop.current))
    return Api(app, app.state.db, api.users)


async def test_given_answers_posted_on_one_node_when_the_desk_reloads_on_another_then_they_are_there(
    api: Api,
) -> None:
    call = await _scripted_call(api)
    async with _client(api, "agent", "login") as c:
        r = await c.post(_url(call, "/answers"), json={"answers": {"standard": "filtre"}})
        assert r.status_code == 200, r.text
    other = await _other_node(api)
    try:
        async with _client(other, "agent", "login") as c:
            again = await c.get(_url(call))
    finally:
        await other.db.dispose()
    assert again.status_code == 200, again.text
    assert again.json()["answers"] == {"standard": "filtre"}
    assert again.json()["current"]["id"] == "barrage_objet"


async def test_given_a_call_transferred_to_another_agent_when_each_reads_its_script_then_only_their_answers(
    api: Api,
) -> None:
    call = await _scripted_call(api)
    service = await _cti(api)
    pop = copy.deepcopy(service.screenpop.current["PJSIP/ep-agent"])
    service.screenpop.current["PJSIP/ep-agent2"] = pop | {"agent": "PJSIP/ep-agent2"}
    async with _client(api, "agent", "login") as first, _client(api, "agent2", "login") as second:
        r = await first.post(_url(call, "/answers"), json={"answers": {"standard": "filtre"}})
        assert r.status_code == 200, r.text
        theirs = await second.get(_url(call))
        assert theirs.status_code == 200, theirs.text
        assert (theirs.json()["answers"], theirs.json()["current"]["id"]) == ({}, "standard")
        r = await second.post(_url(call, "/answers"), json={"answers": {"standard": "decideur"}})
        assert r.status_code == 200, r.text
        mine = await first.get(_url(call))
    assert mine.json()["answers"] == {"standard": "filtre"}


@pytest.mark.parametrize(
    ("answers", "where", "says"),
    [
        ({"standard": "patron"}, "standard", "Qui vous répond ?: 'patron' is not one of the options"),
        ({"presentation": "oui"}, "presentation", "expected yes or no"),
        ({"rdv_date": "31/02/2026"}, "rdv_date", "is not a date"),
        ({"rdv_heure": "x" * 2001}, "rdv_heure", "longer than 2000 characters"),
        ({"enjeux": ["couts", "<script>"]}, "enjeux", "expected a list of the options"),
        ({"no_such_step": 1}, "no_such_step", "no such step"),
        ({"standard": {"$ne": 1}}, "standard", "is not one of the options"),  # any JSON, no 500
        ({"projet": [True]}, "projet", "expected yes or no"),
    ],
)
async def test_given_an_invalid_answer_when_posted_then_422_names_the_question(
    api: Api, answers: dict[str, Any], where: str, says: str
) -> None:
    call = await _scripted_call(api)
    async with _client(api, "agent", "login") as c:
        r = await c.post(_url(call, "/answers"), json={"answers": answers})
    assert r.status_code == 422
    (problem,) = r.json()["detail"]
    assert problem["loc"] == ["body", "answers", where] and says in problem["msg"]


async def test_given_missing_required_answers_when_the_outcome_is_saved_then_422_lists_them_nothing_written(
    api: Api,
) -> None:
    call = await _scripted_call(api)
    partial = {k: v for k, v in RDV_ANSWERS.items() if k not in ("rdv_date", "email_confirmation")}
    async with _client(api, "agent", "login") as c:
        r = await c.post(_url(call, "/outcome"), json={"outcome": "rdv_pris", "answers": partial})
        plain = await c.post(f"/api/v1/agent/calls/{call.linkedid}/disposition", json={"code": "resolved"})
    assert r.status_code == 422
    assert [(d["loc"], d["msg"]) for d in r.json()["detail"]] == [
        (["body", "answers", "rdv_date"], "answer required: Date du rendez-vous"),
        (["body", "answers", "email_confirmation"], "answer required: E-mail de confirmation"),
        (["body", "outcome"], "the script is not finished"),  # it waits at the date of the meeting
    ]
    assert plain.status_code == 409, plain.text  # a scripted call is not closed without its script
    async with api.db.session() as s:
        assert list(await s.scalars(select(Interaction))) == []
        assert (await s.get(LeadAttempt, call.attempt_id)).result == "contact"


async def test_given_every_required_answer_when_a_success_is_saved_then_the_answers_are_on_the_timeline(
    api: Api,
) -> None:
    call = await _scripted_call(api)
    async with _client(api, "agent", "login") as c:
        r = await c.post(
            _url(call, "/outcome"),
            json={"outcome": "rdv_pris", "answers": RDV_ANSWERS, "notes": "<b>RDV</b> confirmé"},
        )
        assert r.status_code == 201, r.text
        timeline = await c.get(f"/api/v1/contacts/{call.contact_id}/timeline")
    out = r.json()
    assert (out["action"], out["lead"]["status"], out["contact_id"]) == ("success", "done", call.contact_id)
    items = timeline.json()["items"]
    script = next(i for i in items if i["kind"] == "script")
    assert script["disposition_code"] == "RDV"
    assert script["data"]["answers"]["rdv_date"] == "2026-12-01"
    assert script["data"]["answers"]["enjeux"] == ["couts", "delais"]
    assert "Enjeux prioritaires : Les coûts, Les délais" in script["body"]
    assert "Date du rendez-vous : 2026-12-01" in script["body"]
    wrap = next(i for i in items if i["kind"] == "disposition")
    assert (wrap["disposition_code"], wrap["body"]) == ("RDV", "<b>RDV</b> confirmé")
    async with api.db.session() as s:
        attempt = await s.get(LeadAttempt, call.attempt_id)
        assert (attempt.result, attempt.disposition_code) == ("success", "RDV")


async def test_given_a_lead_without_contact_when_its_outcome_is_saved_then_a_contact_is_made_from_the_lead(
    api: Api,
) -> None:
    call = await _scripted_call(api, with_contact=False)
    async with _client(api, "agent", "login") as c:
        r = await c.post(
            _url(call, "/outcome"),
            json={"outcome": "mauvais_numero", "answers": {"standard": "mauvais_numero"}},
        )
        assert r.status_code == 201, r.text
        contact = (await c.get(f"/api/v1/contacts/{r.json()['contact_id']}")).json()
    assert (contact["first_name"], contact["last_name"]) == (HOSTILE["first_name"], HOSTILE["last_name"])
    assert [n["e164"] for n in contact["numbers"]] == [NUMBER]
    async with api.db.session() as s:
        assert (await s.get(Lead, call.lead_id)).contact_id == contact["id"]


async def _leads_now(api: Api, call: Call, at: datetime) -> tuple[Lead, list[m.Lead], list[m.Attempt]]:
    async with api.db.session() as s:
        lead = await s.get(Lead, call.lead_id)
        listed = await load_leads(s, [lead.list_id], statuses=[st.value for st in m.LeadStatus])
        history = await load_history(s, listed, since=at - timedelta(days=90))
        return lead, listed, history


@pytest.mark.parametrize(
    ("outcome", "answers", "status", "blocked_by"),
    [
        ("refus_decideur", {"standard": "decideur", "presentation": True, "raison": True,
                            "organisation_actuelle": "interne", "enjeux": ["couts"], "projet": True,
                            "proposition_rdv": False, "motif_refus": "budget"}, "done", "refusal_cooloff"),
        ("mauvais_numero", {"standard": "mauvais_numero"}, "done", "wrong_number"),
        ("ne_plus_appeler", {}, "do_not_call", "do_not_call"),
    ],
)  # fmt: skip
async def test_given_a_closing_outcome_when_saved_then_the_lead_is_blocked_by_the_rule_it_triggers(
    api: Api, outcome: str, answers: dict[str, Any], status: str, blocked_by: str
) -> None:
    from dialer.compliance import check
    from dialer.store import rule_set_named

    call = await _scripted_call(api)
    async with _client(api, "agent", "login") as c:
        r = await c.post(_url(call, "/outcome"), json={"outcome": outcome, "answers": answers})
    assert r.status_code == 201, r.text
    assert r.json()["lead"]["status"] == status
    # a month later, the rule set still keeps the lead from being dialled, for the outcome's reason
    later = datetime.now(UTC) + timedelta(days=30)
    lead, listed, history = await _leads_now(api, call, later)
    async with api.db.session() as s:
        rs = await rule_set_named(s, "TEST-ALWAYS")
        dnc = list(await s.scalars(select(DncEntry.e164)))
    me = next(x for x in listed if x.id == lead.id)
    me = m.Lead(id=me.id, numbers=me.numbers, consent=True, status=m.LeadStatus.NEW)  # even if re-listed
    verdict = check(me, me.numbers[0], history, rs, later)
    assert blocked_by in verdict.reasons
    assert (NUMBER in dnc) is (outcome == "ne_plus_appeler")


async def test_given_a_callback_outcome_when_saved_then_a_callback_is_due_in_the_rule_sets_window(
    api: Api,
) -> None:
    call = await _scripted_call(api, rule_set="FR-2023")
    answers = {"standard": "filtre", "barrage_objet": "mail", "barrage_mail": "contact@dupont.fr, jeudi"}
    async with _client(api, "agent", "login") as c:
        sunday = datetime(2030, 6, 2, 10, 0, tzinfo=UTC)  # a Sunday: FR-2023 has no window
        refused = await c.post(
            _url(call, "/outcome"),
            json={"outcome": "envoi_mail", "answers": answers, "callback_at": sunday.isoformat()},
        )
        r = await c.post(_url(call, "/outcome"), json={"outcome": "envoi_mail", "answers": answers})
    assert refused.status_code == 422
    (problem,) = refused.json()["detail"]
    assert (
        problem["loc"] == ["body", "callback_at"]
        and "the next allowed time is 2030-06-03T10:00" in problem["msg"]
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["lead"]["status"] == "callback"
    due = datetime.fromisoformat(out["callback"]["due_at"])
    assert due >= datetime.now(UTC) + timedelta(days=7) - timedelta(minutes=1)  # the outcome's 7 days
    async with api.db.session() as s:
        cb = await s.get(Callback, out["callback"]["id"])
        lead = await s.get(Lead, call.lead_id)
        rs = builtin_rule_sets()["FR-2023"]
    assert (cb.lead_id, cb.campaign_id, cb.agent_id, cb.tz) == (
        call.lead_id,
        call.campaign_id,
        api.users["agent"].id,
        "Europe/Paris",
    )
    assert lead.status == "callback"
    number = m.LeadNumber(NUMBER, ("Europe/Paris",), "FR")
    from dialer.compliance import check

    assert check(m.Lead(id=0, numbers=(number,), consent=True), number, [], rs, due).allowed


async def test_given_a_callback_outcome_without_a_default_delay_when_saved_without_a_time_then_422(
    api: Api,
) -> None:
    call = await _scripted_call(api)
    answers = {"standard": "decideur", "presentation": False, "rappel_decideur": "demain 9 h"}
    async with _client(api, "agent", "login") as c:
        r = await c.post(_url(call, "/outcome"), json={"outcome": "rappel_decideur", "answers": answers})
        soon = datetime.now(UTC) + timedelta(days=1)
        ok = await c.post(
            _url(call, "/outcome"),
            json={"outcome": "rappel_decideur", "answers": answers, "callback_at": soon.isoformat()},
        )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "callback_at"]
    assert ok.status_code == 201, ok.text
    assert datetime.fromisoformat(ok.json()["callback"]["due_at"]) == soon


async def test_given_a_call_without_script_when_asked_then_the_view_says_so(api: Api) -> None:
    call = await _scripted_call(api)
    service = await _cti(api)
    pop = service.screenpop.current["PJSIP/ep-agent"]
    pop["dialer"] = None
    pop["queue"] = "no-such-queue"
    async with _client(api, "agent", "login") as c:
        r = await c.get(_url(call))
        post = await c.post(_url(call, "/outcome"), json={"outcome": "rdv_pris", "answers": {}})
    assert r.status_code == 200 and r.json()["script"] is None
    assert post.status_code == 409


async def test_given_an_inbound_queue_with_a_script_when_the_agent_reads_it_then_it_is_the_queues(
    api: Api,
) -> None:
    call = await _scripted_call(api)
    service = await _cti(api)
    pop = service.screenpop.current["PJSIP/ep-agent"]
    pop["dialer"] = None
    async with api.db.session() as s:
        q = await s.scalar(select(Queue).where(Queue.name == pop["queue"]))
        q.script = "suivi-satisfaction"
        await s.commit()
    async with _client(api, "agent", "login") as c:
        r = await c.get(_url(call))
    assert r.status_code == 200 and r.json()["script"]["id"] == "suivi-satisfaction"
    assert r.json()["lead_id"] is None


async def test_given_a_manager_when_a_calls_script_is_asked_then_403(api: Api) -> None:
    call = await _scripted_call(api)
    async with _client(api, "manager", "bearer") as c:
        r = await c.get(_url(call))
    assert r.status_code == 403


class _Dialer:
    """The engine as the outcome sees it: the call's attempt written, or still up after the wait."""

    def __init__(self, written: bool) -> None:
        self.written = written
        self.asked: list[str] = []

    async def attempt_written(self, linkedid: str, timeout: float) -> bool:
        self.asked.append(linkedid)
        return self.written


@pytest.mark.parametrize(("written", "expected"), [(True, 201), (False, 409)], ids=["written", "still_up"])
async def test_given_the_dialers_attempt_when_the_outcome_is_saved_then_it_is_awaited_first(
    api: Api, written: bool, expected: int
) -> None:
    call = await _scripted_call(api)
    before = getattr(api.app.state, "dialer", None)
    dialer = api.app.state.dialer = _Dialer(written)
    try:
        async with _client(api, "agent", "login") as c:
            r = await c.post(_url(call, "/outcome"), json={"outcome": "rdv_pris", "answers": RDV_ANSWERS})
    finally:
        api.app.state.dialer = before
    assert r.status_code == expected, r.text
    assert dialer.asked == [call.linkedid]
    async with api.db.session() as s:
        saved = list(await s.scalars(select(Interaction)))
        drafts = list(
            await s.scalars(select(ScriptDraft.answers).where(ScriptDraft.linkedid == call.linkedid))
        )
    assert len(saved) == (2 if written else 0)
    # the saved outcome drops the draft; a refused one keeps what the agent typed for the next try
    assert drafts == ([] if written else [RDV_ANSWERS])
