"""`plateau serve` in a process of its own, as it is deployed: started, stopped, or killed with SIGKILL and
started again on the same port and database (the fault tier and the end-to-end benches)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from cti.pbx_process import PbxConfig, cdr_file, free_port

ROOT = Path(__file__).resolve().parent.parent.parent.parent


def serve_env(database_url: str, cfg: PbxConfig, ami_port: int | None = None, **extra: str) -> dict[str, str]:
    """The environment of a `plateau serve` on `database_url` speaking to the private Asterisk `cfg`."""
    return {
        **os.environ,
        "PLATEAU_DATABASE_URL": database_url,
        "PLATEAU_AMI_PORT": str(ami_port or cfg.ami_port),
        "PLATEAU_AMI_USER": cfg.ami_user,
        "PLATEAU_AMI_SECRET": cfg.ami_secret,
        "PLATEAU_SECRET_KEY": "plateau-process",
        "PLATEAU_PBX_CDR_FILE": str(cdr_file(cfg.runtime)),
        **extra,
    }


class PlateauProcess:
    """Listens on `host` (loopback: the cluster tier gives each node an address of its own), a free port."""

    def __init__(self, env: dict[str, str], log_path: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.http_port = int(env.get("PLATEAU_HTTP_PORT") or free_port(host))
        self.env = {**env, "PLATEAU_HTTP_HOST": host, "PLATEAU_HTTP_PORT": str(self.http_port)}
        self.log_path = log_path
        self.url = f"http://{host}:{self.http_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> None:
        """Start it and return once its HTTP port answers (after the lifespan's start-up)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "plateau"), "serve"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.host, self.http_port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"plateau did not start; see {self.log_path}") from None
                time.sleep(0.1)

    def kill(self) -> None:
        """`kill -9`: no shut-down of any kind (nothing flushed, the AMI session just drops)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/healthz", timeout=10).json())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
