"""baresip, Debian's SIP softphone, driven headless as an agent's real phone: a config folder of its own,
one account with the user's own credentials, auto-answer, no sound card (its audio looped by aubridge)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from cti.pbx_process import free_port


def baresip_binary() -> str | None:
    return shutil.which("baresip")


class Baresip:
    def __init__(
        self, workdir: Path, user: str, password: str, server: str, host: str, answer: str = "auto"
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "baresip.log"
        self.user, self.host = user, host
        (self.dir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen {host}:{free_port()}",
                    # no sound card: what it plays comes back as its microphone (ausine needs 48 kHz)
                    "audio_source aubridge,none",
                    "audio_player aubridge,none",
                    "audio_alert aubridge,none",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aubridge.so",
                    "module_app account.so",
                    "module_app menu.so",
                    "",
                ]
            )
        )
        (self.dir / "accounts").write_text(
            f"<sip:{user}@{server};transport=udp>;auth_pass={password};answermode={answer};regint=600\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Baresip:
        binary = baresip_binary()
        if binary is None:
            raise RuntimeError("baresip is not installed: apt-get install baresip (make setup does it)")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "-f", str(self.dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def said(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # baresip unregisters on SIGTERM
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
