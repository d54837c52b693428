"""The live connection's reconnects (web/static/js/ws.js), in Debian's Chromium: the delay policy itself
(exponential backoff with full jitter, capped), and a desk whose socket is refused retrying later and later,
then counting from the first retry again once a connection has delivered its snapshot."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.app.browser.conftest import login

pytestmark = pytest.mark.browser

BASE_MS, MAX_MS = 500, 4000  # ws.js's defaults
SAMPLES = 2000

# Every attempt's delays sampled with the browser's own Math.random, and the bounds of the window with a
# fixed `random` (its smallest and largest values).
_SAMPLE_JS = """async ([samples, attempts]) => {
  const { retryDelayMs } = await import("/static/js/ws.js");
  const out = [];
  for (let n = 0; n < attempts; n++) {
    const delays = Array.from({ length: samples }, () => retryDelayMs(n));
    const low = retryDelayMs(n, 500, 4000, () => 0), high = retryDelayMs(n, 500, 4000, () => 1 - 1e-12);
    out.push({ delays, low, high });
  }
  return out;
}"""


def _ceiling(attempt: int, base: int = BASE_MS, cap: int = MAX_MS) -> int:
    return min(cap, base * 2**attempt)


def test_given_the_retry_policy_when_sampled_then_each_window_doubles_up_to_the_cap_and_is_filled_uniformly(
    page: Page,
) -> None:
    page.goto("/login")
    attempts: list[dict[str, Any]] = page.evaluate(_SAMPLE_JS, [SAMPLES, 7])
    for n, got in enumerate(attempts):
        ceiling, delays = _ceiling(n), got["delays"]
        assert (got["low"], got["high"]) == (0, ceiling - 1), n
        assert all(isinstance(d, int) and 0 <= d < ceiling for d in delays), n
        # spread over the whole window, not bunched: its quarters each hold about a quarter of the samples
        # (±150 is nearly 8 standard deviations: a fair sampler never fails it)
        quarters = [sum(1 for d in delays if q * ceiling / 4 <= d < (q + 1) * ceiling / 4) for q in range(4)]
        assert all(SAMPLES / 4 - 150 < count < SAMPLES / 4 + 150 for count in quarters), (n, quarters)
    # the first retry is quick; the windows double, 0.5, 1, 2 s, and stop at the cap
    assert [_ceiling(n) for n in range(7)] == [500, 1000, 2000, 4000, 4000, 4000, 4000]
    assert max(attempts[0]["delays"]) < 500 < max(attempts[1]["delays"]) < 1000 < max(attempts[2]["delays"])


# Notes (attempt, delay) of every retry the page's socket schedules, by the real scheduleRetry.
_RECORD_JS = """() => {
  const live = window.plateauLive;
  window.retries = [];
  const schedule = live.scheduleRetry;
  live.scheduleRetry = function () {
    schedule.call(this);
    window.retries.push([this.attempt - 1, this.retryInMs]);
  };
}"""


def test_given_a_refused_desk_when_it_retries_then_each_wait_is_longer_until_a_snapshot_starts_them_over(
    page: Page,
) -> None:
    login(page, "agent1")
    page.goto("/desk")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "ok")
    base, cap = 50, 400  # the policy's shape on a shorter scale, for a quick test
    page.evaluate(
        "([base, cap]) => { Object.assign(window.plateauLive, { retryBaseMs: base, retryMaxMs: cap }); }",
        [base, cap],
    )
    page.evaluate(_RECORD_JS)
    snapshots = page.evaluate("() => window.plateauLive.store.snapshots")

    # refused: a path the server does not serve, so every retry fails and the next one waits longer
    page.evaluate("() => { window.plateauLive.url = '/ws-cut'; window.plateauLive.ws.close(); }")
    page.wait_for_function("() => window.retries.length >= 7", timeout=15_000)
    retries = page.evaluate("() => window.retries")
    assert [attempt for attempt, _ in retries[:7]] == list(range(7)), retries
    assert all(0 <= delay < _ceiling(n, base, cap) for n, delay in retries), retries
    expect(status).to_have_attribute("data-state", "down")

    # served again: the pending retry (at most `cap` away) connects by itself and the snapshot resyncs
    page.evaluate("() => { window.plateauLive.url = '/ws'; }")
    expect(status).to_have_attribute("data-state", "ok", timeout=5_000)
    assert page.evaluate("() => window.plateauLive.store.snapshots") == snapshots + 1
    assert page.evaluate("() => window.plateauLive.attempt") == 0

    # a later loss starts again from the quick first retry
    page.evaluate("() => { window.retries = []; window.plateauLive.ws.close(); }")
    page.wait_for_function("() => window.retries.length >= 1", timeout=5_000)
    expect(status).to_have_attribute("data-state", "ok", timeout=5_000)
    assert page.evaluate("() => window.retries")[0][0] == 0
    assert page.evaluate("() => window.plateauLive.store.snapshots") == snapshots + 2
