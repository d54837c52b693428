// Supervisor wallboard: live queue tiles, agent list, thresholds, listen/whisper/barge.
//
// Live facts (calls waiting, oldest wait, agent states) come from the CTI events on the WebSocket and are
// drawn as soon as they arrive; times tick locally from the server's timestamps. Ratios come from
// /api/v1/reports/kpi (app/kpi.py over the call history and the calls in progress), refetched a moment
// after a call enters a queue, is answered or ends (at most one fetch in flight per KPI_THROTTLE_MS), and
// every minute (the windows slide).
// Running outbound campaigns have tiles too: read once from /api/v1/campaign-tiles (and again after a
// reconnection), then kept up by the `campaign_tile` messages the server pushes when a tile changes.
import { connectLive } from "./ws.js";
import { ApiError, api, duration, formatTime, h, loadJson, loadStrings, nowS } from "./desk_util.js";
import { ABANDON_SHARE_DEFAULTS, number, percent, shareOfLimit } from "./campaign_util.js";
import { createSoftphone } from "./softphone.js";

const t = loadStrings("wb-strings");
const config = loadJson("wb-config", {});
const $ = (id) => document.getElementById(id);
const STATES = ["ready", "on_call", "wrap_up", "paused", "logged_out"];
const DEFAULTS = {
  waiting: { warn: 3, alert: 6, worse: "up" },
  longest: { warn: 30, alert: 60, worse: "up" },
  service_level: { warn: 80, alert: 70, worse: "down" },
  asa: { warn: 20, alert: 40, worse: "up" },
  abandon_rate: { warn: 5, alert: 10, worse: "up" },
  campaign_abandon: { ...ABANDON_SHARE_DEFAULTS, worse: "up" }, // % of the campaign rule set's limit
};
const TH_KEY = `plateau.wallboard.thresholds.${config.user || ""}`;
const WIN_KEY = `plateau.wallboard.window.${config.user || ""}`;
const KPI_THROTTLE_MS = 1000;

const state = {
  agents: new Map(),   // interface → agent_state_changed
  queues: new Map(),   // queue → queue_changed
  calls: new Map(),    // linkedid → {number, name, contact, withheld, queue, answeredAt}
  kpi: null,           // /api/v1/reports/kpi
  care: new Map(),     // queue → today's row of /api/v1/reports/care?by=queue (complaint rate)
  satisfaction: new Map(), // queue → today's row of /api/v1/reports/satisfaction?by=queue (CSAT)
  window: localStorage.getItem(WIN_KEY) || "today",
  thresholds: loadThresholds(),
  pbxUp: null,
  links: new Map(),    // Asterisk server → its link is up
  tiles: new Map(),    // queue → {root, waiting, longest, counts: {}, kpis: {}, variant}
  campaigns: new Map(), // campaign id → campaign_tile
};

function loadThresholds() {
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(TH_KEY) || "{}"); } catch { saved = {}; }
  const out = {};
  for (const [k, d] of Object.entries(DEFAULTS)) {
    const s = saved[k] || {};
    out[k] = { ...d, warn: Number.isFinite(s.warn) ? s.warn : d.warn, alert: Number.isFinite(s.alert) ? s.alert : d.alert };
  }
  return out;
}

function level(key, value) {
  const th = state.thresholds[key];
  if (!th || value === null || value === undefined || !Number.isFinite(value)) return null;
  if (th.worse === "up") return value >= th.alert ? "alert" : value >= th.warn ? "warn" : null;
  return value <= th.alert ? "alert" : value <= th.warn ? "warn" : null;
}

function setLevel(metric, lvl) {
  if (lvl) metric.dataset.level = lvl;
  else delete metric.dataset.level;
}

function message(text) {
  const box = $("wb-message");
  box.textContent = text;
  clearTimeout(message.timer);
  message.timer = setTimeout(() => { box.textContent = ""; }, 8000);
}

// --- queue tiles ---------------------------------------------------------------------------------------
function metric(label, cls = "") {
  const value = h("div", { class: "value", text: "—" });
  const root = h("div", { class: `wb-metric ${cls}` }, h("div", { class: "label", text: label }), value);
  return { root, value };
}

function queueNames() {
  const names = new Set(Object.keys(config.queues || {}));
  for (const q of state.queues.keys()) names.add(q);
  for (const a of state.agents.values()) for (const q of a.queues || []) names.add(q);
  for (const w of (state.kpi || [])) for (const r of w.queues) names.add(r.queue);
  return [...names].sort((a, b) => label(a).localeCompare(label(b)));
}

const label = (q) => (config.queues && config.queues[q]) || q;

function tile(queue) {
  let tl = state.tiles.get(queue);
  if (tl) return tl;
  const waiting = metric(t("waiting"), "wb-waiting");
  const longest = metric(t("longest"), "wb-longest");
  const counts = {};
  const row = h("div", { class: "wb-agents-row" });
  for (const s of STATES) {
    const value = h("span", { class: "value", text: "0" });
    row.append(h("div", { class: "wb-count", dataset: { state: s } }, value, h("span", { class: "label", text: t(`state_${s}`) })));
    counts[s] = value;
  }
  const kpis = {};
  const grid = h("div", { class: "wb-kpis" });
  for (const k of ["offered", "answered", "abandoned", "abandon_rate", "service_level", "asa", "aht", "complaint_rate", "csat"]) {
    const m = metric(t(k), `wb-kpi-${k}`);
    m.root.dataset.kpi = k;
    grid.append(m.root);
    kpis[k] = m;
  }
  const variant = h("p", { class: "wb-variant" });
  const root = h("article", { class: "wb-queue", dataset: { queue }, "aria-label": label(queue) },
    h("h2", {}, h("span", { text: label(queue) }),
      label(queue).toLowerCase() !== queue.toLowerCase() ? h("span", { class: "muted mono", text: queue }) : null),
    h("div", { class: "wb-big" }, waiting.root, longest.root), row, grid, variant);
  tl = { root, waiting, longest, counts, kpis, variant };
  state.tiles.set(queue, tl);
  return tl;
}

function renderTiles() {
  const box = $("wb-queues");
  const names = queueNames();
  const roots = names.map((q) => tile(q).root);
  if (roots.length !== box.children.length || roots.some((r, i) => box.children[i] !== r)) box.replaceChildren(...roots);
  for (const q of names) renderQueueLive(q);
  renderKpis();
}

function renderQueueLive(queue) {
  const tl = tile(queue);
  const qc = state.queues.get(queue);
  const waiting = qc ? qc.waiting : 0;
  tl.waiting.value.textContent = String(waiting);
  tl.waiting.root.dataset.at = qc ? String(qc.at) : "";
  setLevel(tl.waiting.root, level("waiting", waiting));
  if (qc && qc.oldest_since) tl.longest.value.dataset.oldest = String(qc.oldest_since);
  else delete tl.longest.value.dataset.oldest;
  tickLongest(tl);
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  const loggedIn = new Set();
  for (const a of state.agents.values()) {
    if (!(a.queues || []).includes(queue) || a.state === "logged_out") continue;
    loggedIn.add(a.agent);
    const s = a.state === "ringing" ? "ready" : a.state; // a ringing agent is still available to the queue
    counts[s] = (counts[s] || 0) + 1;
  }
  counts.logged_out = ((config.members || {})[queue] || []).filter((m) => !loggedIn.has(m)).length;
  for (const s of STATES) tl.counts[s].textContent = String(counts[s]);
}

function tickLongest(tl) {
  const oldest = Number(tl.longest.value.dataset.oldest);
  const secs = Number.isFinite(oldest) && oldest > 0 ? Math.max(0, nowS() - oldest) : null;
  tl.longest.value.textContent = secs === null ? "—" : duration(secs);
  setLevel(tl.longest.root, level("longest", secs));
}

const num = (v) => new Intl.NumberFormat(config.lang === "en" ? "en-GB" : "fr-FR", { maximumFractionDigits: 1 }).format(v);

const pct = (v) => (v === null || v === undefined ? "—"
  : new Intl.NumberFormat(config.lang === "en" ? "en-GB" : "fr-FR", { style: "percent", maximumFractionDigits: 1 }).format(v));

function renderKpis() {
  const w = (state.kpi || []).find((x) => x.window === state.window);
  const rows = new Map((w ? w.queues : []).map((r) => [r.queue, r]));
  for (const [queue, tl] of state.tiles) {
    const r = rows.get(queue);
    const k = tl.kpis;
    k.offered.value.textContent = r ? String(r.offered) : "0";
    k.answered.value.textContent = r ? String(r.answered) : "0";
    k.abandoned.value.textContent = r ? String(r.abandoned) : "0";
    k.service_level.value.textContent = r ? pct(r.service_level) : "—";
    k.asa.value.textContent = r ? duration(r.asa_s) : "—";
    k.aht.value.textContent = r ? duration(r.aht_s) : "—";
    k.abandon_rate.value.textContent = r ? pct(r.abandon_rate) : "—";
    setLevel(k.service_level.root, r && r.service_level !== null ? level("service_level", r.service_level * 100) : null);
    setLevel(k.asa.root, r ? level("asa", r.asa_s) : null);
    setLevel(k.abandon_rate.root, r && r.abandon_rate !== null ? level("abandon_rate", r.abandon_rate * 100) : null);
    const care = state.care.get(queue); // today, whatever the window chip says (complaints come slower)
    k.complaint_rate.value.textContent = care ? pct(care.complaint_rate) : "—";
    k.complaint_rate.root.title = t("complaint_rate_today", { complaints: care ? care.complaints : 0, contacts: care ? care.contacts_handled : 0 });
    const sat = state.satisfaction.get(queue); // today's post-call survey: the mean CSAT of 5
    k.csat.value.textContent = sat && sat.csat_mean !== null ? `${num(sat.csat_mean)}/5` : "—";
    k.csat.root.title = t("csat_today", { answers: sat ? sat.csat_answers : 0,
      nps: sat && sat.nps !== null ? Math.round(sat.nps) : "—", rate: sat ? pct(sat.response_rate) : "—" });
    tl.variant.textContent = r ? t("sl_def", { variant: t(`v_${r.sl_variant}`), target: Math.round(r.sl_target_pct), t: Math.round(r.sl_threshold_s) }) : "";
  }
}

let kpiTimer = null;
// /wallboard?pbx=NAME: the KPIs of one Asterisk server's calls (several PBXs); none: all of them
const PBX = new URLSearchParams(location.search).get("pbx");
async function fetchCare() {
  try {
    const [care, satisfaction] = await Promise.all([
      api("GET", "/api/v1/reports/care?by=queue"), api("GET", "/api/v1/reports/satisfaction?by=queue")]);
    state.care = new Map(care.map((r) => [r.key, r]));
    state.satisfaction = new Map(satisfaction.map((r) => [r.key, r]));
    renderKpis();
  } catch { /* the tiles show — */ }
}

async function fetchKpi() {
  try {
    state.kpi = await api("GET", PBX ? `/api/v1/reports/kpi?pbx=${encodeURIComponent(PBX)}` : "/api/v1/reports/kpi");
    fetchCare();
    $("wb-kpi-at").textContent = t("kpi_at", { time: formatTime(undefined, config.lang) });
    renderTiles();
  } catch {
    $("wb-kpi-at").textContent = t("kpi_error");
  }
}
function fetchKpiSoon() { // throttled, not debounced: a steady flow of calls must not starve the counters
  if (kpiTimer) return;
  kpiTimer = setTimeout(() => { kpiTimer = null; fetchKpi(); }, KPI_THROTTLE_MS);
}

// --- campaign tiles --------------------------------------------------------------------------------------
function campaignTile(c) {
  const big = h("div", { class: "wb-big" });
  const dial = metric(t("cp_dial_level"), "wb-cp-dial");
  const flight = metric(t("cp_in_flight"), "wb-cp-flight");
  big.append(dial.root, flight.root);
  dial.value.textContent = number(c.dial_level, config.lang, 2);
  flight.value.textContent = String(c.calls_in_flight ?? 0);
  const grid = h("div", { class: "wb-kpis" });
  const small = [["cp_waiting", c.waiting_for_agent], ["cp_connected", c.connected],
    ["cp_ready", (c.agents || {}).ready], ["cp_on_call", (c.agents || {}).on_call]];
  for (const [key, v] of small) {
    const m = metric(t(key), `wb-cp-${key}`);
    m.value.textContent = String(v ?? 0);
    grid.append(m.root);
  }
  const ab = metric(t("cp_abandon_today"), "wb-cp-abandon");
  const today = c.abandon_today;
  ab.value.textContent = today ? percent(today.rate_percent, config.lang, 2) : "—";
  const counts = { abandoned: number(today ? today.abandoned : 0, config.lang, 1), live: number(today ? today.live : 0, config.lang, 1) };
  ab.root.append(h("div", { class: "detail muted", text: c.abandon_limit_percent === null || c.abandon_limit_percent === undefined
    ? t("cp_no_limit", counts) : t("cp_limit", { ...counts, limit: number(c.abandon_limit_percent, config.lang, 1) }) }));
  setLevel(ab.root, level("campaign_abandon", shareOfLimit(today ? today.rate_percent : null, c.abandon_limit_percent)));
  return h("article", { class: "wb-campaign", dataset: { campaignId: String(c.campaign_id) }, "aria-label": c.name },
    h("h2", {}, h("a", { href: `/campaigns/${c.campaign_id}/monitor`, "aria-label": t("cp_monitor", { name: c.name }), text: c.name }),
      h("span", { class: "muted mono", text: c.dial_mode || "" })),
    big, ab.root, grid);
}

function renderCampaigns() {
  const list = [...state.campaigns.values()].sort((a, b) => a.name.localeCompare(b.name));
  $("wb-campaigns-section").hidden = list.length === 0;
  $("wb-campaigns").replaceChildren(...list.map(campaignTile));
}

async function fetchCampaigns() {
  try {
    const tiles = await api("GET", "/api/v1/campaign-tiles");
    state.campaigns = new Map(tiles.map((c) => [c.campaign_id, c]));
    renderCampaigns();
  } catch { /* the pushed tiles will fill in */ }
}

// --- agents --------------------------------------------------------------------------------------------
// The caller (matched contact or caller-ID name, and number; "unknown" when neither), the queue and the
// time since the agent answered. Never the PBX's call id.
function callCell(a) {
  if (!a.linkedid) return h("td", { class: "wb-call" });
  const c = state.calls.get(a.linkedid) || {};
  const who = c.withheld ? t("caller_withheld")
    : [c.contact || c.name, c.number].filter(Boolean).join(" · ") || t("caller_unknown");
  const since = c.answeredAt || (a.state === "on_call" ? a.since : null);
  return h("td", { class: "wb-call" },
    h("span", { class: "wb-call-who", text: who }),
    c.queue ? h("span", { class: "muted", text: ` — ${label(c.queue)}` }) : null,
    since ? h("span", { class: "num mono wb-call-time", dataset: { callSince: String(since) }, text: ` ${duration(nowS() - since)}` }) : null);
}

function spyButtons(a) {
  const box = h("div", { class: "spy" });
  const onCall = a.state === "on_call";
  const name = a.display_name || a.username || a.agent;
  for (const mode of ["listen", "whisper", "barge"]) {
    box.append(h("button", {
      type: "button", class: "btn btn-small btn-secondary", dataset: { spy: mode, agent: a.agent },
      disabled: !onCall || !config.phone, "aria-label": t("spy_label", { mode: t(mode), agent: name }),
      title: config.phone ? t("spy_label", { mode: t(mode), agent: name }) : t("no_phone"), text: t(mode),
    }));
  }
  return box;
}

function renderAgents() {
  const body = $("wb-agents");
  const agents = [...state.agents.values()].sort((x, y) =>
    (x.display_name || x.agent).localeCompare(y.display_name || y.agent));
  if (!agents.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted", text: t("no_agent") })));
    return;
  }
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset : {};
  const rows = agents.map((a) => h("tr", { dataset: { agent: a.agent, state: a.state } },
    h("th", { scope: "row" }, a.display_name || a.username || a.agent, h("div", { class: "muted mono", text: a.agent })),
    h("td", {}, h("span", { class: "state-pill", dataset: { state: a.state }, text: t(`state_${a.state}`) })),
    h("td", { class: "num", dataset: { since: String(a.since || "") }, text: duration(nowS() - (a.since || nowS())) }),
    h("td", { text: a.state === "paused" && a.reason ? ((config.pauses || {})[a.reason] || a.reason) : "" }),
    callCell(a),
    h("td", { text: (a.queues || []).map(label).join(", ") }),
    h("td", {}, spyButtons(a))));
  body.replaceChildren(...rows);
  if (focused.spy && focused.agent) { // keep keyboard focus across a re-render
    const again = body.querySelector(`[data-spy="${CSS.escape(focused.spy)}"][data-agent="${CSS.escape(focused.agent)}"]`);
    if (again && !again.disabled) again.focus();
  }
}

$("wb-agents").addEventListener("click", async (ev) => {
  const btn = ev.target.closest("[data-spy]");
  if (!btn) return;
  const agent = btn.dataset.agent;
  const mode = btn.dataset.spy;
  const a = state.agents.get(agent);
  const name = (a && (a.display_name || a.username)) || agent;
  try {
    await api("POST", "/api/v1/supervisor/spy", { agent, mode });
    message(t("spy_ok", { mode: t(mode), agent: name }));
  } catch (exc) {
    message(t("err_generic", { detail: exc instanceof ApiError ? exc.detail : String(exc) }));
  }
});

// --- live events -----------------------------------------------------------------------------------------
function rememberCall(msg) {
  const c = msg.caller || {};
  const old = state.calls.get(msg.linkedid) || {};
  const answeredAt = msg.type === "call_answered" ? msg.at : msg.answered_at;
  state.calls.set(msg.linkedid, {
    number: c.number || old.number, name: c.name || old.name, withheld: c.withheld ?? old.withheld, queue: msg.queue || old.queue,
    contact: msg.contact || old.contact, answeredAt: answeredAt || old.answeredAt,
  });
}

function renderLink() {
  const el = $("wb-link");
  if (state.pbxUp === null) { el.hidden = true; return; }
  el.hidden = false;
  el.dataset.up = String(state.pbxUp);
  el.textContent = state.pbxUp ? t("link_up") : t("link_down");
}

function apply(msg, render = true) {
  switch (msg.type) {
    case "agent_state_changed": {
      const before = state.agents.get(msg.agent);
      if (!before || before.state === "logged_out" || msg.state === "logged_out") reconcileSoon();
      state.agents.set(msg.agent, msg);
      if (render) { renderAgents(); for (const q of queueNames()) renderQueueLive(q); if (!state.tiles.size || (msg.queues || []).some((q) => !state.tiles.has(q))) renderTiles(); }
      break;
    }
    case "queue_changed":
      state.queues.set(msg.queue, msg);
      if (render) { if (!state.tiles.has(msg.queue)) renderTiles(); else renderQueueLive(msg.queue); }
      break;
    case "call_offered": case "call_queued": case "agent_ringing": case "call_answered": case "call_live":
      rememberCall(msg);
      if (render && (msg.type === "call_answered" || msg.type === "call_live")) renderAgents();
      if (msg.type === "call_queued" || msg.type === "call_answered") fetchKpiSoon(); // offered / answered now
      break;
    case "call_left_queue":
      fetchKpiSoon();
      break;
    case "call_ended":
      state.calls.delete(msg.record && msg.record.linkedid);
      fetchKpiSoon();
      break;
    case "pbx_link": // one per Asterisk server (several PBXs): up when every one is
      state.links.set(msg.pbx ?? "", !!msg.up);
      state.pbxUp = [...state.links.values()].every(Boolean);
      if (render) renderLink();
      break;
    case "campaign_tile":
      if (msg.gone) state.campaigns.delete(msg.campaign_id);
      else state.campaigns.set(msg.campaign_id, msg);
      if (render) renderCampaigns();
      break;
    default:
  }
}

function applySnapshot(items) {
  state.agents.clear();
  state.queues.clear();
  state.links.clear();
  for (const item of items) apply(item, false);
  renderTiles();
  renderAgents();
  renderLink();
  fetchKpiSoon(); // anything may have happened while disconnected
  fetchCampaigns();
}

// --- thresholds form -----------------------------------------------------------------------------------
function fillThresholdForm() {
  const form = $("wb-threshold-form");
  for (const [k, th] of Object.entries(state.thresholds)) {
    form.elements[`${k}.warn`].value = String(th.warn);
    form.elements[`${k}.alert`].value = String(th.alert);
  }
}

$("wb-threshold-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const saved = {};
  for (const k of Object.keys(DEFAULTS)) {
    const warn = Number(form.elements[`${k}.warn`].value);
    const alert = Number(form.elements[`${k}.alert`].value);
    saved[k] = { warn: Number.isFinite(warn) ? warn : DEFAULTS[k].warn, alert: Number.isFinite(alert) ? alert : DEFAULTS[k].alert };
  }
  localStorage.setItem(TH_KEY, JSON.stringify(saved));
  state.thresholds = loadThresholds();
  renderTiles();
  renderCampaigns();
  message(t("saved"));
});

$("wb-threshold-reset").addEventListener("click", () => {
  localStorage.removeItem(TH_KEY);
  state.thresholds = loadThresholds();
  fillThresholdForm();
  renderTiles();
  renderCampaigns();
  message(t("reset_done"));
});

// --- window chips ----------------------------------------------------------------------------------------
function renderWindowChips() {
  for (const b of $("wb-windows").querySelectorAll("[data-window]")) {
    b.setAttribute("aria-pressed", String(b.dataset.window === state.window));
    b.setAttribute("aria-current", String(b.dataset.window === state.window));
  }
}
$("wb-windows").addEventListener("click", (ev) => {
  const b = ev.target.closest("[data-window]");
  if (!b) return;
  state.window = b.dataset.window;
  localStorage.setItem(WIN_KEY, state.window);
  renderWindowChips();
  renderKpis();
});

// Reconcile with the server's live picture now and then: a change the PBX reports without a new agent
// state (e.g. an agent added to one more queue) has no event of its own. Never overrides newer facts.
async function reconcile() {
  let data;
  try { data = await api("GET", "/api/v1/supervisor/live"); } catch { return; }
  let changed = false;
  for (const item of data.items || []) {
    if (item.type === "call_live") {
      const before = JSON.stringify(state.calls.get(item.linkedid) || {});
      rememberCall(item);
      changed = changed || before !== JSON.stringify(state.calls.get(item.linkedid));
      continue;
    }
    if (item.type !== "agent_state_changed") continue;
    const cur = state.agents.get(item.agent);
    if (cur && (cur.since || 0) > (item.since || 0)) continue;
    if (!cur || cur.state !== item.state || String(cur.queues) !== String(item.queues) || cur.reason !== item.reason) {
      state.agents.set(item.agent, { ...cur, ...item });
      changed = true;
    }
  }
  if (changed) { renderTiles(); renderAgents(); }
}

let reconcileTimer = null;
function reconcileSoon() { // a log in joins queues one by one: read the whole membership back once it settles
  clearTimeout(reconcileTimer);
  reconcileTimer = setTimeout(reconcile, 1500);
}

// --- start -------------------------------------------------------------------------------------------------
fillThresholdForm();
renderWindowChips();
renderTiles();
renderAgents();
fetchKpi();
fetchCampaigns();
setInterval(fetchKpi, 60_000);
setInterval(reconcile, 10_000);
setInterval(() => {
  for (const tl of state.tiles.values()) tickLongest(tl);
  const now = nowS();
  for (const td of $("wb-agents").querySelectorAll("[data-since]")) {
    const since = Number(td.dataset.since);
    td.textContent = since > 0 ? duration(now - since) : "—";
  }
  for (const span of $("wb-agents").querySelectorAll("[data-call-since]")) {
    span.textContent = ` ${duration(now - Number(span.dataset.callSince))}`;
  }
}, 1000);

// The supervisor's browser phone: listen, whisper and barge ring it, and it answers them by itself (their
// INVITE asks for auto-answer); there is no pop to wait for here.
const softphoneRoot = $("softphone");
const softphone = softphoneRoot
  ? createSoftphone({ root: softphoneRoot, t: loadStrings("softphone-strings"), popOf: () => true })
  : null;
if (softphone) softphone.start();

const live = connectLive();
live.store.addEventListener("snapshot", (ev) => applySnapshot(ev.detail.items));
live.store.addEventListener("event", (ev) => apply(ev.detail));
window.plateauWallboard = { state, softphone };
export default live;
