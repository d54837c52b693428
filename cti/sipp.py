"""SIPp as the carrier trunk (callers) and as agent phones: the integration tier, the end-to-end benches and
`plateau demo --live` (app/demo_live.py).

Scenarios are generated from templates so each caller states its timings (ring, talk, hold) in one place.
Every SIPp process binds its own loopback address, like a real phone on its own host.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cti.pbx_process import PbxConfig, free_port, phone_address
from cti.sipp_scenarios import NEVER_MS, REGISTER, agent_scenario, caller_scenario

VOICE_PCAP = Path("/usr/share/sip-tester/g711a.pcap")  # shipped with SIPp: ~7 s of speech in RTP packets


def alaw_from_pcap(pcap: bytes) -> bytes:
    """The A-law payload of a pcap of RTP over UDP/IPv4 on Ethernet (SIPp's g711a.pcap), for `rtp_stream`."""
    out = bytearray()
    pos = 24  # the global header
    while pos + 16 <= len(pcap):
        length = int.from_bytes(pcap[pos + 8 : pos + 12], "little")
        frame = pcap[pos + 16 : pos + 16 + length]
        pos += 16 + length
        if len(frame) < 14 + 20 + 8 + 12 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        if frame[14 + 9] != 17:  # not UDP
            continue
        rtp = frame[14 + ihl + 8 :]
        if len(rtp) > 12 and rtp[1] & 0x7F == 8:  # PCMA
            header = 12 + 4 * (rtp[0] & 0x0F)
            out += rtp[header:]
    return bytes(out)


def voice_file(workdir: Path) -> Path:
    """SIPp's recorded speech as a raw A-law file in `workdir` (made once)."""
    path = workdir / "voice.alaw"
    if not path.exists():
        path.write_bytes(alaw_from_pcap(VOICE_PCAP.read_bytes()))
    return path


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies, even by SIGKILL, so that no
    SIPp outlives `plateau demo --live` (Linux's PR_SET_PDEATHSIG; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG


def register_phone(
    cfg: PbxConfig,
    name: str,
    host: str,
    port: int,
    workdir: Path,
    password: str | None = None,
    expires: int = 3600,
) -> None:
    """Register phone `name` (its own password, from the PBX's config unless given) from host:port, the
    address its UAS answers on next; raises with SIPp's words when Asterisk refuses (wrong password)."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = workdir / f"register-{name}-{host}-{port}.xml"
    scenario.write_text(REGISTER.format(user=name, expires=expires), encoding="latin-1")
    err = scenario.with_suffix(".err")
    cmd = [sipp_binary(), "-sf", str(scenario), "-i", host, "-p", str(port), "-m", "1", "-nostdin"]
    cmd += ["-au", name, "-ap", password if password is not None else cfg.phone_password(name)]
    cmd += ["-timeout", "15s", "-timeout_error", "-trace_err", "-error_file", str(err)]
    out = subprocess.run(
        [*cmd, f"{cfg.sip_bind}:{cfg.sip_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    if out.returncode != 0:
        said = err.read_text(errors="replace")[-1500:] if err.exists() else out.stderr.decode()[-1500:]
        raise RuntimeError(f"phone {name} at {host}:{port} not registered (exit {out.returncode}): {said}")


def register_test_phones(cfg: PbxConfig, workdir: Path) -> None:
    """Every test phone of the PBX (agentN at 127.0.1.N, supervisorN at 127.0.2.N) registered, as a centre's
    phones are once switched on; a test wanting one unregistered says so (`unregister_phone`)."""
    for kind, count in (("agent", cfg.agents), ("supervisor", cfg.supervisors)):
        for n in range(1, count + 1):
            register_phone(cfg, f"{kind}{n}", phone_address(kind, n), cfg.phone_port, workdir)


def unregister_phone(cfg: PbxConfig, name: str, host: str, port: int, workdir: Path) -> None:
    """Expires: 0 — the phone is gone (switched off cleanly)."""
    register_phone(cfg, name, host, port, workdir, expires=0)


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if not found:
        raise RuntimeError("sipp is not installed: run `bash asterisk-conf/install.sh` (make test does it)")
    return found


def udp_bound(host: str, port: int) -> bool:
    """Whether some process has bound this UDP address (read from /proc: probing with a bind of our own
    could take the port from under a SIPp that is starting)."""
    want = f"{int(ipaddress.IPv4Address(host)).to_bytes(4, 'big')[::-1].hex().upper()}:{port:04X}"
    with open("/proc/net/udp") as table:
        return any(line.split()[1] == want for line in table.readlines()[1:])


def wait_bound(
    proc: subprocess.Popen[bytes], host: str, port: int, err_file: Path, timeout: float = 10
) -> None:
    """Until the phone's SIPp listens: a call placed before would ring a closed port. A SIPp that dies at
    start (a port taken, a bad scenario) fails here with its own words, not later as a call never answered."""
    deadline = time.monotonic() + timeout
    while not udp_bound(host, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            said = err_file.read_text(errors="replace")[-2000:] if err_file.exists() else ""
            raise RuntimeError(f"SIPp at {host}:{port} did not start (exit {proc.poll()}): {said}")
        time.sleep(0.01)


@dataclass
class Caller:
    number: str
    did: str = "5551000"
    name: str = ""


class Sipp:
    """Starts SIPp processes against one private Asterisk and kills them all at the end."""

    def __init__(
        self,
        cfg: PbxConfig,
        workdir: Path,
        nice: int = 0,
        register: bool = True,
        die_with_parent: bool = False,
    ) -> None:
        self.cfg = cfg
        # True: each SIPp gets SIGTERM when this process dies, however it dies (`plateau demo --live`)
        self.preexec = _die_with_parent if die_with_parent else None
        self.register_phones = register  # False: no Asterisk to register with (SIPp's own tests)
        self.workdir = workdir
        self.nice = nice  # > 0: below the system under test, as phones on hosts of their own would be
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.registered: set[tuple[str, str]] = set()
        self._n = 0

    def _started(self, proc: subprocess.Popen[bytes]) -> None:
        self.procs.append(proc)
        if self.nice:
            # With kernel.sched_autogroup_enabled (on here), niceness is weighed only within an autogroup,
            # and each SIPp, in a session of its own, is a group the scheduler weighs like Plateau's whole
            # process: 51 of them took Plateau's turns whatever their nice. Their groups get it too.
            with contextlib.suppress(OSError):
                Path(f"/proc/{proc.pid}/autogroup").write_text(str(self.nice))

    def _file(self, stem: str, text: str) -> Path:
        self._n += 1
        path = self.workdir / f"{self._n:03d}-{stem}"
        path.write_text(text, encoding="latin-1" if stem.endswith(".xml") else "utf-8")
        return path

    def _base(self, scenario: Path, host: str, port: int) -> list[str]:
        return [
            *(("nice", "-n", str(self.nice)) if self.nice else ()),
            sipp_binary(),
            "-sf",
            str(scenario),
            "-i",
            host,
            "-p",
            str(port),
            "-mi",
            host,
            "-mp",
            str(free_port()),
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(scenario.with_suffix(".err")),
            "-timeout_error",
            "-recv_timeout",
            "120000",
        ]

    def _phone(self, scenario: Path, host: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
        """A SIPp answering at host:port, returned once it listens.

        Its media port is one found free, but SIPp also binds the port two above it for video, unchecked:
        when that one is taken SIPp exits at start ("Address already in use"), and it is started again on
        another media port (seen once in a bench run of 51 phones)."""
        for attempt in range(1, 4):
            proc = subprocess.Popen(
                [*self._base(scenario, host, port), *extra],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=self.preexec,
            )
            self._started(proc)
            try:
                wait_bound(proc, host, port, scenario.with_suffix(".err"))
                return proc
            except RuntimeError as exc:
                if attempt == 3 or "Address already in use" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def supervisor(
        self, n: int, ring_ms: int = 300, talk_ms: int = NEVER_MS, calls: int = 0
    ) -> subprocess.Popen[bytes]:
        """Supervisor phone N (127.0.2.N): answers, then listens until Asterisk hangs up (or for talk_ms);
        with `calls`, SIPp exits after that many calls (code 0 when each went as scripted)."""
        scenario = self._file(f"supervisor{n}.xml", agent_scenario("answer", ring_ms, talk_ms))
        extra = ("-m", str(calls)) if calls else ()
        host = phone_address("supervisor", n)
        self.register(f"supervisor{n}", host)
        return self._phone(scenario, host, self.cfg.phone_port, *extra)

    def agent(
        self,
        n: int,
        behaviour: str = "answer",
        ring_ms: int = 1000,
        talk_ms: int = NEVER_MS,
        calls: int = 0,
        password: str | None = None,
        audio: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Agent phone N, registered from 127.0.1.N with its own password (the test PBX's unless given),
        answering there; with `calls`, SIPp exits after that many calls."""
        scenario = self._file(f"agent{n}-{behaviour}.xml", agent_scenario(behaviour, ring_ms, talk_ms, audio))
        host = phone_address("agent", n)
        self.register(f"agent{n}", host, password)
        extra = ("-m", str(calls)) if calls else ()
        return self._phone(scenario, host, self.cfg.phone_port, *extra)

    def register(self, name: str, host: str, password: str | None = None) -> None:
        """Register phone `name` at host:phone_port, once per address (a registration lasts an hour)."""
        if not self.register_phones or (name, host) in self.registered:
            return
        register_phone(self.cfg, name, host, self.cfg.phone_port, self.workdir, password)
        self.registered.add((name, host))

    def far_end(self, stem: str, scenario_text: str) -> subprocess.Popen[bytes]:
        """The far end of the trunk playing a scenario of the test's own (a reject code, a recording)."""
        return self._phone(self._file(stem, scenario_text), self.cfg.trunk_host, self.cfg.trunk_port)

    def customer(
        self, behaviour: str = "answer", ring_ms: int = 1000, talk_ms: int = NEVER_MS
    ) -> subprocess.Popen[bytes]:
        """The far end of the trunk (127.0.0.2:trunk_port) answering outbound calls as a customer would."""
        return self.far_end(f"customer-{behaviour}.xml", agent_scenario(behaviour, ring_ms, talk_ms))

    def call(
        self,
        callers: Sequence[Caller],
        hold_ms: int = 5000,
        rate: float = 10,
        limit: int = 50,
        wait: bool = False,
        extra: Sequence[str] = (),
        audio: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Place one call per caller from the trunk (127.0.0.2); caller IDs come from a CSV injection file."""
        rows = ["SEQUENTIAL", *(f"{c.number};{c.did};{c.name}" for c in callers)]
        inf = self._file("callers.csv", "\n".join(rows) + "\n")
        scenario = self._file("caller.xml", caller_scenario(hold_ms, audio))
        cmd = [
            *self._base(scenario, self.cfg.trunk_host, free_port()),
            "-inf",
            str(inf),
            "-m",
            str(len(callers)),
            "-r",
            str(rate),
            "-l",
            str(limit),
            *extra,
            f"{self.cfg.sip_bind}:{self.cfg.sip_port}",
        ]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=self.preexec,
        )
        self._started(proc)
        if wait:
            proc.wait(timeout=120)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()
        self.procs.clear()


@contextlib.contextmanager
def sipp_for(cfg: PbxConfig, workdir: Path) -> Iterator[Sipp]:
    s = Sipp(cfg, workdir)
    try:
        yield s
    finally:
        s.stop()
