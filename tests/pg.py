"""A PostgreSQL server for the database tier: the configured one, a local one, or a throwaway cluster."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from cti.pbx_process import free_port


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed and no server answers on 127.0.0.1:5432; "
            "`make test` installs the postgresql package"
        )
    return found


class Cluster:
    """A PostgreSQL cluster of the suite's own (initdb in a temporary folder), which it may stop and start."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="plateau-pg-"))
        self.data, self.port = self.root / "data", free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root
            shutil.chown(self.root, "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*self._as_user, _pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )

    def _ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self._as_user, _pg_bin("pg_ctl"), "-D", str(self.data), *args], check=check, capture_output=True
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-l", str(self.root / "log"), "-w", "-o", options, "start")

    def ensure_started(self) -> None:
        status = subprocess.run(
            [*self._as_user, _pg_bin("pg_ctl"), "-D", str(self.data), "status"], capture_output=True
        )
        if status.returncode != 0:
            self.start()

    def stop(self, mode: str = "fast") -> None:
        """`fast` (what a service restart does: sessions cut, clean shut-down) or `immediate` (a crash)."""
        self._ctl("-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """initdb + pg_ctl in a temporary folder; yields a server URL (no database part)."""
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.remove()


@contextmanager
def postgres_server() -> Iterator[str]:
    url = os.environ.get("PLATEAU_TEST_DATABASE_URL")
    if url:
        yield url.rsplit("/", 1)[0]
    elif _answers("127.0.0.1", 5432):
        yield "postgresql+asyncpg://postgres@127.0.0.1:5432"
    else:
        with throwaway_cluster() as server:
            yield server


async def _admin(server: str, sql: str) -> None:
    dsn = server.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = await asyncpg.connect(dsn)
            break
        except (OSError, asyncpg.CannotConnectNowError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    name = f"plateau_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server}/{name}"
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
