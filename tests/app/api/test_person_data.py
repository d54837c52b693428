"""The customer's data rights through the API, on SQLite and PostgreSQL: a person seeded in every kind of
record is exported whole, then erased so that no column of any table (read from the database itself, so
tables added later are scanned too) holds their number, name or e-mail, while the reports' totals stay the
same and an old list or customer file with their number is skipped."""

from __future__ import annotations

import io
import json
import math
import re
import struct
import wave
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from app import person_data
from app.customer_import import import_customers
from core import tombstones
from core.bus_tables import BusSpill
from core.dialer_tables import (
    Callback,
    CallbackSource,
    CallList,
    Campaign,
    DncEntry,
    ImportJob,
    ImportReject,
    Lead,
    LeadAttempt,
    LeadNumber,
    RejectKind,
)
from core.ivr_tables import IvrSession
from core.models import (
    AuditLog,
    Call,
    CallDirection,
    Complaint,
    Contact,
    Interaction,
    InteractionKind,
    OpenCall,
    Recording,
    RecordingPause,
    ScriptDraft,
    SurveyAnswer,
)
from core.recording_store import spoken_key, store_for
from dialer.list_import import ImportOptions, import_file
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db
DAY = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
PERIOD = {"since": "2026-03-10T00:00:00+01:00", "until": "2026-03-11T00:00:00+01:00"}
MOBILE, NATIONAL, LANDLINE = "+33612345678", "06 12 34 56 78", "+33198765432"
EMAIL, FIRST, LAST = "Zebulon.Q@Exemple.fr", "Zébulon", "Quintavalle"
# every form of the person that must be gone after erasure (compared without case)
NEEDLES = [MOBILE, "0612345678", "612345678", NATIONAL, LANDLINE, "198765432", EMAIL, FIRST, LAST]
RECORDING_KEY, COMMENT_KEY = "p.1.wav", spoken_key("comment", "p.1", 0)  # as the IVR names it


@pytest.fixture(autouse=True)
def recordings_folder(api: Api, tmp_path: Path) -> Path:
    """The recording store of these tests: a folder of their own (the store is built from the settings)."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    api.app.state.settings = api.app.state.settings.model_copy(update={"recordings_dir": folder})
    return folder


def _tone(seconds: float) -> bytes:
    """A real WAV file: 8 kHz mono, a tone (not silence)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(i / 5))) for i in range(int(seconds * 8000)))
        )
    return buf.getvalue()


AUDIO, COMMENT_AUDIO = _tone(1.0), _tone(0.5)


def _pop(number: str, name: str) -> str:
    """A spilled bus event as the relay writes it (UTF-8 JSON, like orjson's: accents unescaped)."""
    pop = {"a": ["user", 1], "p": {"type": "pop", "caller": number, "name": name}}
    return json.dumps(pop, ensure_ascii=False)


async def _seed(api: Api) -> int:
    """The person in every kind of record (their contact made through the API, so the audit log quotes a
    number), and another customer beside them."""
    admin = await api.bearer("admin")
    r = await admin.post("/api/v1/accounts", json={"name": "Acme"})
    account_id = r.json()["id"]
    r = await admin.post(
        "/api/v1/contacts",
        json={
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAIL,
            "account_id": account_id,
            "numbers": [{"number": NATIONAL, "kind": "mobile"}],
        },
    )
    assert r.status_code == 201, r.text
    contact_id = r.json()["id"]
    r = await admin.post(f"/api/v1/contacts/{contact_id}/numbers", json={"number": "01 98 76 54 32"})
    assert r.status_code == 201, r.text
    r = await admin.post(
        "/api/v1/contacts", json={"last_name": "Autre", "numbers": [{"number": "+33699999999"}]}
    )
    other_id = r.json()["id"]
    async with api.db.session() as s:
        calls = [
            # inbound, the number as the trunk sent it
            Call(linkedid="p.1", direction=CallDirection.inbound, caller_number="0612345678",
                 caller_name=f"{LAST.upper()} {FIRST}", called_number="0100000000", queue="support",
                 contact_id=contact_id, offered_at=DAY, answered_at=DAY + timedelta(seconds=4),
                 ended_at=DAY + timedelta(seconds=90), talk_s=86, outcome="answered"),
            # outbound to their number, before the contact existed
            Call(linkedid="p.2", direction=CallDirection.outbound, caller_number="0100000000",
                 called_number=MOBILE, queue="outbound", offered_at=DAY + timedelta(hours=1),
                 outcome="no_answer"),
            Call(linkedid="o.1", direction=CallDirection.inbound, caller_number="+33699999999",
                 queue="support", contact_id=other_id, offered_at=DAY + timedelta(hours=2),
                 answered_at=DAY + timedelta(hours=2, seconds=3), outcome="answered"),
        ]  # fmt: skip
        s.add_all(calls)
        await s.flush()
        s.add_all(
            [
                Interaction(contact_id=contact_id, kind=InteractionKind.note, call_id=calls[0].id,
                            body=f"{FIRST} rappelle au {NATIONAL}", at=DAY + timedelta(minutes=2)),
                Complaint(contact_id=contact_id, call_id=calls[0].id, category="billing",
                          description=f"M. {LAST} conteste la facture", received_at=DAY,
                          ack_due_at=DAY + timedelta(days=14), answer_due_at=DAY + timedelta(days=60)),
                IvrSession(linkedid="p.1", uniqueid="p.1", flow="main", did="0100000000", caller="0612345678",
                           started_at=DAY, digits="4242", path=["welcome", "menu"], exit_kind="queue"),
                OpenCall(linkedid="p.3", data={"caller_number": "0612345678", "caller_name": LAST},
                         noted_at=DAY),
            ]
        )  # fmt: skip
        cl = CallList(name="Prospects 2025")
        campaign = Campaign(name="Relance", rule_set="FR-2023")
        s.add_all([cl, campaign])
        await s.flush()
        lead = Lead(list_id=cl.id, fields={"first_name": FIRST, "last_name": LAST, "email": EMAIL.lower()},
                    status="new", source_line=2)  # fmt: skip
        s.add(lead)
        await s.flush()
        s.add_all(
            [
                LeadNumber(lead_id=lead.id, list_id=cl.id, e164=MOBILE, tz="Europe/Paris", raw=NATIONAL),
                LeadAttempt(lead_id=lead.id, campaign_id=campaign.id, e164=MOBILE, started_at=DAY,
                            ended_at=DAY + timedelta(seconds=20), result="no_answer"),
                Callback(number_e164=MOBILE, contact_id=contact_id, due_at=DAY + timedelta(days=1),
                         tz="Europe/Paris", source=CallbackSource.agent, note=f"rappeler {FIRST}"),
            ]
        )  # fmt: skip
        job = ImportJob(list_id=cl.id, filename="old.csv")
        s.add(job)
        await s.flush()
        s.add(ImportReject(job_id=job.id, line=7, kind=RejectKind.duplicate,
                           reason=f"duplicate of line 2 ({MOBILE})"))  # fmt: skip
        # their call was recorded (paused once at the desk) and they answered the survey with a comment
        folder = api.app.state.settings.recordings_dir
        (folder / RECORDING_KEY).write_bytes(AUDIO)
        (folder / COMMENT_KEY).write_bytes(COMMENT_AUDIO)
        s.add_all(
            [
                Recording(linkedid="p.1", storage_key=RECORDING_KEY, queue="support",
                          agent_id=api.users["agent"].id, started_at=DAY + timedelta(seconds=4),
                          ended_at=DAY + timedelta(seconds=90), duration_s=1.0, size_bytes=len(AUDIO),
                          expires_at=DAY + timedelta(days=90)),
                RecordingPause(linkedid="p.1", paused=True, source="desk", user_id=api.users["agent"].id,
                               at=DAY + timedelta(seconds=30)),
                SurveyAnswer(linkedid="p.1", flow="survey", caller_number="0612345678", contact_id=contact_id,
                             agent_id=api.users["agent"].id, queue="support", csat=2, nps=4,
                             comment_path=f"{folder}/{COMMENT_KEY}",
                             answered_at=DAY + timedelta(seconds=120)),
                # script answers typed and not saved: on their ended call, on their call still up, and on
                # the other customer's call (which stays)
                ScriptDraft(linkedid="p.1", user_id=api.users["agent"].id, updated_at=DAY,
                            answers={"standard": "decideur", "email_confirmation": EMAIL}),
                ScriptDraft(linkedid="p.3", user_id=api.users["agent2"].id, updated_at=DAY,
                            answers={"standard": "filtre", "participants": f"{FIRST} {LAST}"}),
                ScriptDraft(linkedid="o.1", user_id=api.users["agent"].id, updated_at=DAY,
                            answers={"standard": "filtre"}),
                # the bus between nodes' spilled events (a pop too large for a NOTIFY): theirs, the other's
                BusSpill(sender="node-a/1", seq=7, payload=_pop("0612345678", f"{FIRST} {LAST}")),
                BusSpill(sender="node-a/1", seq=8, payload=_pop("+33699999999", "Autre")),
            ]
        )  # fmt: skip
        await s.commit()
    r = await admin.post("/api/v1/persons/objection", json={"number": MOBILE})
    assert r.status_code == 200, r.text
    assert r.json()["dnc_added"] == 2  # both numbers of the contact
    return contact_id


async def _export(api: Api, **query: Any) -> zipfile.ZipFile:
    admin = await api.bearer("admin")
    r = await admin.get("/api/v1/persons/export", params=query)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content))


async def test_given_a_person_in_every_kind_of_record_when_exported_then_the_zip_holds_each_kind(
    api: Api,
) -> None:
    contact_id = await _seed(api)
    for query in ({"number": "06.12.34.56.78"}, {"email": EMAIL.upper()}, {"contact_id": contact_id}):
        zf = await _export(api, **query)
        manifest = json.loads(zf.read("person.json"))
        assert manifest["contact_ids"] == [contact_id]
        assert manifest["numbers"] == [LANDLINE, MOBILE]
        empty = [name for name, n in manifest["counts"].items() if n == 0]
        assert not empty, f"{query}: nothing exported for {empty}"
        assert set(manifest["counts"]) == set(person_data.SOURCES)
        for name in person_data.SOURCES:
            rows = json.loads(zf.read(f"{name}.json"))
            assert len(rows) == manifest["counts"][name]
            assert zf.read(f"{name}.csv").decode("utf-8-sig").count("\r\n") == len(rows) + 1
    calls = json.loads(zf.read("calls.json"))
    assert {c["linkedid"] for c in calls} == {"p.1", "p.2"}  # the other customer's call is not theirs
    drafts = json.loads(zf.read("script_drafts.json"))
    assert sorted(d["linkedid"] for d in drafts) == ["p.1", "p.3"]
    assert json.loads(zf.read("contacts.json"))[0]["email"] == EMAIL
    async with api.db.session() as s:
        actions = list(await s.scalars(select(AuditLog.action).where(AuditLog.action == "person_exported")))
    assert len(actions) == 3


async def _table_rows(api: Api) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the database holds (reflected, not the models: nothing escapes)."""
    async with api.db.engine.connect() as conn:
        meta = MetaData()
        await conn.run_sync(meta.reflect)
        out = {}
        for table in meta.sorted_tables:
            out[table.name] = [dict(r._mapping) for r in await conn.execute(select(table))]
    return out


async def _reports(api: Api) -> dict[str, Any]:
    manager = await api.bearer("manager")
    out = {}
    paths = ("/api/v1/reports/queues", "/api/v1/reports/care", "/api/v1/campaign-reports",
             "/api/v1/reports/satisfaction")  # fmt: skip
    for path in paths:
        r = await manager.get(path, params=PERIOD)
        assert r.status_code == 200, (path, r.text)
        out[path] = r.json()
    return out


async def test_given_a_seeded_person_when_erased_then_no_column_of_any_table_holds_them(api: Api) -> None:
    contact_id = await _seed(api)
    before = await _reports(api)
    tables = await _table_rows(api)
    found_before = {t for t, rows in tables.items() for row in rows if _holds_person(row)}
    held = {"contacts", "phone_numbers", "calls", "leads", "audit_log", "dnc_entries", "script_drafts",
            "bus_spill"}  # fmt: skip
    assert held <= found_before

    admin = await api.bearer("admin")
    r = await admin.post("/api/v1/persons/erase", json={"number": NATIONAL, "confirm": True})
    assert r.status_code == 200, r.text
    assert r.json()["tombstones"] == 3  # two numbers, one e-mail

    leaks = [
        f"{t}: {row}" for t, rows in (await _table_rows(api)).items() for row in rows if _holds_person(row)
    ]
    assert not leaks, "\n".join(leaks)
    assert await _reports(api) == before
    async with api.db.session() as s:
        contact = await s.get(Contact, contact_id)
        assert contact is not None and contact.last_name == person_data.ERASED  # counted by the care report
        assert await s.scalar(select(Complaint.status).where(Complaint.contact_id == contact_id)) == "open"
        erased = await s.scalar(select(AuditLog).where(AuditLog.action == "person_erased"))
        assert erased is not None and erased.user_id == api.users["admin"].id
        assert not list(await s.scalars(select(DncEntry.e164)))
        assert list(await s.scalars(select(ScriptDraft.linkedid))) == ["o.1"]  # the other customer's
        assert list(await s.scalars(select(BusSpill.seq))) == [8]  # the other customer's spilled pop
    # a second erasure finds nothing left but is not an error (the tombstones are already there)
    r = await admin.post("/api/v1/persons/erase", json={"number": MOBILE, "confirm": True})
    assert r.status_code == 200 and r.json()["tombstones"] == 1


def _holds_person(row: dict[str, Any]) -> bool:
    text = " ".join(json.dumps(v, default=str, ensure_ascii=False) for v in row.values()).lower()
    return any(n.lower() in text for n in NEEDLES)


async def test_given_recordings_when_a_person_is_erased_then_their_files_are_gone(
    api: Api, recordings_folder: Path
) -> None:
    contact_id = await _seed(api)
    other = recordings_folder / "o.1.wav"  # another customer's call: untouched
    other.write_bytes(AUDIO)
    zf = await _export(api, number=MOBILE)
    [recording] = json.loads(zf.read("recordings.json"))
    assert recording["linkedid"] == "p.1" and recording["pauses"][0]["source"] == "desk"
    assert zf.read(f"recordings/{recording['id']}.wav") == AUDIO
    [answer] = json.loads(zf.read("survey_answers.json"))
    assert (answer["csat"], answer["nps"]) == (2, 4)
    assert zf.read(f"survey_comments/{answer['id']}.wav") == COMMENT_AUDIO
    assert str(recordings_folder) not in json.dumps(recording)  # a key, never where the store keeps it
    before = await _reports(api)

    admin = await api.bearer("admin")
    r = await admin.post("/api/v1/persons/erase", json={"number": NATIONAL, "confirm": True})
    assert r.status_code == 200, r.text
    assert r.json()["files_not_removed"] == []
    assert r.json()["counts"]["recordings"] == 1 and r.json()["counts"]["survey_answers"] == 1
    store = store_for(api.app.state.settings)
    assert [await store.size(k) for k in (RECORDING_KEY, COMMENT_KEY)] == [None, None]
    assert await store.size("o.1.wav") == len(AUDIO)
    leaks = [
        f"{t}: {row}" for t, rows in (await _table_rows(api)).items() for row in rows if _holds_person(row)
    ]
    assert not leaks, "\n".join(leaks)
    assert await _reports(api) == before
    async with api.db.session() as s:
        rec = await s.scalar(select(Recording).where(Recording.linkedid == "p.1"))
        assert rec is not None and rec.purged_at is not None  # the row stays as proof, its file is gone
        kept = await s.scalar(select(SurveyAnswer).where(SurveyAnswer.linkedid == "p.1"))
        assert kept is not None and (kept.csat, kept.nps) == (2, 4)  # the satisfaction figures count them
        assert (kept.caller_number, kept.comment_path) == (None, None)
    zf = await _export(api, contact_id=contact_id)
    assert not [n for n in zf.namelist() if n.endswith(".wav")]  # nothing left to hear


async def test_given_an_erased_person_when_an_old_list_is_imported_then_their_line_is_skipped(
    api: Api, tmp_path: Path
) -> None:
    await _seed(api)
    admin = await api.bearer("admin")
    assert (
        await admin.post("/api/v1/persons/erase", json={"email": EMAIL, "confirm": True})
    ).status_code == 200
    # the server's tombstone key is the one its settings give; the importers below are given it too
    key = api.app.state.settings.tombstone_key()
    old = tmp_path / "old.csv"
    old.write_text(
        f"Nom;Prénom;Téléphone;Email\n{LAST};{FIRST};{NATIONAL};\nMartin;Léa;06 55 44 33 22;\n"
        f"Sans;Numéro;06 11 22 33 44;{EMAIL}\n",
        encoding="utf-8",
    )
    async with api.db.session() as s:
        cl = CallList(name="Reprise")
        s.add(cl)
        await s.commit()
        counters = await import_file(s, old, ImportOptions(list_id=cl.id, tombstone_key=key))
    assert (counters.accepted, counters.erased) == (1, 2)
    async with api.db.session() as s:
        numbers = set(await s.scalars(select(LeadNumber.e164).join(Lead).where(Lead.list_id == cl.id)))
    assert numbers == {"+33655443322"}

    async with api.db.session() as s:
        report = await import_customers(s, old, "FR", tombstone_key=key)
    assert report.imported == 1
    assert report.rejected == [
        (2, tombstones.ERASED_REASON),
        (4, tombstones.ERASED_REASON),
    ]
    leaks = [
        f"{t}: {row}" for t, rows in (await _table_rows(api)).items() for row in rows if _holds_person(row)
    ]
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "loc"),
    [
        ("get", "/api/v1/persons", {"number": "06 12 ab 34"}, 422, ["query", "number"]),
        ("get", "/api/v1/persons", {"number": "+33 6\n12"}, 422, ["query", "number"]),
        ("get", "/api/v1/persons", {"email": "not-an-email"}, 422, ["query", "email"]),
        ("get", "/api/v1/persons", {}, 422, ["query"]),
        ("get", "/api/v1/persons", {"number": MOBILE, "email": EMAIL}, 422, ["query"]),
        ("get", "/api/v1/persons", {"contact_id": "0"}, 422, ["query", "contact_id"]),
        ("get", "/api/v1/persons", {"contact_id": "abc"}, 422, ["query", "contact_id"]),
        ("get", "/api/v1/persons/export", {"contact_id": "987654"}, 404, None),
        ("post", "/api/v1/persons/erase", {"contact_id": 987654, "confirm": True}, 404, None),
        ("post", "/api/v1/persons/erase", {"number": MOBILE}, 422, ["body", "confirm"]),
        ("post", "/api/v1/persons/erase", {"number": MOBILE, "confirm": False}, 422, ["body", "confirm"]),
        ("post", "/api/v1/persons/erase", {"number": "1" * 200, "confirm": True}, 422, ["body", "number"]),
        ("post", "/api/v1/persons/objection", {"number": "=HYPERLINK(1)"}, 422, ["body", "number"]),
        ("post", "/api/v1/persons/objection", {"email": "nobody@exemple.fr"}, 422, ["body"]),
        ("post", "/api/v1/persons/objection", {"number": MOBILE, "extra": 1}, 422, ["body", "extra"]),
    ],
)
async def test_given_hostile_input_when_asked_then_a_clear_4xx(
    api: Api, method: str, path: str, params: dict[str, Any], status: int, loc: list[str] | None
) -> None:
    admin = await api.bearer("admin")
    if method == "get":
        r = await admin.get(path, params=params)
    else:
        r = await admin.post(path, json=params)
    assert r.status_code == status, r.text
    if loc is not None:
        assert any(e["loc"][: len(loc)] == loc for e in r.json()["detail"]), r.text


@pytest.mark.parametrize("role", ["agent", "supervisor", "manager"])
async def test_given_a_user_who_is_not_an_admin_when_asking_then_403(api: Api, role: str) -> None:
    client = await api.bearer(role)
    assert (await client.get("/api/v1/persons", params={"number": MOBILE})).status_code == 403
    assert (await client.get("/api/v1/persons/export", params={"number": MOBILE})).status_code == 403
    r = await client.post("/api/v1/persons/erase", json={"number": MOBILE, "confirm": True})
    assert r.status_code == 403


async def test_given_a_person_when_looked_up_then_counts_and_an_audit_row(api: Api) -> None:
    contact_id = await _seed(api)
    admin = await api.bearer("admin")
    r = await admin.get("/api/v1/persons", params={"number": "0033 6 12 34 56 78"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["contact_ids"] == [contact_id] and body["counts"]["calls"] == 2
    async with api.db.session() as s:
        row = await s.scalar(select(AuditLog).where(AuditLog.action == "person_looked_up"))
    assert row is not None and row.target_id == str(contact_id)
    assert MOBILE not in json.dumps(row.detail)


async def test_given_the_admin_page_when_finding_objecting_and_erasing_then_it_speaks_french_and_acts(
    api: Api,
) -> None:
    contact_id = await _seed(api)
    c = await api.login("admin")  # a browser: the session cookie, the form's CSRF token, French by default
    page = await c.get("/admin/persons", params={"number": "06 12 34 56 78"})
    assert page.status_code == 200, page.text
    assert "Droits des personnes" in page.text and "Passages dans le SVI" in page.text
    assert "Enregistrements d'appels" in page.text and "Réponses aux enquêtes" in page.text
    assert "/api/v1/persons/export?number=06+12+34+56+78" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"number": "06 12 34 56 78", "csrf_token": csrf.group(1)}
    r = await c.post("/admin/persons/objection", data=form)
    assert r.status_code == 200 and "Opposition enregistrée" in r.text
    r = await c.post("/admin/persons/erase", data=form)  # the box is not ticked: nothing erased
    assert r.status_code == 200 and "Cochez la case" in r.text
    r = await c.post("/admin/persons/erase", data=form | {"csrf_token": "forged", "confirm": "yes"})
    assert r.status_code == 403
    r = await c.post("/admin/persons/erase", data=form | {"confirm": "yes"})
    assert r.status_code == 200 and "Effacé" in r.text
    async with api.db.session() as s:
        assert (await s.get(Contact, contact_id)).last_name == person_data.ERASED  # type: ignore[union-attr]
    r = await c.get("/admin/persons", params={"number": "06 12 ab"})
    assert r.status_code == 422 and "Téléphone :" in r.text
    r = await c.get("/admin/persons", params={"contact_id": "987654"})
    assert r.status_code == 404 and "Ce contact n'existe pas" in r.text.replace("&#39;", "'")
    agent = await api.login("agent")
    assert (await agent.get("/admin/persons", params={"number": MOBILE})).status_code == 403
