// The campaign monitor: one campaign's live figures, read from GET /api/v1/campaigns/{id}/monitor once a
// second, and the pause / resume / stop buttons (POST …/transition, managers only).
//
// Why a poll and not the WebSocket: the monitor shows what no event carries (today's counts from the
// attempts, the rolling abandon rate, list penetration, the pacing decisions with their inputs), it is
// one page a handful of people open for one campaign, and the next poll starts only when the previous
// one is answered, so a slow server is never flooded. The wallboard, open on many screens, gets its
// campaign tiles pushed instead (dialer/campaign_feed.py).
import { ApiError, api, formatTime, h, loadJson, loadStrings } from "./desk_util.js";
import { number, percent, shareLevel, shareOfLimit } from "./campaign_util.js";

const t = loadStrings("cm-strings");
const config = loadJson("cm-config", {});
const $ = (sel) => document.querySelector(sel);
const POLL_MS = 1000;
const DECISIONS_SHOWN = 10;
const lang = config.lang;

const state = { data: null, campaignState: config.state, failures: 0 };

function metric(key) {
  const root = $(`[data-metric="${key}"]`);
  return root ? { root, value: root.querySelector(".value"), detail: root.querySelector(".detail") } : null;
}

function setMetric(key, text, detail = null, level = null) {
  const m = metric(key);
  if (!m) return;
  m.value.textContent = text;
  if (m.detail) m.detail.textContent = detail || "";
  if (level) m.root.dataset.level = level;
  else delete m.root.dataset.level;
}

function abandonMetric(key, st, limit, extra) {
  if (!st) { setMetric(key, "—"); return; }
  const parts = [t("of_live", { abandoned: number(st.abandoned, lang, 1), live: number(st.live, lang, 1) })];
  if (limit !== null && limit !== undefined) parts.push(t("limit", { limit: number(limit, lang, 1) }));
  if (extra) parts.push(extra);
  setMetric(key, percent(st.rate_percent, lang, 2), parts.join(" · "), shareLevel(shareOfLimit(st.rate_percent, limit)));
}

function render(d) {
  state.campaignState = d.campaign.state;
  const st = $("#cm-state");
  st.dataset.state = d.campaign.state;
  st.textContent = t(`state_${d.campaign.state}`);
  $("#cm-engine").textContent = d.running ? t("engine_on") : t("engine_off");
  setMetric("dial_level", number(d.dial_level, lang, 2));
  setMetric("calls_in_flight", String(d.calls_in_flight ?? 0));
  setMetric("waiting_for_agent", String(d.waiting_for_agent ?? 0));
  setMetric("connected", String(d.connected ?? 0));
  setMetric("answer_rate", d.answer_rate === null || d.answer_rate === undefined ? "—" : percent(100 * d.answer_rate, lang));
  for (const node of document.querySelectorAll(".cm-agents .wb-count")) {
    node.querySelector(".value").textContent = String((d.agents || {})[node.dataset.state] || 0);
  }
  setMetric("attempts_today", String(d.attempts_today));
  setMetric("contacts_today", String(d.contacts_today));
  setMetric("contact_rate_today", d.contact_rate_today === null ? "—" : percent(100 * d.contact_rate_today, lang));
  setMetric("conversions_today", String(d.conversions_today));
  const pen = d.list_penetration || {};
  setMetric("list_penetration", percent(pen.percent, lang), t("penetration_of", { dialled: pen.dialled ?? 0, leads: pen.leads ?? 0 }));
  abandonMetric("abandon_today", d.abandon_today, d.abandon_limit_percent, null);
  abandonMetric("abandon_period", d.abandon_period, d.abandon_limit_percent,
    d.abandon_period_days ? t("period_days", { days: d.abandon_period_days }) : null);
  renderDecisions(d.decisions || []);
  renderControls();
}

function inputsText(entry) {
  if (entry.skipped) return t(`skipped_${entry.skipped.replaceAll(" ", "_")}`);
  const inputs = entry.inputs || {};
  return Object.entries(inputs)
    .map(([k, v]) => `${k}=${typeof v === "number" ? number(v, lang, 3) : v === null ? "—" : String(v)}`)
    .join(" · ");
}

function renderDecisions(decisions) {
  const body = $("#cm-decisions tbody");
  const rows = decisions.slice(-DECISIONS_SHOWN).reverse().map((e) => h("tr", {},
    h("td", { class: "mono", text: e.at ? formatTime(e.at, lang) : "—" }),
    h("td", { text: [...new Set([e.policy, e.mode].filter(Boolean))].join(" / ") || "—" }),
    h("td", { class: "num", text: e.calls ?? "—" }),
    h("td", { class: "num", text: e.allowed ?? "—" }),
    h("td", { class: "num", text: e.selected ?? "—" }),
    h("td", { class: "cm-inputs", text: inputsText(e) })));
  body.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 6, class: "muted", text: t("no_decision") }))]));
}

function renderControls() {
  const allowed = new Set((config.transitions || {})[state.campaignState] || []);
  for (const b of document.querySelectorAll(".cm-controls [data-to]")) {
    b.disabled = !allowed.has(b.dataset.to);
  }
}

function setStatus(ok) {
  const el = $("#live-status");
  el.dataset.state = ok ? "ok" : "down";
  el.textContent = ok ? t("live") : t("stale");
}

async function poll() {
  try {
    state.data = await api("GET", `/api/v1/campaigns/${config.campaign_id}/monitor`);
    state.failures = 0;
    render(state.data);
    setStatus(true);
  } catch {
    state.failures += 1;
    setStatus(false);
  }
  // one second between answers; slower after failures (up to 10 s) so a down server is not hammered
  setTimeout(poll, Math.min(10_000, POLL_MS * 2 ** Math.min(state.failures, 4)));
}

const controls = $(".cm-controls");
if (controls) {
  controls.addEventListener("click", async (ev) => {
    const b = ev.target.closest("[data-to]");
    if (!b || b.disabled) return;
    const msg = $("#cm-message");
    b.disabled = true;
    try {
      const c = await api("POST", `/api/v1/campaigns/${config.campaign_id}/transition`, { to: b.dataset.to });
      state.campaignState = c.state;
      msg.textContent = t("done", { state: t(`state_${c.state}`) });
    } catch (exc) {
      msg.textContent = t("failed", { detail: exc instanceof ApiError ? exc.detail : String(exc) });
    }
    renderControls();
  });
}

renderControls();
poll();
window.plateauCampaignMonitor = { state };
