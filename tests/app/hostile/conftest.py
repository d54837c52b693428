"""The hostile-input tier: the real `plateau serve` (a subprocess, no PBX) on SQLite and on PostgreSQL, a
manager's bearer token, the server's resident memory sampled all along, and the hostile files, generated
once per session into a temporary folder (tests/app/hostile/files.py).

The server runs with the default limits except two, lowered so the bombs that pass them stay quick to
build: PLATEAU_MAX_XLSX_UNZIPPED_BYTES (256 MiB) and PLATEAU_MAX_XLSX_SHARED_STRINGS (100,000).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

from app import migrate
from app.security import hash_password, token_digest
from core.db import Database
from core.dialer_tables import DncEntry, ImportReject, Lead, LeadNumber
from core.models import ApiToken, Contact, PhoneNumber, Role, User
from core.settings import ROOT
from cti.pbx_process import free_port
from tests.app.hostile import files as F
from tests.pg import fresh_database

PLATEAU = Path(sys.executable).parent / "plateau"
TOKEN = "hostile-manager-token"
RSS_LIMIT_MB = 450  # the server's resident memory, whatever it was sent (it starts near 150 MB)
UNZIPPED_LIMIT = 256 * F.MiB
STRINGS_LIMIT = 100_000
TABLES = {
    "leads": Lead,
    "lead_numbers": LeadNumber,
    "import_rejects": ImportReject,
    "dnc_entries": DncEntry,
    "contacts": Contact,
    "phone_numbers": PhoneNumber,
}


async def _seed(url: str) -> None:
    db = Database(url)
    async with db.session() as s:
        user = User(
            username="hostile-manager",
            display_name="Hostile",
            role=Role.manager,
            password_hash=hash_password("irrelevant-password"),
        )
        s.add(user)
        await s.flush()
        s.add(ApiToken(user_id=user.id, name="hostile", token_hash=token_digest(TOKEN)))
        await s.commit()
    await db.dispose()


async def _counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.session() as s:
            return {
                name: await s.scalar(sql_select(func.count()).select_from(t)) for name, t in TABLES.items()
            }
    finally:
        await db.dispose()


@dataclass
class Server:
    url: str
    port: int
    db_url: str
    proc: subprocess.Popen[bytes]
    spool: Path  # the server's TMPDIR: where uploads are spooled
    log: Path
    peak_rss_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def client(self, *, token: str | None = TOKEN, timeout: float = 120) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def counts(self) -> dict[str, int]:
        return asyncio.run(_counts(self.db_url))

    def sample_rss(self) -> None:
        process = psutil.Process(self.proc.pid)
        while not self._stop.wait(0.02):
            try:
                self.peak_rss_mb = max(self.peak_rss_mb, process.memory_info().rss / F.MiB)
            except psutil.NoSuchProcess:
                return

    def assert_alive_and_lean(self) -> None:
        assert self.proc.poll() is None, "plateau serve died:\n" + self.log.read_text()[-3000:]
        assert self.peak_rss_mb < RSS_LIMIT_MB, f"server RSS peaked at {self.peak_rss_mb:.0f} MB"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{work / 'plateau.db'}"
        else:
            url = stack.enter_context(fresh_database(request.getfixturevalue("pg_server")))
        migrate.upgrade(url)
        asyncio.run(_seed(url))
        port, spool, log = free_port(), work / "spool", work / "serve.log"
        spool.mkdir()
        env = {
            **os.environ,
            "PLATEAU_DATABASE_URL": url,
            "PLATEAU_AMI_ENABLED": "false",
            "PLATEAU_SECRET_KEY": "hostile",
            "PLATEAU_HTTP_PORT": str(port),
            "PLATEAU_MAX_XLSX_UNZIPPED_BYTES": str(UNZIPPED_LIMIT),
            "PLATEAU_MAX_XLSX_SHARED_STRINGS": str(STRINGS_LIMIT),
            "TMPDIR": str(spool),
        }
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(PLATEAU), "serve"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        srv = Server(f"http://127.0.0.1:{port}", port, url, proc, spool, log)
        try:
            _wait_serving(srv)
            threading.Thread(target=srv.sample_rss, daemon=True).start()
            yield srv
        finally:
            srv._stop.set()
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_serving(srv: Server, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        assert srv.proc.poll() is None, "plateau serve exited:\n" + srv.log.read_text()[-3000:]
        try:
            if httpx.get(f"{srv.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "plateau serve did not answer /healthz"
        time.sleep(0.1)


class Files:
    """The corpus, each file generated on first use and kept for the session (both engines read it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, name: str) -> Path:
        path = self.folder / name
        if not path.exists():
            make, _, arg = GENERATORS[name]
            make(path, *arg)
        return path


# name → (generator, extension hint, arguments)
GENERATORS: dict[str, tuple[Callable[..., Path], str, tuple[object, ...]]] = {
    "blank-flood-100mb.csv": (F.blank_flood, "csv", (100,)),
    "blank-only-100mb.csv": (F.blank_only, "csv", (100,)),
    "single-line-100mb.csv": (F.single_line, "csv", (100,)),
    "long-line-after-header.csv": (F.long_line_after_header, "csv", (8,)),
    "stray-quote.csv": (F.stray_quote, "csv", ()),
    "wide-dimension.xlsx": (F.wide_dimension, "xlsx", ()),
    "wide-value.xlsx": (F.wide_value, "xlsx", ()),
    "strings-bomb.xlsx": (F.strings_bomb, "xlsx", (200,)),
    "strings-count-bomb.xlsx": (F.strings_count_bomb, "xlsx", (STRINGS_LIMIT + 50_000,)),
    "zip-bomb.xlsx": (F.zip_bomb, "xlsx", (300,)),
    "dtd.xlsx": (F.dtd, "xlsx", ()),
    "xxe.xlsx": (F.xxe, "xlsx", ()),
    "laughs.xlsx": (F.laughs, "xlsx", ()),
    "bad-xml.xlsx": (F.bad_xml, "xlsx", ()),
    "empty-sheet.xlsx": (F.empty_sheet, "xlsx", ()),
    "not-a-zip.xlsx": (F.not_a_zip, "xlsx", ()),
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Files]:
    folder = tmp_path_factory.mktemp("hostile-corpus")
    yield Files(folder)
    shutil.rmtree(folder, ignore_errors=True)


class Healthz:
    """/healthz polled from a thread while something big happens: every poll's answer, with when."""

    def __init__(self, url: str) -> None:
        self.url, self.answers, self.errors = url, [], []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                try:
                    status = client.get(f"{self.url}/healthz").status_code
                    self.answers.append((time.monotonic(), status))
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self._stop.wait(0.05)

    def __enter__(self) -> Healthz:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def answered_between(self, start: float, end: float) -> int:
        return sum(1 for at, status in self.answers if start <= at <= end and status == 200)


def raw_http(port: int, head: bytes, body: Iterator[bytes] = iter(())) -> tuple[int, bytes, int]:
    """A request written by hand: `head`, then `body`'s chunks for as long as the server has not answered.
    (status, response body, body bytes sent). A server that waited for a body it was never sent would
    leave this to time out: an answer proves it decided on the headers alone."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        for chunk in body:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered already
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected(data):
            try:
                more = sock.recv(65536)
            except ConnectionResetError:
                break
            if not more:
                break
            data += more
    head_part, _, rest = data.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1]) if head_part else 0
    return status, rest, sent


def _expected(data: bytes) -> int:
    head, sep, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + len(sep) + int(value)
    return 1 << 62  # no length: read to the end
