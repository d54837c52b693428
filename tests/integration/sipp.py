"""SIPp as the carrier trunk (callers) and as agent phones, for the integration tier and bench/screenpop.py.

Scenarios are generated from templates so each test states its timings (ring, talk, hold) in one place.
Every SIPp process binds its own loopback address, like a real phone on its own host.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cti.pbx_process import PbxConfig, free_port, phone_address

SDP = """Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
"""

# The far end hung up first: acknowledge its BYE and end the scenario (callers and phones alike).
OK_TO_BYE = """  <send next="end"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>"""

CALLER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="plateau trunk caller">
  <send retrans="500"><![CDATA[
INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field2]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:trunk@[local_ip]:[local_port]>
Max-Forwards: 70
{sdp}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field2]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:trunk@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv request="BYE" timeout="{hold_ms}" ontimeout="hangup"/>
{ok_to_bye}
  <label id="hangup"/>
  <send retrans="500"><![CDATA[
BYE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field2]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
  <label id="end"/>
</scenario>
"""

_UAS_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="plateau agent phone">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="local_to"/>
      <ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>
    </action>
  </recv>
"""

_REPLY_HEADERS = """[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>"""

AGENT_ANSWER = (
    _UAS_HEAD
    + """  <send><![CDATA[
SIP/2.0 180 Ringing
{reply}
Content-Length: 0
]]></send>
  <recv request="CANCEL" timeout="{ring_ms}" ontimeout="answer"/>
  <send><![CDATA[
SIP/2.0 200 OK
{reply}
Content-Length: 0
]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq:[$invite_cseq]
Content-Length: 0
]]></send>
  <recv request="ACK" next="end"/>
  <label id="answer"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
{reply}
{sdp}
]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE" timeout="{talk_ms}" ontimeout="hangup"/>
{ok_to_bye}
  <label id="hangup"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$local_to];tag=[pid]SIPpTag01[call_number]
To:[$remote_from]
[last_Call-ID:]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
  <label id="end"/>
</scenario>
"""
)

# No ereg here: SIPp refuses a scenario that assigns variables it never uses.
AGENT_REJECT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="plateau phone rejecting">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="ACK" crlf="true"/>
</scenario>
"""

NEVER_MS = 3_600_000

# A phone registering with its own credentials (digest auth: SIPp answers the 401 from -au/-ap). Asterisk
# keeps the source address as the contact (rewrite_contact), where the phone's UAS then listens.
REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="plateau phone register">
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:{user}@[local_ip]:[local_port]>
Expires: {expires}
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:{user}@[local_ip]:[local_port]>
[authentication]
Expires: {expires}
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"""


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


def agent_scenario(behaviour: str, ring_ms: int = 1000, talk_ms: int = NEVER_MS) -> str:
    """`answer` after ring_ms (talk_ms then hang up), `noanswer` (rings until cancelled), `busy` (486)."""
    if behaviour == "busy":
        return AGENT_REJECT.format(code=486, reason="Busy Here")
    if behaviour == "congestion":
        return AGENT_REJECT.format(code=503, reason="Service Unavailable")
    if behaviour == "noanswer":
        ring_ms = NEVER_MS
    return AGENT_ANSWER.format(
        reply=_REPLY_HEADERS, sdp=SDP, ring_ms=ring_ms, talk_ms=talk_ms, ok_to_bye=OK_TO_BYE
    )


def caller_scenario(hold_ms: int, audio: Path | None = None) -> str:
    """`audio`: a raw G.711 u-law file the caller plays, looped, once the call is answered (SIPp's
    rtp_stream), so the far end hears a voice-like signal."""
    text = CALLER.format(sdp=SDP, hold_ms=hold_ms, ok_to_bye=OK_TO_BYE)
    if audio is None:
        return text
    stream = f'  <nop><action><exec rtp_stream="{audio},-1,0"/></action></nop>\n'
    anchor = '  <recv request="BYE"'
    return text.replace(anchor, stream + anchor, 1)


def ulaw_tone(path: Path, seconds: float = 2.0, hz: float = 440.0) -> Path:
    """A raw G.711 u-law tone (8 kHz, -10 dBFS) for `caller_scenario(audio=…)`."""
    samples = (int(0.3 * 32767 * math.sin(2 * math.pi * hz * n / 8000)) for n in range(int(seconds * 8000)))
    path.write_bytes(bytes(_ulaw(s) for s in samples))
    return path


def _ulaw(sample: int) -> int:
    """ITU-T G.711 u-law of one 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(e for e in range(8) if magnitude >> (e + 7) or e == 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


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

    def __init__(self, cfg: PbxConfig, workdir: Path, nice: int = 0, register: bool = True) -> None:
        self.cfg = cfg
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
        self, n: int, behaviour: str = "answer", ring_ms: int = 1000, talk_ms: int = NEVER_MS
    ) -> subprocess.Popen[bytes]:
        """Agent phone N, registered from 127.0.1.N with its own password, answering there."""
        scenario = self._file(f"agent{n}-{behaviour}.xml", agent_scenario(behaviour, ring_ms, talk_ms))
        host = phone_address("agent", n)
        self.register(f"agent{n}", host)
        return self._phone(scenario, host, self.cfg.phone_port)

    def register(self, name: str, host: str) -> None:
        """Register phone `name` at host:phone_port, once per address (a registration lasts an hour)."""
        if not self.register_phones or (name, host) in self.registered:
            return
        register_phone(self.cfg, name, host, self.cfg.phone_port, self.workdir)
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
        """Place one call per caller from the trunk (127.0.0.2); caller IDs come from a CSV injection file;
        with `audio` (ulaw_tone), each caller plays it once answered."""
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
