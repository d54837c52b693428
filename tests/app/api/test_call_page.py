"""The call page /calls/{id} on both engines: who may open it (the rules of /calls, and a call out of scope
answers like one that does not exist), hostile caller ID escaped, the timelines' player only for a recording
one may hear, each listen audited, French and English, and the links to it from the contact and complaints
pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select

from core.models import (
    AuditLog,
    Call,
    CallDirection,
    ComplaintStatus,
    Contact,
    Interaction,
    InteractionKind,
    Recording,
    SurveyAnswer,
    utcnow,
)
from tests.app.api.conftest import Api
from tests.app.api.recording_seed import Seeded, add_complaint, seed_recorded_call

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
PLAYER = re.compile(rb'<audio controls preload="none" src="(/api/v1/recordings/\d+/audio)"')


@pytest_asyncio.fixture
async def seeded(api: Api, tmp_path: Path) -> AsyncIterator[Seeded]:
    yield await seed_recorded_call(api, tmp_path)


async def _call(api: Api, linkedid: str, agent: str, **fields: object) -> int:
    now = utcnow()
    async with api.db.session() as s:
        call = Call(
            linkedid=linkedid, direction=CallDirection.inbound, caller_number="+33145678901", queue="sales",
            agent_id=api.users[agent].id, offered_at=now - timedelta(minutes=5), outcome="answered", **fields,
        )  # fmt: skip
        s.add(call)
        await s.commit()
        return call.id


@pytest.mark.parametrize(
    ("user", "sees"),
    [("agent", True), ("supervisor", True), ("manager", True), ("admin", True), ("agent2", False)],
)
async def test_given_the_agents_call_when_each_role_opens_its_page_then_by_the_calls_rules(
    api: Api, seeded: Seeded, user: str, sees: bool
) -> None:
    c = await api.login(user)
    r = await c.get(f"/calls/{seeded.call_id}", headers={"Accept": "text/html"})
    assert r.status_code == (200 if sees else 404)
    assert (b"06 12 34 56 78" in r.content) is sees  # the caller's number, in the phone filter's form
    assert (f'src="/api/v1/recordings/{seeded.rec_id}/audio"'.encode() in r.content) is sees


async def test_given_a_call_out_of_scope_when_opened_then_the_same_404_as_a_call_that_does_not_exist(
    api: Api, seeded: Seeded
) -> None:
    other_team = await _call(api, "1765000000.7", "agent2", caller_name="Secret Caller")
    supervisor = await api.login("supervisor")  # team A; agent2 is in team B
    hidden = await supervisor.get(f"/calls/{other_team}", headers={"Accept": "text/html"})
    missing = await supervisor.get(f"/calls/{other_team + 1000}", headers={"Accept": "text/html"})
    assert hidden.status_code == missing.status_code == 404
    same = hidden.text.replace(f"/calls/{other_team}", "/calls/N")  # the page names its path (language form)
    assert same == missing.text.replace(f"/calls/{other_team + 1000}", "/calls/N")
    assert "Secret Caller" not in hidden.text
    agent = await api.login("agent")
    assert (await agent.get(f"/calls/{other_team}")).status_code == 404
    assert (await (await api.login("agent2")).get(f"/calls/{other_team}")).status_code == 200
    for bad in ("abc", "-1", "0", "1e3", "9" * 30):
        assert (await agent.get(f"/calls/{bad}")).status_code == 404, bad
    signed_out = await api.client().get(f"/calls/{seeded.call_id}")
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")


async def test_given_hostile_caller_id_and_contact_name_when_the_page_shows_then_escaped(api: Api) -> None:
    async with api.db.session() as s:
        contact = Contact(first_name=HOSTILE, last_name="Durand")
        s.add(contact)
        await s.commit()
        contact_id = contact.id
    call_id = await _call(api, "1765000000.8", "agent", caller_name=HOSTILE, contact_id=contact_id)
    async with api.db.session() as s:
        (await s.get(Call, call_id)).caller_number = HOSTILE  # type: ignore[union-attr]
        await s.commit()
    r = await (await api.login("agent")).get(f"/calls/{call_id}")
    assert r.status_code == 200
    assert HOSTILE not in r.text and "<script>alert" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert f'href="/contacts/{contact_id}"' in r.text


async def test_given_calls_with_and_without_recording_when_shown_then_a_player_only_for_a_playable_one(
    api: Api, seeded: Seeded
) -> None:
    agent = await api.login("agent")
    plain = await _call(api, "1765000000.9", "agent")
    r = await agent.get(f"/calls/{plain}")
    assert r.status_code == 200 and b"<audio" not in r.content
    assert "Cet appel n'a pas été enregistré.".encode() in r.content
    with_rec = await agent.get(f"/calls/{seeded.call_id}")
    assert len(PLAYER.findall(with_rec.content)) == 1
    assert "suspendu de 0 s à 1 s par Agent".encode() in with_rec.content  # the timeline's player, as is
    async with api.db.session() as s:
        (await s.get(Recording, seeded.rec_id)).purged_at = utcnow()  # type: ignore[union-attr]
        await s.commit()
    purged = await agent.get(f"/calls/{seeded.call_id}")
    assert b"<audio" not in purged.content and "Enregistrement supprimé".encode() in purged.content


async def test_given_the_pages_player_when_played_then_the_listen_is_audited_for_who_heard(
    api: Api, seeded: Seeded
) -> None:
    supervisor = await api.login("supervisor")
    page = await supervisor.get(f"/calls/{seeded.call_id}")
    (src,) = PLAYER.findall(page.content)
    audio = await supervisor.get(src.decode(), headers={"Range": "bytes=0-"})
    assert audio.status_code == 206 and audio.content == seeded.audio
    async with api.db.session() as s:
        rows = list(await s.scalars(select(AuditLog).where(AuditLog.action == "recording_listened")))
    assert [(a.user_id, a.target_id) for a in rows] == [(api.users["supervisor"].id, str(seeded.rec_id))]


async def test_given_a_full_call_when_shown_then_french_by_default_and_english_for_an_english_user(
    api: Api, seeded: Seeded
) -> None:
    async with api.db.session() as s:
        call = await s.get(Call, seeded.call_id)
        assert call is not None
        call.contact_id, call.wait_s, call.hold_s = seeded.contact_id, 75.0, 12.0
        s.add(SurveyAnswer(linkedid=call.linkedid, flow="survey", csat=4, nps=9, answered_at=utcnow()))
        s.add(Interaction(contact_id=seeded.contact_id, kind=InteractionKind.disposition,
                          call_id=call.id, disposition_code="sale"))  # fmt: skip
        await s.commit()
    complaint = await add_complaint(api, seeded.contact_id, ComplaintStatus.open, call_id=seeded.call_id)
    agent = await api.login("agent")
    fr = (await agent.get(f"/calls/{seeded.call_id}")).text
    for said in (f"Appel n° {seeded.call_id}", "Appelant", "Issue", "Appel décroché", "Temps de conversation",
                 "1:15", "0:12", "4/5", "Durand", "File", "support", "sale"):  # fmt: skip
        assert said in fr, said
    assert f'href="/complaints#complaint-{complaint}"' in fr
    assert f'href="/contacts/{seeded.contact_id}"' in fr
    await (await api.bearer("admin")).patch(f"/api/v1/users/{api.users['agent'].id}", json={"language": "en"})
    en = (await agent.get(f"/calls/{seeded.call_id}")).text
    for said in (f"Call #{seeded.call_id}", "Caller", "Outcome", "Answered call", "Wait time", "Survey"):
        assert said in en, said
    assert "Appelant" not in en


async def test_given_calls_on_the_timeline_and_complaints_when_listed_then_linked_for_who_may_open_them(
    api: Api, seeded: Seeded
) -> None:
    async with api.db.session() as s:
        s.add(Interaction(contact_id=seeded.contact_id, kind=InteractionKind.call, call_id=seeded.call_id))
        await s.commit()
    complaint = await add_complaint(api, seeded.contact_id, ComplaintStatus.open, call_id=seeded.call_id)
    link = f'href="/calls/{seeded.call_id}"'
    for user, linked in (("agent", True), ("supervisor", True), ("manager", True), ("agent2", False)):
        c = await api.login(user)
        for url in (f"/contacts/{seeded.contact_id}", "/complaints"):
            r = await c.get(url)
            assert r.status_code == 200 and (link in r.text) is linked, (user, url)
    assert f'id="complaint-{complaint}"' in (await (await api.login("agent")).get("/complaints")).text
