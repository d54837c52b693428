"""Outbound REST API over the real app: uploads and their report, campaigns and their state machine,
rule sets, DNC lists, callbacks, and who may do what. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from core.models import AuditLog, Queue
from tests.conftest import wait_for
from tests.dialer.conftest import Api
from tests.dialer.files import bom_csv, french_csv, xlsx

pytestmark = pytest.mark.db


async def _queue(api: Api) -> int:
    async with api.db.session() as s:
        q = Queue(name="ventes", display_name="Ventes")
        s.add(q)
        await s.commit()
        return q.id


def _files(path: Path) -> dict[str, tuple[str, bytes]]:
    return {"file": (path.name, path.read_bytes())}


async def _upload(client, list_id: int, path: Path, **form: str):  # type: ignore[no-untyped-def]
    return await client.post(f"/api/v1/lists/{list_id}/imports", files=_files(path), data=form)


async def _finished(client, job_id: int) -> dict:  # type: ignore[no-untyped-def]
    state: dict = {}

    async def done() -> bool:
        r = await client.get(f"/api/v1/imports/{job_id}")
        state.update(r.json())
        return r.json()["status"] != "running"

    await wait_for(done, timeout=30, what=f"import {job_id} to end")
    return state


async def test_given_a_manager_when_uploading_a_list_then_progress_ends_done_and_the_report_downloads(
    api: Api, tmp_path: Path
) -> None:
    client = await api.login("manager")  # a browser session: cookie + CSRF header on the multipart upload
    r = await client.post("/api/v1/lists", json={"name": "Boulangeries"})
    assert r.status_code == 201, r.text
    list_id = r.json()["id"]
    rows = [
        "Mme;Lefèvre;Hélène;;06 12 34 56 78;;Paris;oui;",
        "M.;X;Y;;=2+5;;;oui;",
        "Mme;Z;W;;06 12 34 56 78;;;oui;",
    ]
    r = await _upload(client, list_id, french_csv(tmp_path, rows))
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "running"
    job = await _finished(client, r.json()["id"])
    assert (
        job["status"],
        job["rows"],
        job["accepted"],
        job["invalid"],
        job["duplicates"],
        job["percent"],
    ) == ("done", 3, 1, 1, 1, 100.0)
    r = await client.get(f"/api/v1/imports/{job['id']}/report.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff")), delimiter=";"))
    assert ["line", "kind", "reason"] in lines
    body = lines[lines.index(["line", "kind", "reason"]) + 1 :]
    assert [(ln, kind) for ln, kind, _ in body] == [("3", "invalid"), ("4", "duplicate")]
    assert (await client.get(f"/api/v1/lists/{list_id}")).json()["lead_count"] == 1
    r = await client.get(f"/api/v1/imports/{job['id']}/rejects", params={"limit": 1})
    assert r.json() == [{"line": 3, "kind": "invalid", "reason": body[0][2]}]


async def test_given_a_saved_template_when_uploading_an_xlsx_with_it_then_the_mapping_applies(
    api: Api, tmp_path: Path
) -> None:
    client = await api.bearer("manager")
    r = await client.post(
        "/api/v1/list-templates",
        json={
            "name": "Salon",
            "mapping": {"Téléphone": "number:mobile", "Nom": "last_name", "Note": "ignore"},
        },
    )
    assert r.status_code == 201, r.text
    tpl = r.json()["id"]
    list_id = (await client.post("/api/v1/lists", json={"name": "Salon 2026"})).json()["id"]
    path = xlsx(tmp_path, [["Durand", "Léa", "06 11 22 33 44", "oui", "=1+1"]])
    job = await _finished(client, (await _upload(client, list_id, path, template_id=str(tpl))).json()["id"])
    assert (job["status"], job["accepted"]) == ("done", 1)
    r = await client.post("/api/v1/list-templates", json={"name": "Bad", "mapping": {"Nom": "salary"}})
    assert r.status_code == 422 and "salary" in r.text


async def test_given_a_binary_upload_when_imported_then_it_is_refused_or_the_job_fails_with_a_clear_error(
    api: Api, tmp_path: Path
) -> None:
    client = await api.bearer("manager")
    list_id = (await client.post("/api/v1/lists", json={"name": "L"})).json()["id"]
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    r = await _upload(client, list_id, path)  # binary from its first bytes: refused before any job
    assert r.status_code == 422 and "not a text file" in r.text
    assert (await client.get(f"/api/v1/lists/{list_id}")).json()["lead_count"] == 0
    path.write_bytes(b"Nom;Portable\r\n" + b"Martin;0612345678\r\n" * 5000 + b"\x00\x01")
    job = await _finished(client, (await _upload(client, list_id, path)).json()["id"])  # binary far in
    assert job["status"] == "failed" and "not a text file" in job["error"] and job["accepted"] == 0
    r = await _upload(client, list_id, bom_csv(tmp_path), mapping="{not json")
    assert r.status_code == 422 and "mapping" in r.text


@pytest.mark.parametrize("who", ["agent", "supervisor"])
async def test_given_a_non_manager_when_using_outbound_admin_routes_then_403(api: Api, who: str) -> None:
    client = await api.bearer(who)
    for method, url, body in [
        ("get", "/api/v1/lists", None),
        ("post", "/api/v1/lists", {"name": "x"}),
        ("get", "/api/v1/campaigns", None),
        ("post", "/api/v1/campaigns", {"name": "x"}),
        ("get", "/api/v1/dnc-lists", None),
        ("get", "/api/v1/rule-sets", None),
    ]:
        r = await getattr(client, method)(url, **({"json": body} if body is not None else {}))
        assert r.status_code == 403, (method, url, r.status_code)
    assert (await api.client().get("/api/v1/campaigns")).status_code == 401


async def _campaign(api: Api, client, **extra):  # type: ignore[no-untyped-def]
    list_id = (await client.post("/api/v1/lists", json={"name": f"L-{extra.get('name', 'c')}"})).json()["id"]
    body = {
        "name": "Relance",
        "list_ids": [list_id],
        "queue_id": await _queue(api),
        "dial_mode": "progressive",
        "caller_id": "01 70 38 00 00",
        "script": "b2b-rdv-barrage",
        "rule_set": "FR-2023",
        "amd_enabled": True,
        "amd_machine_action": "message",
    } | extra
    r = await client.post("/api/v1/campaigns", json=body)
    assert r.status_code == 201, r.text
    return r.json(), list_id


async def test_given_a_campaign_when_walking_the_state_machine_then_legal_moves_pass_and_others_are_409(
    api: Api, tmp_path: Path
) -> None:
    client = await api.bearer("manager")
    camp, list_id = await _campaign(api, client)
    assert (camp["state"], camp["caller_id"], camp["list_ids"]) == ("draft", "+33170380000", [list_id])
    url = f"/api/v1/campaigns/{camp['id']}/transition"
    r = await client.post(url, json={"to": "running"})
    assert r.status_code == 409 and "hold no leads" in r.json()["detail"]
    await _finished(client, (await _upload(client, list_id, french_csv(tmp_path))).json()["id"])
    steps = [
        ("paused", 409, "a draft campaign cannot become paused"),
        ("running", 200, None),
        ("running", 409, "already running"),
        ("paused", 200, None),
        ("running", 200, None),
        ("draft", 409, "cannot become draft"),
        ("stopped", 200, None),
        ("running", 409, "none (it is over)"),
    ]
    for to, status, message in steps:
        r = await client.post(url, json={"to": to})
        assert r.status_code == status, (to, r.text)
        if message:
            assert message in r.json()["detail"]
    final = (await client.get(f"/api/v1/campaigns/{camp['id']}")).json()
    assert final["state"] == "stopped" and final["state_changed_by"] == api.users["manager"].id
    async with api.db.session() as s:
        moves = [
            (a.detail["from"], a.detail["to"])
            for a in await s.scalars(
                select(AuditLog).where(AuditLog.action == "campaign_state_changed").order_by(AuditLog.id)
            )
        ]
    assert moves == [
        ("draft", "running"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "stopped"),
    ]


async def test_given_a_running_campaign_when_editing_then_locked_fields_wait_for_a_pause(
    api: Api, tmp_path: Path
) -> None:
    client = await api.bearer("manager")
    camp, list_id = await _campaign(api, client)
    await _finished(client, (await _upload(client, list_id, french_csv(tmp_path))).json()["id"])
    url = f"/api/v1/campaigns/{camp['id']}"
    assert (await client.post(f"{url}/transition", json={"to": "running"})).status_code == 200
    r = await client.patch(url, json={"rule_set": "US-TCPA"})
    assert r.status_code == 409 and "pause the campaign" in r.json()["detail"]
    r = await client.patch(url, json={"max_channels": 30})
    assert r.status_code == 200 and r.json()["max_channels"] == 30
    assert (await client.delete(url)).status_code == 409


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rule_set", "XX-1999", "no rule set named"),
        ("script", "nope", "no script named"),
        ("caller_id", "12", "caller_id"),
        ("retry_rules", {"busy": {"delay_minutes": 0, "max_attempts": 2}}, "retry_rules.busy"),
        ("retry_rules", {"sunshine": {"delay_minutes": 5, "max_attempts": 2}}, "unknown outcome"),
        ("list_ids", [999999], "no such call list"),
        ("dial_mode", "telepathic", "dial_mode"),
    ],
)
async def test_given_bad_campaign_fields_when_creating_then_422_names_the_field(
    api: Api, field: str, value: object, message: str
) -> None:
    client = await api.bearer("manager")
    r = await client.post("/api/v1/campaigns", json={"name": "Bad", field: value})
    assert r.status_code == 422 and message in r.text, r.text


async def test_given_rule_sets_when_a_manager_copies_and_edits_one_then_it_is_validated_and_audited(
    api: Api,
) -> None:
    client = await api.bearer("manager")
    names = [rs["name"] for rs in (await client.get("/api/v1/rule-sets")).json()]
    assert {"FR-2023", "US-TCPA", "UK-Ofcom"} <= set(names)
    r = await client.post(
        "/api/v1/rule-sets", json={"name": "FR-B2B", "base": "FR-2023", "rules": {"max_attempts": 3}}
    )
    assert r.status_code == 201, r.text
    assert r.json()["rules"]["max_attempts"] == 3 and r.json()["rules"]["refusal_cooloff_days"] == 60
    rules = r.json()["rules"] | {"windows": {"mon": ["09:00-08:00"]}}
    r = await client.put("/api/v1/rule-sets/FR-B2B", json=rules)
    assert r.status_code == 422 and "windows.mon" in r.text and "ends before it starts" in r.text
    r = await client.put("/api/v1/rule-sets/FR-2023", json=rules)
    assert r.status_code == 409 and "shipped" in r.json()["detail"]
    r = await client.put("/api/v1/rule-sets/FR-B2B", json=rules | {"windows": {"mon": ["09:00-18:00"]}})
    assert r.status_code == 200 and r.json()["rules"]["windows"] == {"mon": ["09:00-18:00"]}
    assert (await client.post("/api/v1/rule-sets", json={"name": "FR-2023"})).status_code == 409
    camp = await client.post("/api/v1/campaigns", json={"name": "B2B", "rule_set": "FR-B2B"})
    assert camp.status_code == 201


async def test_given_dnc_lists_when_numbers_are_added_removed_and_imported_then_uploads_are_scrubbed(
    api: Api, tmp_path: Path
) -> None:
    client = await api.bearer("manager")
    r = await client.post("/api/v1/dnc-lists", json={"name": "Interne", "kind": "internal"})
    assert r.status_code == 201, r.text
    internal = r.json()["id"]
    r = await client.post(
        f"/api/v1/dnc-lists/{internal}/entries", json={"numbers": ["06 12 34 56 78", "07 81 22 33 44"]}
    )
    assert r.json() == {"added": 2, "numbers": ["+33612345678", "+33781223344"]}
    r = await client.post(f"/api/v1/dnc-lists/{internal}/entries", json={"numbers": ["06 12", "ok"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "numbers", 0]
    assert (await client.delete(f"/api/v1/dnc-lists/{internal}/entries/+33781223344")).status_code == 204
    assert (await client.delete(f"/api/v1/dnc-lists/{internal}/entries/+33781223344")).status_code == 404
    bloctel = (await client.post("/api/v1/dnc-lists", json={"name": "Bloctel", "kind": "national"})).json()[
        "id"
    ]
    path = tmp_path / "bloctel.csv"
    path.write_text("numero\n0698765432\nxx\n", encoding="utf-8")
    r = await client.post(f"/api/v1/dnc-lists/{bloctel}/import", files=_files(path))
    assert r.status_code == 200 and (r.json()["added"], r.json()["invalid_count"]) == (1, 1)
    r = await client.post("/api/v1/dnc-lists", json={"name": "C", "kind": "campaign"})
    assert r.status_code == 422 and "campaign_id" in r.text
    entries = {d["name"]: d["entries"] for d in (await client.get("/api/v1/dnc-lists")).json()}
    assert entries == {"Interne": 1, "Bloctel": 1}
    list_id = (await client.post("/api/v1/lists", json={"name": "L"})).json()["id"]
    job = await _finished(client, (await _upload(client, list_id, french_csv(tmp_path))).json()["id"])
    assert (job["accepted"], job["dnc"]) == (2, 2)


async def test_given_a_file_when_previewed_then_header_rows_and_suggested_mapping_come_back(
    api: Api, tmp_path: Path
) -> None:
    client = await api.bearer("manager")
    r = await client.post("/api/v1/lists/preview", files=_files(french_csv(tmp_path)))
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["encoding"], p["delimiter"], p["header"][4]) == ("cp1252", ";", "Portable")
    assert p["suggested"]["Portable"] == "number:mobile" and p["suggested"]["Remarque"] == "custom:remarque"
    assert p["rows"][0][4] == "06 12 34 56 78"
    bad = tmp_path / "bin.csv"
    bad.write_bytes(b"\x00\x01binary")
    r = await client.post("/api/v1/lists/preview", files=_files(bad))
    assert r.status_code == 422 and "not a text file" in r.text


async def test_given_the_campaigns_page_when_a_manager_or_an_agent_opens_it_then_only_the_manager_gets_it(
    api: Api,
) -> None:
    manager = await api.login("manager")  # pages take the session cookie
    await manager.post("/api/v1/lists", json={"name": '=HYPERLINK("x")<b>'})
    r = await manager.get("/campaigns", headers={"Accept": "text/html"})
    assert r.status_code == 200 and 'id="upload-form"' in r.text
    assert "&lt;b&gt;" in r.text and "<b>" not in r.text.split('id="lists-table"')[1]  # escaped
    r = await (await api.login("agent")).get("/campaigns", headers={"Accept": "text/html"})
    assert r.status_code == 403
