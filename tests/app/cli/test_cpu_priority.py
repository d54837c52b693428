"""`PLATEAU_CPU_NICE`: the service's CPU share on a shared host (app/cpu_priority.py), on the real kernel.

`plateau serve` is started as the service is (its own session) and read back from /proc: its nice, that of
every thread it started, and its session's (autogroup) nice. Without CAP_SYS_NICE it says why and serves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import migrate
from core.settings import ROOT, ConfigError, load_settings
from cti.pbx_process import free_port

PLATEAU = Path(sys.executable).parent / "plateau"
AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")  # absent from kernels built without them
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="lowering a nice needs CAP_SYS_NICE (CI runs as root)"
)


def _autogroups() -> bool:
    return AUTOGROUPS.exists() and AUTOGROUPS.read_text().strip() == "1"


def _nice(stat: Path) -> int:
    return int(stat.read_text().rsplit(")", 1)[1].split()[16])  # field 19 of proc(5), after the name


def _serving(proc: subprocess.Popen[bytes], port: int, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        assert proc.poll() is None, "plateau serve exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "plateau serve did not answer /healthz"
        time.sleep(0.1)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    migrate.upgrade(url)
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "PLATEAU_DATABASE_URL": url,
        "PLATEAU_AMI_ENABLED": "false",
        "PLATEAU_SECRET_KEY": "t",
        "PLATEAU_HTTP_PORT": str(port),
        "PLATEAU_CPU_NICE": "-3",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(PLATEAU), "serve"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, port, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@needs_root
def test_given_a_cpu_nice_when_the_service_starts_then_it_and_every_thread_and_its_session_run_at_it(
    serve: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    proc, port, log = serve
    _serving(proc, port)
    proc_dir = Path(f"/proc/{proc.pid}")
    threads = {t.name: _nice(t / "stat") for t in (proc_dir / "task").iterdir()}
    assert len(threads) > 1  # the database's thread at least: started after the nice was set
    assert set(threads.values()) == {-3}, threads
    assert "cpu priority: nice -3" in log.read_text()
    if _autogroups():
        assert (proc_dir / "autogroup").read_text().split()[-1] == "-3"


@needs_root
def test_given_no_right_to_lower_it_when_asked_then_it_says_why_and_the_process_runs_on_unchanged() -> None:
    code = (
        "from app.cpu_priority import apply_cpu_nice; import os; print(apply_cpu_nice(-3)); print(os.nice(0))"
    )
    out = subprocess.run(  # root without CAP_SYS_NICE (util-linux's setpriv): the kernel refuses
        ["setpriv", "--bounding-set=-sys_nice", "--", sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    ).stdout.splitlines()
    problems, nice = out[0], int(out[1])
    inherited = os.nice(0)  # the suite's own nice, whatever it was started at
    assert nice == inherited
    assert f"the process's nice stays {inherited}" in problems and "CAP_SYS_NICE" in problems
    if _autogroups():
        assert "/proc/self/autogroup" in problems


@pytest.mark.parametrize(("value", "ok"), [("-20", True), ("19", True), ("-21", False), ("fast", False)])
def test_given_a_cpu_nice_setting_when_loaded_then_out_of_range_is_refused_by_name(
    value: str, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATEAU_CPU_NICE", value)
    if ok:
        assert load_settings().cpu_nice == int(value)
    else:
        with pytest.raises(ConfigError, match="PLATEAU_CPU_NICE"):
            load_settings()
