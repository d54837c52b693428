"""The SIPp phones themselves: a phone whose media ports are taken at start is started again elsewhere."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cti import sipp as sipp_module
from cti.pbx_process import PbxConfig, free_port, phone_address
from cti.sipp import Sipp

pytestmark = pytest.mark.asterisk


def test_given_the_port_above_a_phones_media_port_taken_when_it_starts_then_it_listens_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = PbxConfig.for_tests(tmp_path / "pbx", agents=1, supervisors=0)
    host = phone_address("agent", 1)
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind((host, 0))
    video = taken.getsockname()[1]  # where SIPp binds video: two above the media port it is given
    picks = iter([video - 2])
    monkeypatch.setattr(sipp_module, "free_port", lambda: next(picks, None) or free_port())
    phones = Sipp(cfg, tmp_path / "sipp", register=False)  # no Asterisk here: SIPp alone
    try:
        proc = phones.agent(1, "answer")
        assert proc.poll() is None  # listening, on the second media port
        assert len(phones.procs) == 2 and phones.procs[0].poll() is not None  # the first one gave up
    finally:
        phones.stop()
        taken.close()
