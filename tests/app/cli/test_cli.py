"""The `plateau` command line, in-process against a fresh SQLite database."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from app import migrate
from app.cli import main
from core.models import (
    Call,
    CallDirection,
    Complaint,
    ComplaintRecording,
    ComplaintStatus,
    Contact,
    Recording,
)
from core.registry import metadata
from core.settings import get_settings


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PLATEAU_DATABASE_URL", url)
    monkeypatch.setenv("PLATEAU_SECRET_KEY", "cli-test-secret")
    get_settings.cache_clear()
    assert main(["migrate"]) == 0
    return url


def test_given_a_new_admin_when_added_with_password_then_created_once(cli_db: str, capsys) -> None:
    assert main(["user", "add", "alice", "--role", "admin", "--password", "a-long-password"]) == 0
    assert "alice (admin) created" in capsys.readouterr().out
    assert main(["user", "add", "alice", "--role", "agent", "--password", "a-long-password"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_given_a_short_password_when_adding_a_user_then_refused(cli_db: str, capsys) -> None:
    assert main(["user", "add", "bob", "--role", "agent", "--password", "short"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err


def test_given_a_malformed_csv_when_imported_then_exit_2_with_reason_and_no_traceback(
    cli_db: str, tmp_path: Path, capsys
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"Prenom;Ville\nHelene;Lyon\n")
    assert main(["import", "customers", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "no name column" in err and "nothing was imported" in err and "Traceback" not in err


def test_given_a_french_csv_when_imported_then_summary_and_rejects_are_printed(
    cli_db: str, tmp_path: Path, capsys
) -> None:
    f = tmp_path / "c.csv"
    f.write_bytes("Nom;Portable\nLefèvre;06 12 34 56 78\nPetit;pas un numéro\n".encode("cp1252"))
    assert main(["import", "customers", str(f)]) == 0
    out = capsys.readouterr().out
    assert "imported 1 contacts" in out and "line 3: number 'pas un numéro'" in out


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--talk-seconds", "abc"], "--talk-seconds 'abc': want LOW-HIGH"),
        (["--talk-seconds", "20"], "--talk-seconds '20': want LOW-HIGH"),
        (["--talk-seconds", "60-20"], "talk_s: want 0 <= low <= high"),
        (["--calls-per-minute", "0"], "calls_per_minute must be positive"),
        (["--minutes", "-1"], "--minutes -1: want a positive duration"),
    ],
)
def test_given_live_demo_options_that_cannot_work_then_refused_by_name_before_anything_is_written(
    cli_db: str, capsys, options: list[str], said: str
) -> None:
    assert main(["demo", "--live", *options]) == 2
    captured = capsys.readouterr()
    assert said in captured.err
    assert "demo data" not in captured.out  # nothing seeded


def test_given_demo_when_run_twice_then_seeded_once_and_both_runs_say_how_to_sign_in(
    cli_db: str, capsys
) -> None:
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "demo data:" in first
    assert main(["demo"]) == 0
    again = capsys.readouterr().out
    assert "already present" in again
    for out in (first, again):
        assert "http://127.0.0.1:8080/login" in out
        assert "agent1" in out and "demo-admin" in out and "plateau-demo" in out


def test_given_demo_then_agent1_and_the_supervisor_have_browser_phones_and_the_live_demo_will_not_simulate_them(  # noqa: E501
    cli_db: str, capsys, tmp_path: Path
) -> None:
    import asyncio

    from sqlalchemy import select

    from core.db import Database
    from core.models import User

    assert main(["demo"]) == 0
    assert "agent1 and demo-supervisor have the desk's browser phone" in capsys.readouterr().out

    async def phones() -> dict[str, tuple[str | None, bool]]:
        db = Database(cli_db)
        try:
            async with db.session() as s:
                users = await s.scalars(select(User).where(User.sip_endpoint.is_not(None)))
                return {u.username: (u.sip_kind, u.sip_ha1 is not None) for u in users}
        finally:
            await db.dispose()

    assert asyncio.run(phones()) == {
        "agent1": ("webrtc", True),
        "demo-supervisor": ("webrtc", True),
        "agent2": (None, False),  # SIP phones without a password until `plateau phone reset-password`
        "agent3": (None, False),
    }
    assert main(["demo", "--live", "--colleagues", "agent2,agent1", "--pbx-dir", str(tmp_path)]) == 2
    assert "'agent1' has the desk's browser phone: sign in as agent1 instead" in capsys.readouterr().err
    assert asyncio.run(phones())["agent2"] == (None, False)  # refused as a whole: nothing was written


def test_given_a_bad_setting_when_any_command_runs_then_the_variable_is_named(monkeypatch, capsys) -> None:
    monkeypatch.setenv("PLATEAU_DEFAULT_REGION", "XX")
    get_settings.cache_clear()
    assert main(["config"]) == 2
    assert "PLATEAU_DEFAULT_REGION" in capsys.readouterr().err


def test_given_secrets_when_config_printed_then_they_are_masked(cli_db: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PLATEAU_AMI_SECRET", "s3cr3t-value")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t-value" not in out and "cli-test-secret" not in out and "********" in out


def test_given_migrations_when_downgraded_and_upgraded_then_both_work(cli_db: str) -> None:
    def schema() -> tuple[set[str], list[str]]:
        engine = create_engine(cli_db.replace("+aiosqlite", ""))
        try:
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
                versions = [v for (v,) in conn.execute(text("SELECT version_num FROM alembic_version"))]
        finally:
            engine.dispose()
        return tables, versions

    head = ScriptDirectory.from_config(migrate.alembic_config(cli_db)).get_current_head()
    models = set(metadata.tables)
    assert schema() == (models, [head])
    migrate.downgrade(cli_db, "base")
    assert schema() == (set(), []), "every table dropped, no revision left"
    migrate.upgrade(cli_db, "head")
    assert schema() == (models, [head]), "every model's table back, at the head revision"


def test_given_a_user_with_a_phone_when_resetting_its_password_then_printed_once_and_stored_as_digest(
    cli_db: str, capsys
) -> None:
    import asyncio

    from sqlalchemy import select

    from core.db import Database
    from core.models import User
    from cti.phones import ha1

    assert main(["demo"]) == 0
    capsys.readouterr()
    assert main(["phone", "reset-password", "agent1"]) == 0
    out = capsys.readouterr().out
    password = out.split("password ", 1)[1].split(" ", 1)[0]
    assert "user agent1" in out and "realm plateau" in out and "port 5160" in out

    async def stored() -> str | None:
        db = Database(cli_db)
        try:
            async with db.session() as s:
                return await s.scalar(select(User.sip_ha1).where(User.username == "agent1"))
        finally:
            await db.dispose()

    assert asyncio.run(stored()) == ha1("agent1", password)
    assert main(["phone", "reset-password", "demo-manager"]) == 2
    assert "has no phone" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PLATEAU_PBX_SIP_BIND": "eth0"}, "PLATEAU_PBX_SIP_BIND: 'eth0' is not an IP address"),
        ({"PLATEAU_PBX_LOCAL_NET": '["192.168.1.0/33"]'}, "PLATEAU_PBX_LOCAL_NET"),
        (
            {"PLATEAU_PBX_RTP_START": "30000", "PLATEAU_PBX_RTP_END": "20000"},
            "PLATEAU_PBX_RTP_END (20000) must",
        ),
        (
            {"PLATEAU_PBX_TRUNKS": '[{"name": "orange", "server": "sip.example.net", "username": "u"}]'},
            "PLATEAU_PBX_TRUNKS: trunk 0 ('orange'): a trunk that registers (server) needs username",
        ),
        (
            {"PLATEAU_PBX_TRUNKS": '[{"name": "t", "host": "10.0.0.1", "password": "hunter2"}]'},
            "PLATEAU_PBX_TRUNKS",
        ),
    ],
)
def test_given_a_network_setting_that_cannot_work_when_plateau_starts_then_it_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], says: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert says in err and "hunter2" not in err  # a trunk's password is never echoed


def test_given_an_imported_customer_when_exported_then_erased_then_reimported_the_cli_follows_the_rights(
    cli_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("PLATEAU_TOMBSTONE_SECRET", "cli-tombstone-key")
    get_settings.cache_clear()
    f = tmp_path / "c.csv"
    f.write_text("Nom;Portable;Email\nLefèvre;06 12 34 56 78;l@exemple.fr\n", encoding="utf-8")
    assert main(["import", "customers", str(f)]) == 0
    out = tmp_path / "person.zip"
    assert main(["person", "export", "--number", "+33 6 12 34 56 78", "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        assert json.loads(zf.read("contacts.json"))[0]["last_name"] == "Lefèvre"
    assert main(["person", "erase", "--email", "L@exemple.fr"]) == 2  # not without --yes
    assert "--yes" in capsys.readouterr().err
    assert main(["person", "erase", "--email", "L@exemple.fr", "--yes"]) == 0
    assert json.loads(capsys.readouterr().out)["tombstones"] == 2
    assert main(["import", "customers", str(f)]) == 0
    assert "imported 0 contacts" in capsys.readouterr().out
    assert main(["person", "object", "--number", "06 12 ab"]) == 2
    assert "number:" in capsys.readouterr().err
    engine = create_engine(cli_db.replace("+aiosqlite", ""))
    with engine.connect() as conn:
        actions = [
            r[0] for r in conn.execute(text("SELECT action FROM audit_log WHERE target_type = 'person'"))
        ]
    assert actions == ["person_exported", "person_erased"]


def test_given_an_expired_recording_when_purged_from_the_cli_then_it_is_deleted_and_named(
    cli_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    (folder / "1700000000.5.wav").write_bytes(b"RIFF")
    monkeypatch.setenv("PLATEAU_RECORDINGS_DIR", str(folder))
    get_settings.cache_clear()
    engine = create_engine(cli_db.replace("+aiosqlite", ""))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO recordings (linkedid, storage_key, started_at, ended_at, duration_s, size_bytes,"
                " expires_at) VALUES ('1700000000.5', '1700000000.5.wav', '2025-01-01 09:00:00',"
                " '2025-01-01 09:01:00', 60, 4, '2025-04-01 09:01:00')"
            )
        )
    engine.dispose()
    assert main(["recordings", "purge"]) == 0
    out = capsys.readouterr().out
    assert "deleted recording 1 (call 1700000000.5, ended 2025-01-01T09:01:00+00:00)" in out
    assert '"deleted": 1' in out and not (folder / "1700000000.5.wav").exists()
    assert main(["recordings", "purge"]) == 0
    assert '"deleted": 0' in capsys.readouterr().out


def test_given_a_recording_on_legal_hold_when_erased_from_the_cli_then_kept_and_said_till_it_closes(
    cli_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    monkeypatch.setenv("PLATEAU_RECORDINGS_DIR", str(folder))
    monkeypatch.setenv("PLATEAU_TOMBSTONE_SECRET", "cli-tombstone-key")
    get_settings.cache_clear()
    f = tmp_path / "c.csv"
    f.write_text("Nom;Portable\nLefèvre;06 12 34 56 78\n", encoding="utf-8")
    assert main(["import", "customers", str(f)]) == 0
    capsys.readouterr()
    engine = create_engine(cli_db.replace("+aiosqlite", ""))
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with Session(engine) as s:
        contact_id = s.scalars(select(Contact.id)).one()
        recs = []
        for linkedid in ("1700000000.1", "1700000000.2"):
            (folder / f"{linkedid}.wav").write_bytes(b"RIFF")
            s.add(Call(linkedid=linkedid, direction=CallDirection.inbound, caller_number="+33612345678",
                       contact_id=contact_id, offered_at=at, outcome="answered"))  # fmt: skip
            recs.append(Recording(linkedid=linkedid, storage_key=f"{linkedid}.wav", started_at=at,
                                  ended_at=at, duration_s=1.0, size_bytes=4))  # fmt: skip
        complaint = Complaint(contact_id=contact_id, category="billing", description="x", ack_due_at=at,
                              answer_due_at=at, status=ComplaintStatus.in_progress)  # fmt: skip
        s.add_all([*recs, complaint])
        s.flush()
        s.add(ComplaintRecording(complaint_id=complaint.id, recording_id=recs[1].id))
        s.commit()
        unheld, held, complaint_id = recs[0].id, recs[1].id, complaint.id

    assert main(["person", "erase", "--number", "06 12 34 56 78", "--yes"]) == 0

    kept = json.loads(capsys.readouterr().out)["kept"]
    assert kept == [{"source": "recordings", "count": 1, "ids": [held], "complaints": [complaint_id],
                     "reason": f"legal hold: complaint #{complaint_id} open"}]  # fmt: skip
    assert not (folder / "1700000000.1.wav").exists() and (folder / "1700000000.2.wav").exists()
    assert main(["recordings", "purge"]) == 0
    assert (folder / "1700000000.2.wav").exists()  # still held
    with Session(engine) as s:
        s.get_one(Complaint, complaint_id).status = ComplaintStatus.closed
        s.commit()
    capsys.readouterr()
    assert main(["recordings", "purge"]) == 0
    assert f"deleted recording {held} " in capsys.readouterr().out
    assert not (folder / "1700000000.2.wav").exists()
    with Session(engine) as s:
        assert s.get_one(Recording, unheld).purged_at is not None
        assert s.get_one(Recording, held).purged_at is not None
    engine.dispose()
