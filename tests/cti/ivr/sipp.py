"""SIPp processes for the IVR tests: a trunk caller pressing keys (SIP INFO) and agent phones answering."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cti.pbx_process import PbxConfig, phone_address
from tests.cti.pbx.sipp import register_phone

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
PCAP_DIR = Path("/usr/share/sip-tester")  # RFC 2833 key recordings shipped with Debian's SIPp


@dataclass(frozen=True)
class Key:
    """Press `key` `delay_ms` after the previous step (the answer, or the previous key)."""

    key: str
    delay_ms: int = 1500
    via: Literal["info", "rfc2833"] = "info"  # SIP INFO (application/dtmf-relay) or RTP telephone-events


def caller_scenario(workdir: Path, name: str, keys: list[Key], hold_ms: int) -> Path:
    """Write a caller scenario that presses `keys`, then waits up to `hold_ms` for Asterisk's BYE."""
    info = (SIPP_DIR / "dtmf_info.xml").read_text()
    rtp = (SIPP_DIR / "dtmf_rfc2833.xml").read_text()
    steps = []
    cseq = 2
    for k in keys:
        if k.via == "rfc2833":
            name = {"*": "star", "#": "pound"}.get(k.key, k.key)
            steps.append(
                rtp.replace("@@DELAY_MS@@", str(k.delay_ms)).replace(
                    "@@PCAP@@", str(PCAP_DIR / f"dtmf_2833_{name}.pcap")
                )
            )
            continue
        steps.append(
            info.replace("@@DELAY_MS@@", str(k.delay_ms))
            .replace("@@KEY@@", k.key)
            .replace("@@CSEQ@@", str(cseq))
        )
        cseq += 1
    text = (SIPP_DIR / "caller.xml").read_text()
    text = (
        text.replace("<!--DTMF-->", "\n".join(steps))
        .replace("@@HOLD_MS@@", str(hold_ms))
        .replace("@@BYE_CSEQ@@", str(cseq))
    )
    path = workdir / f"{name}.xml"
    path.write_text(text)
    return path


def free_udp_port(host: str) -> int:
    """A free UDP port on `host`: callers may overlap, and Asterisk knows the trunk by address only."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_caller(
    cfg: PbxConfig, workdir: Path, name: str, did: str, caller_id: str, keys: list[Key], hold_ms: int = 8000
) -> subprocess.Popen[bytes]:
    """A SIPp UAC on the trunk's address calling `did` once as `caller_id`."""
    scenario = caller_scenario(workdir, name, keys, hold_ms)
    inf = workdir / f"{name}.csv"
    inf.write_text(f"SEQUENTIAL\n{caller_id};Test {name}\n")
    log = open(workdir / f"{name}.log", "wb")
    return subprocess.Popen(
        [
            "sipp",
            f"127.0.0.1:{cfg.sip_port}",
            "-sf",
            str(scenario),
            "-inf",
            str(inf),
            "-s",
            did,
            "-i",
            cfg.trunk_host,
            "-p",
            str(free_udp_port(cfg.trunk_host)),
            "-m",
            "1",
            "-l",
            "1",
            "-nostdin",
            "-timeout",
            "60s",
            "-timeout_error",
            "-trace_err",
            "-error_file",
            str(workdir / f"{name}.err"),
            "-mp",
            "0",
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def start_agent_phone(cfg: PbxConfig, workdir: Path, n: int) -> subprocess.Popen[bytes]:
    """Agent phone N, registered with its own password, answering every call at once (SIPp's UAS)."""
    register_phone(cfg, f"agent{n}", phone_address("agent", n), cfg.phone_port, workdir)
    log = open(workdir / f"agent{n}.log", "wb")
    return subprocess.Popen(
        [
            "sipp",
            "-sn",
            "uas",
            "-i",
            phone_address("agent", n),
            "-p",
            str(cfg.phone_port),
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(workdir / f"agent{n}.err"),
            "-mp",
            "0",
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_carrier(cfg: PbxConfig, workdir: Path) -> subprocess.Popen[bytes]:
    """The carrier side of the trunk: answers outgoing calls, traces every message to a file."""
    log = open(workdir / "carrier.log", "wb")
    return subprocess.Popen(
        [
            "sipp", "-sn", "uas", "-i", cfg.trunk_host, "-p", str(cfg.trunk_port), "-nostdin", "-trace_msg",
            "-message_file", str(workdir / "carrier_messages.log"), "-mp", "0",
        ],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
