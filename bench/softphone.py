"""The desk's browser phone over 50 real calls: from the INVITE reaching the browser to the pop shown, and
from the click on "answer" to the first inbound RTP packet (p50/p95).

One run: a private Asterisk (agent1 a browser phone), Plateau under uvicorn, Debian's Chromium with fake
media devices, SIPp as the customer speaking (its own recorded voice).
Both times are taken by the page's own clock
(performance.now()): the INVITE when JsSIP hands the call over, the pop when its name node appears (a
MutationObserver), the first RTP when getStats() first counts an inbound packet (polled every 5 ms).
A negative INVITE-to-pop means the pop was shown before the INVITE arrived. Prints one JSON line.

    PYTHONPATH=. .venv/bin/python bench/softphone.py [--calls 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests' helpers, run as a script

from cti.pbx_process import PbxConfig, PrivateAsterisk
from cti.sipp import Caller, Sipp, voice_file
from tests.app.browser.conftest import CHROMIUM, CHROMIUM_ARGS, MEDIA_ARGS, login
from tests.app.browser.cti_live import PASSWORD, serve_with_pbx, wait_until
from tests.app.browser.test_softphone_live import BROWSER_PHONES, _phones_in_db
from tests.cti.pbx.conftest import KNOWN_NUMBER

POP_SEEN = """
window.__popAt = {};
new MutationObserver(() => {
  for (const el of document.querySelectorAll('[data-pop-name]')) {
    const id = document.getElementById('pop').dataset.linkedid;
    if (id && !(id in window.__popAt)) window.__popAt[id] = performance.now();
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""

# Click "answer", then poll getStats until the first inbound RTP packet: ms from the click.
ANSWER_TO_RTP = """async () => {
  const sp = window.plateauDesk.softphone;
  const t0 = performance.now();
  document.getElementById('sp-answer').click();
  while (performance.now() - t0 < 10000) {
    const pc = sp.session && sp.session.connection;
    if (pc) {
      let got = 0;
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') got = r.packetsReceived || 0;
      });
      if (got > 0) return performance.now() - t0;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return null;
}"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="plateau-bench-softphone-"))
    cfg = PbxConfig.for_tests(
        work / "pbx", agents=1, supervisors=1, queue_ring_timeout=15, webrtc=BROWSER_PHONES
    )
    pbx = PrivateAsterisk(cfg)
    pbx.start()
    version = pbx.rx("core show version").split()[1]
    sipp = Sipp(cfg, work / "sipp")
    served = serve_with_pbx(pbx, work / "app", prepare=_phones_in_db(cfg))
    cti = next(served)
    cti.server.stop()
    cti.server.env["PLATEAU_WRAPUP_ENABLED"] = "false"  # ready again after each call
    cti.server.start()
    voice = voice_file(work)
    invite_to_pop: list[float] = []
    answer_to_rtp: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *MEDIA_ARGS]
            )
            context = browser.new_context(base_url=cti.url, permissions=["microphone"])
            page = context.new_page()
            page.add_init_script(POP_SEEN)
            login(page, "agent1", PASSWORD)
            page.wait_for_selector('[data-sp-state][data-state="registered"]', timeout=20_000)
            page.wait_for_selector('#phone-state[data-registered="yes"]', timeout=20_000)
            with cti.api("agent1") as c:
                c.post("/api/v1/agent/login", json={"queues": ["support"]}).raise_for_status()
            for i in range(args.calls):
                wait_until(lambda: cti.agent("agent1").get("state") == "ready", 20, "agent1 ready")
                sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=60_000, audio=voice)
                page.wait_for_selector("#sp-answer:not([disabled])", timeout=20_000)
                invite = page.evaluate("window.plateauDesk.softphone.stats.invites.at(-1)")
                pop_at = page.evaluate(f"window.__popAt[{json.dumps(invite['linkedid'])}]")
                if pop_at is not None:
                    invite_to_pop.append(pop_at - invite["at"])
                ms = page.evaluate(ANSWER_TO_RTP)
                if ms is not None:
                    answer_to_rtp.append(ms)
                page.click("#btn-hangup")
                page.wait_for_selector('#softphone[data-call="none"]', timeout=20_000)
                sipp.stop()
                print(f"call {i + 1}: pop {invite_to_pop[-1:]}, rtp {answer_to_rtp[-1:]}", file=sys.stderr)
            browser.close()
    finally:
        sipp.stop()
        next(served, None)
        pbx.stop()
    out = {
        "bench": "softphone",
        "calls": args.calls,
        "invite_to_pop_ms": {"n": len(invite_to_pop), "p50": pct(invite_to_pop, 0.5),
                             "p95": pct(invite_to_pop, 0.95), "max": round(max(invite_to_pop), 1)},
        "pop_after_invite": sum(1 for v in invite_to_pop if v > 0),
        "answer_to_first_rtp_ms": {"n": len(answer_to_rtp), "p50": pct(answer_to_rtp, 0.5),
                                   "p95": pct(answer_to_rtp, 0.95), "max": round(max(answer_to_rtp), 1)},
        "mean_answer_to_rtp_ms": round(statistics.fmean(answer_to_rtp), 1),
        "peer": f"Asterisk {version}, Chromium {CHROMIUM}, JsSIP 3.13.8, SIPp",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
