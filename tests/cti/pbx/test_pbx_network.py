"""The private Asterisk on a real network: SIP bound to a non-loopback address of a network namespace this
test creates (a veth pair), a caller from the other side, and the address Asterisk advertises in its SDP
(`external_media_address`) equal to the configured one. Root only (it creates the namespace)."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.trunks import Trunk
from cti.pbx_process import PbxConfig, PrivateAsterisk, free_port
from tests.cti.pbx.sipp import caller_scenario, sipp_binary

pytestmark = pytest.mark.asterisk

HOST_ADDR, PEER_ADDR = "10.213.7.1", "10.213.7.2"  # the veth pair: Asterisk's side, the carrier's side
ADVERTISED = "198.51.100.7"  # TEST-NET-2: what Asterisk must say in SIP and SDP to peers outside local_net


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture(scope="module")
def carrier_ns() -> Iterator[str]:
    """A namespace holding the carrier's side of a veth pair; the host side gets HOST_ADDR."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    name, veth = f"plateau-{uuid.uuid4().hex[:6]}", f"pl{uuid.uuid4().hex[:6]}"
    made = _ip("netns", "add", name)
    if made.returncode != 0:
        pytest.skip(
            f"cannot create a network namespace here (needs root/CAP_SYS_ADMIN): {made.stderr.strip()}"
        )
    try:
        for cmd in (
            ["link", "add", veth, "type", "veth", "peer", "name", f"{veth}p"],
            ["link", "set", f"{veth}p", "netns", name],
            ["addr", "add", f"{HOST_ADDR}/30", "dev", veth],
            ["link", "set", veth, "up"],
            ["-n", name, "addr", "add", f"{PEER_ADDR}/30", "dev", f"{veth}p"],
            ["-n", name, "link", "set", f"{veth}p", "up"],
            ["-n", name, "link", "set", "lo", "up"],
        ):
            done = _ip(*cmd)
            if done.returncode != 0:
                pytest.skip(f"cannot set up the veth pair (ip {' '.join(cmd)}): {done.stderr.strip()}")
        yield name
    finally:
        _ip("link", "del", veth)
        _ip("netns", "del", name)


@pytest.fixture(scope="module")
def pbx_on_lan(carrier_ns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAsterisk]:
    runtime = tmp_path_factory.mktemp("pbx-lan")
    cfg = PbxConfig.for_tests(
        runtime,
        agents=1,
        supervisors=0,
        sip_bind=HOST_ADDR,
        external_signaling_address=ADVERTISED,
        external_media_address=ADVERTISED,
        # the LAN Asterisk sits in (it rewrites SDP only from an address inside local_net); the carrier's
        # side is outside it, so it is given the advertised address
        local_net=(f"{HOST_ADDR}/32",),
        trunks=[Trunk("carrier", host=f"{PEER_ADDR}:5060", match=(PEER_ADDR,), dids=("5551000",))],
    )
    asterisk = PrivateAsterisk(cfg)
    asterisk.start()
    try:
        yield asterisk
    finally:
        asterisk.stop()


def test_given_asterisk_bound_to_a_lan_address_behind_nat_when_the_carrier_calls_then_sip_and_sdp_advertise_the_configured_address(  # noqa: E501
    pbx_on_lan: PrivateAsterisk, carrier_ns: str, tmp_path: Path
) -> None:
    cfg = pbx_on_lan.cfg
    transports = pbx_on_lan.rx("pjsip show transports")
    assert f"{HOST_ADDR}:{cfg.sip_port}" in transports and "127.0.0.1" not in transports
    scenario = tmp_path / "caller.xml"
    scenario.write_text(caller_scenario(hold_ms=500), encoding="latin-1")
    calls = tmp_path / "callers.csv"
    calls.write_text("SEQUENTIAL\n0612345678;5551000;Carrier\n")
    out = subprocess.run(
        ["ip", "netns", "exec", carrier_ns, sipp_binary(), "-sf", str(scenario), "-inf", str(calls),
         "-i", PEER_ADDR, "-p", "5060", "-mi", PEER_ADDR, "-mp", str(free_port()), "-m", "1",
         "-nostdin", "-timeout", "30s", "-timeout_error",
         "-trace_msg", "-message_file", str(tmp_path / "msg.log"),
         "-trace_err", "-error_file", str(tmp_path / "err.log"), f"{HOST_ADDR}:{cfg.sip_port}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    said = (tmp_path / "msg.log").read_text(errors="replace")
    assert out.returncode == 0, f"the call failed: {out.stderr[-800:]}\n{said[-3000:]}"
    answer = said[said.index("SIP/2.0 200 OK") :]
    answer = answer[: answer.index("\n\n-----")] if "\n\n-----" in answer else answer
    assert re.search(rf"^c=IN IP4 {re.escape(ADVERTISED)}\s*$", answer, re.M), answer  # media: the NAT's
    assert re.search(rf"^o=\S+ \d+ \d+ IN IP4 {re.escape(ADVERTISED)}", answer, re.M), answer
    contact = rf"^Contact: <sip:([^>@]*@)?{re.escape(ADVERTISED)}:{cfg.sip_port}"
    assert re.search(contact, answer, re.M), answer
    assert "127.0.0.1" not in answer and HOST_ADDR not in answer.split("\n\n", 1)[-1]
