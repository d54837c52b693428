"""A private Asterisk for `make run` and the integration tests: `asterisk-conf/` rendered into a runtime dir.

Ports, addresses and secrets are placeholders (`@@NAME@@`) so tests never collide with a system Asterisk
or with each other. The dialplan's own `${VAR}` syntax is left alone.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import ROOT
from core.trunks import Trunk
from cti.cdr import CDR_FILE_NAME
from cti.phones import (
    PHONES_INCLUDE,
    TRUNKS_INCLUDE,
    PhoneAccount,
    Provisioner,
    ha1,
    render_phones,
    render_trunk_dialplan,
    render_trunks,
)
from cti.queues_conf import (
    BUILT_IN,
    GLOBALS_INCLUDE,
    QUEUES_INCLUDE,
    QueueConf,
    queue_globals,
    render_globals,
    render_queues,
)

CONF_DIR = ROOT / "asterisk-conf"
CONF_FILES = (
    "asterisk.conf",
    "modules.conf",
    "logger.conf",
    "rtp.conf",
    "cdr.conf",
    "cdr_custom.conf",
    "cel.conf",
    "musiconhold.conf",
    "features.conf",
    "indications.conf",
    "amd.conf",
    "manager.conf",
    "pjsip.conf",
    "http.conf",
    "queues.conf",
    "extensions.conf",
)


SELF_SIGNED_CERT = "plateau-wss.crt"
SELF_SIGNED_KEY = "plateau-wss.key"


def cdr_file(runtime: Path) -> Path:
    """Where the private Asterisk of `runtime` writes its call records (cdr_custom.conf, cti/cdr.py)."""
    return runtime / "log" / "cdr-custom" / CDR_FILE_NAME


class PbxError(RuntimeError):
    pass


# Listening ports are taken below the kernel's ephemeral range (32768-60999 by default): a port from that
# range, free while its server restarts (Asterisk, Plateau), can meanwhile become the local end of any
# outgoing connection on the machine, or of a reconnect to itself (TCP's simultaneous open), and the server
# then never binds it again. The RTP ranges of the test PBXs start at 30000.
LISTEN_PORTS = range(10_000, 30_000)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now on `host`, outside the ephemeral range (tests' and benches' servers)."""
    for _ in range(200):
        port = random.choice(LISTEN_PORTS)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise PbxError(f"no free port on {host} in {LISTEN_PORTS.start}-{LISTEN_PORTS.stop - 1}")


def phone_address(kind: str, n: int) -> str:
    """Each SIPp phone gets its own loopback host: agentN → 127.0.1.N, supervisorN → 127.0.2.N."""
    return f"127.0.{1 if kind == 'agent' else 2}.{n}"


@dataclass
class PbxConfig:
    runtime: Path
    sip_port: int = 5160
    sip_bind: str = "127.0.0.1"
    external_signaling_address: str | None = None  # behind NAT: the address phones and carriers reach
    external_media_address: str | None = None
    local_net: tuple[str, ...] = ()  # networks reached without NAT (phones there get the bind address)
    ami_port: int = 5038
    agi_port: int = 4573
    http_port: int = 8088  # the browser phones' ws:// on loopback (http.conf)
    https_port: int = 8089  # their wss:// on sip_bind
    tls_cert: Path | None = None  # wss's certificate and key; None: a self-signed pair under runtime/keys
    tls_key: Path | None = None
    trunk_host: str = "127.0.0.2"
    trunk_port: int = 5064
    phone_port: int = 5062
    rtp_start: int = 20000
    rtp_end: int = 20999
    ami_user: str = "plateau"
    ami_secret: str = "plateau-dev-secret"
    phone_secret: str = "plateau-phone-secret"  # tests only: seeds each test phone's own password
    agents: int = 60  # test phones agentN/supervisorN, when `phones` is None
    supervisors: int = 5
    phones: list[PhoneAccount] | None = None  # the users' phones (make run: from the database)
    webrtc: tuple[str, ...] = ()  # test phones that are browser phones (the others are SIP phones)
    trunks: list[Trunk] | None = None  # None: one trunk "trunk" identified by trunk_host:trunk_port
    queues: list[QueueConf] | None = None  # None: the built-in queues (Plateau provisions its own live)
    queue_ring_timeout: int = 15
    ivr_enabled: bool = False
    # asterisk.conf's systemname, the prefix of its Uniqueids/Linkedids: each server of one Plateau its own
    systemname: str = "plateau"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_tests(cls, runtime: Path, **overrides: object) -> PbxConfig:
        base = free_port() % 2000
        ports = {
            "sip_port": free_port(),
            "ami_port": free_port(),
            "agi_port": free_port(),
            "trunk_port": free_port(),
            "phone_port": free_port(),
            "http_port": free_port(),
            "https_port": free_port(),
            "rtp_start": 30000 + base * 10,
            "rtp_end": 30000 + base * 10 + 998,
        }
        return cls(runtime=runtime, **(ports | overrides))  # type: ignore[arg-type]

    def values(self) -> dict[str, str]:
        return {
            "RUN": str(self.runtime),
            "SIP_PORT": str(self.sip_port),
            "AMI_PORT": str(self.ami_port),
            "AGI_PORT": str(self.agi_port),
            "TRUNK_HOST": self.trunk_host,
            "TRUNK_PORT": str(self.trunk_port),
            "RTP_START": str(self.rtp_start),
            "RTP_END": str(self.rtp_end),
            "AMI_USER": self.ami_user,
            "AMI_SECRET": self.ami_secret,
            "QUEUE_RING_TIMEOUT": str(self.queue_ring_timeout),
            "SYSTEM_NAME": self.systemname,
            "IVR_ENABLED": "1" if self.ivr_enabled else "0",
            "SIP_BIND": self.sip_bind,
            "SIP_NAT": self._nat(),
            "OUT_TRUNK": self.all_trunks()[0].name,
            "HTTP_PORT": str(self.http_port),
            "HTTPS_PORT": str(self.https_port),
            "TLS_CERT": str(self.tls_cert or self.runtime / "keys" / SELF_SIGNED_CERT),
            "TLS_KEY": str(self.tls_key or self.runtime / "keys" / SELF_SIGNED_KEY),
            **self.extra,
        }

    def _nat(self) -> str:
        lines = []
        if self.external_signaling_address:
            lines.append(f"external_signaling_address = {self.external_signaling_address}")
        if self.external_media_address:
            lines.append(f"external_media_address = {self.external_media_address}")
        lines += [f"local_net = {net}" for net in self.local_net]
        return "\n".join(lines)

    def phone_password(self, name: str) -> str:
        """Test phone `name`'s own password (each test phone registers with it)."""
        return f"{self.phone_secret}-{name}"

    def all_phones(self) -> list[PhoneAccount]:
        if self.phones is not None:
            return self.phones
        return [
            PhoneAccount(
                f"{kind}{n}",
                ha1(f"{kind}{n}", self.phone_password(f"{kind}{n}")),
                f"{kind.title()} {n}",
                str(7000 + n if kind == "agent" else 7900 + n),
                "webrtc" if f"{kind}{n}" in self.webrtc else "sip",
            )
            for kind, count in (("agent", self.agents), ("supervisor", self.supervisors))
            for n in range(1, count + 1)
        ]

    def all_trunks(self) -> list[Trunk]:
        if self.trunks:
            return self.trunks
        return [Trunk("trunk", host=f"{self.trunk_host}:{self.trunk_port}", match=(self.trunk_host,))]

    def includes(self) -> dict[str, str]:
        """The rendered files `#include`d by pjsip.conf and extensions.conf."""
        trunks = self.all_trunks()
        queues = BUILT_IN if self.queues is None else self.queues
        return {
            PHONES_INCLUDE: render_phones(self.all_phones()),
            TRUNKS_INCLUDE: render_trunks(trunks),
            "extensions_trunks.conf": render_trunk_dialplan(trunks),
            QUEUES_INCLUDE: render_queues(queues),
            GLOBALS_INCLUDE: render_globals(queue_globals(queues)),
        }


def render(cfg: PbxConfig) -> Path:
    """Write the rendered configuration; returns the path of asterisk.conf."""
    etc = cfg.runtime / "etc"
    for sub in ("etc", "lib", "spool", "run", "log", "cache"):
        (cfg.runtime / sub).mkdir(parents=True, exist_ok=True)
    if cfg.tls_cert is None:
        self_signed_certificate(cfg.runtime / "keys", cfg.external_signaling_address or cfg.sip_bind)
    cdr_file(cfg.runtime).parent.mkdir(exist_ok=True)  # cdr_custom does not create it
    values = cfg.values()
    for name in CONF_FILES:
        text = (CONF_DIR / name).read_text()
        for key, value in values.items():
            text = text.replace(f"@@{key}@@", value)
        if "@@" in text:
            raise PbxError(f"{name}: unrendered placeholder near {text[text.index('@@') :][:40]!r}")
        (etc / name).write_text(text)
    for name, text in cfg.includes().items():  # phone credentials and trunk passwords: private
        path = etc / name
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(text)
    sounds = cfg.runtime / "lib" / "sounds"
    if not sounds.exists():  # astvarlibdir/sounds is where Playback looks
        sounds.symlink_to("/usr/share/asterisk/sounds")
    moh = cfg.runtime / "lib" / "moh"
    if not moh.exists() and Path("/usr/share/asterisk/moh").exists():
        moh.symlink_to("/usr/share/asterisk/moh")
    return etc / "asterisk.conf"


def self_signed_certificate(folder: Path, host: str) -> tuple[Path, Path]:
    """The wss:// certificate when none is given: made once (openssl, EC P-256, ten years), then kept, so a
    browser that was told to trust it keeps trusting it across restarts."""
    cert, key = folder / SELF_SIGNED_CERT, folder / SELF_SIGNED_KEY
    if cert.exists() and key.exists():
        return cert, key
    folder.mkdir(parents=True, exist_ok=True)
    san = f"IP:{host}" if _is_ip(host) else f"DNS:{host}"
    out = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "3650", "-subj", f"/CN={host}/O=Plateau",
         "-addext", f"subjectAltName={san},DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if out.returncode != 0:
        raise PbxError(f"openssl could not make the wss certificate: {out.stderr.strip()}")
    key.chmod(0o600)
    return cert, key


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class PrivateAsterisk:
    def __init__(self, cfg: PbxConfig) -> None:
        self.cfg = cfg
        self.conf = cfg.runtime / "etc" / "asterisk.conf"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def binary(self) -> str:
        found = shutil.which("asterisk") or (
            "/usr/sbin/asterisk" if Path("/usr/sbin/asterisk").exists() else None
        )
        if not found:
            raise PbxError("asterisk is not installed: run `bash asterisk-conf/install.sh` (make does it)")
        return found

    def rx(self, command: str, timeout: float = 20) -> str:
        out = subprocess.run(
            [self.binary, "-C", str(self.conf), "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if out.returncode != 0:
            raise PbxError(f"asterisk -rx {command!r}: {out.stderr.strip() or out.stdout.strip()}")
        return out.stdout

    def start(self, timeout: float = 60) -> None:
        render(self.cfg)
        log = open(self.cfg.runtime / "log" / "console.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "-f", "-n", "-C", str(self.conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.wait_booted(timeout)

    def wait_booted(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise PbxError(f"asterisk exited with {self.proc.returncode}; see {self.cfg.runtime}/log")
            try:
                self.rx("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
                if _port_open("127.0.0.1", self.cfg.ami_port):
                    return
            except (PbxError, subprocess.TimeoutExpired) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise PbxError(f"asterisk did not boot within {timeout}s: {last}")

    def restart(self, timeout: float = 60) -> None:
        """`core restart now`: the same process re-executes itself, as an operator would do it."""
        try:
            self.rx("core restart now", timeout=5)
        except (PbxError, subprocess.TimeoutExpired):
            pass  # the console connection drops as Asterisk goes down
        deadline = time.monotonic() + 10
        while _port_open("127.0.0.1", self.cfg.ami_port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.wait_booted(timeout)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.rx("core stop now", timeout=5)
        except (PbxError, subprocess.TimeoutExpired):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None


def private_provisioner(runtime: Path | None = None) -> Provisioner | None:
    """The phones' provisioner of `make run`'s Asterisk (var/asterisk), when it has been rendered there:
    the include is rewritten and PJSIP reloaded through its console (when it runs)."""
    runtime = runtime or ROOT / "var" / "asterisk"
    conf = runtime / "etc" / "asterisk.conf"
    if not conf.exists():
        return None
    pbx = PrivateAsterisk(PbxConfig(runtime=runtime))

    def reload(command: str) -> None:
        try:
            pbx.rx(command, timeout=10)
        except (PbxError, subprocess.TimeoutExpired):
            pass  # not running: the next start renders the phones anew

    return Provisioner(runtime / "etc", reload)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False
