// Agent desk: status bar, live screen-pop, call controls, wrap-up, shortcuts.
//
// Data flow: ws.js keeps the WebSocket (snapshot, deltas, reconnect banner) and its LiveStore; this module
// reads the agent's own `agent_state_changed` and `pop` items from every snapshot (so a reconnect resyncs
// the desk) and from the deltas, and renders them. Actions go through the REST API (/api/v1/agent/…) and
// come back as events: the desk never assumes an action worked before the PBX says so.
// Every value from a caller or a CRM record is inserted as text (desk_util.h), never as HTML.
import { connectLive } from "./ws.js";
import { ApiError, api, duration, formatDate, h, loadJson, loadStrings, nowS, shortcuts, startTicker, zonedToIso } from "./desk_util.js";
import { createPreviewCard } from "./preview_card.js";
import { createScriptPanel } from "./script_panel.js";
import { createSoftphone } from "./softphone.js";

const t = loadStrings("desk-strings");
const config = loadJson("desk-config", {});
const me = config.interface || null;
const $ = (id) => document.getElementById(id);
const DONE_KEY = "plateau.desk.done";

const state = {
  agent: null,          // latest agent_state_changed for my phone
  phone: null,          // latest phone_registration for my phone (is it registered, since when)
  pop: null,            // latest pop for my phone
  renderedKey: null,    // what the pop panel currently shows (re-rendered only when the content changes)
  held: {},             // linkedid → on hold
  recPaused: {},        // linkedid → its recording paused from this desk
  recStarted: {},       // linkedid → its on_demand recording started from this desk
  transferred: new Set(), // linkedids this agent transferred away (their part is over)
  chosen: {},           // pop_id → chosen contact id (several matches, or a contact created from the pop)
  created: {},          // pop_id → contact created from the pop
  done: new Set(JSON.parse(sessionStorage.getItem(DONE_KEY) || "[]")), // linkedids with a saved wrap-up
  wrapFor: null,        // linkedid the wrap-up form belongs to
  pbxUp: true,
};

// --- messages ------------------------------------------------------------------------------------------
let messageTimer = null;
function say(text, kind = "info") {
  const box = $("desk-message");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(messageTimer);
  if (kind !== "error") messageTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

function errorText(exc) {
  if (exc instanceof ApiError) {
    if (exc.status === 0) return t("err_network");
    if (exc.status === 503) return t("err_cti");
    if (exc.status === 409 && /not registered/.test(String(exc.detail))) return t("phone_refused");
    return t("err_generic", { detail: exc.detail });
  }
  return t("err_generic", { detail: String(exc) });
}

async function act(fn, okText) {
  try {
    const out = await fn();
    if (okText) say(okText, "ok");
    return out;
  } catch (exc) {
    say(errorText(exc), "error");
    return undefined;
  }
}

const agentApi = (path, body = {}) => api("POST", `/api/v1/agent${path}`, body);

// --- status bar ----------------------------------------------------------------------------------------
const pauseLabels = Object.fromEntries(
  [...$("pause-reason").options].filter((o) => o.value).map((o) => [o.value, o.textContent]),
);

function renderStatus() {
  const a = state.agent;
  const s = a ? a.state : "logged_out";
  const pill = $("agent-state");
  pill.dataset.state = state.pbxUp ? s : "unknown";
  pill.textContent = state.pbxUp ? t(`state_${s}`) : t("state_unknown");
  const timer = $("agent-timer");
  if (a && a.since) timer.dataset.since = String(a.since);
  else { delete timer.dataset.since; timer.textContent = "—"; }
  const reason = $("agent-reason");
  const r = a && a.state === "paused" && a.reason ? (pauseLabels[a.reason] || a.reason) : "";
  reason.textContent = r;
  reason.hidden = !r;
  const queues = a && a.queues && a.queues.length ? a.queues : [];
  $("agent-queues").textContent = queues.length ? t("in_queue", { queues: queues.join(", ") }) : t("no_queue");
  const loggedIn = queues.length > 0;
  const focusedToggle = [$("btn-login"), $("btn-logout")].includes(document.activeElement);
  $("btn-login").hidden = loggedIn;
  $("btn-logout").hidden = !loggedIn;
  if (focusedToggle) (loggedIn ? $("btn-logout") : $("btn-login")).focus(); // keep the keyboard user's place
  const pendingWrap = wrapPending();
  $("btn-ready").disabled = !loggedIn || s === "ready" || s === "on_call" || s === "ringing" || s === "wrap_up" || pendingWrap;
  $("btn-pause").disabled = !loggedIn;
  $("pause-reason").disabled = !loggedIn;
  document.body.dataset.agentState = s;
  renderPhone();
}

// Whether Asterisk can reach the agent's phone: without a registration the PBX refuses "ready".
function renderPhone() {
  const p = state.phone;
  const box = $("phone-state");
  box.dataset.registered = !p ? "unknown" : p.registered ? "yes" : "no";
  if (!p) box.textContent = t("phone_unknown");
  else if (!p.registered) box.textContent = t("phone_unregistered");
  else if (p.since) box.textContent = t("phone_registered", { time: formatDate(new Date(p.since * 1000).toISOString(), config.lang) });
  else box.textContent = t("phone_registered_before");
}

// --- the pop -------------------------------------------------------------------------------------------
// The unhappy-customers file: a visible badge with the reasons the customer is in it (app/unhappy.py).
function unhappyBadge(reasons) {
  if (!reasons || !reasons.length) return null;
  const why = reasons.map((r) => t(`unhappy_${r.code}`, { n: r.count })).join(", ");
  return h("span", { class: "badge badge-unhappy", dataset: { unhappy: reasons.map((r) => r.code).join(" ") },
    title: why, text: `${t("unhappy")} · ${why}` });
}

const tierBadge = (tier) => (tier ? h("span", { class: `badge badge-${tier}`, text: t(`tier_${tier}`) }) : null);

function contactName(c) {
  return `${c.first_name || ""} ${c.last_name || ""}`.trim() || "—";
}

function callButton(number, label) {
  if (!number) return null;
  return h("button", {
    type: "button", class: "btn btn-small btn-ghost btn-dial-inline", title: t("call_number", { number: label || number }),
    "aria-label": t("call_number", { number: label || number }), dataset: { dial: number },
  }, t("call"));
}

function matchesOf(pop) {
  const created = state.created[pop.pop_id];
  return created ? [{ ...created, matched_by: "created" }] : (pop.matches || []);
}

function chosenContact(pop) {
  const matches = matchesOf(pop);
  if (!matches.length) return null;
  const id = state.chosen[pop.pop_id];
  return matches.find((m) => m.id === id) || matches[0];
}

// The number as people read it: the server's display form when it is one, else French national
// grouping for +33 numbers, else E.164 as it is.
const PHONE_TEXT = /^[+0-9 ().-]{2,40}$/;
function phoneText(c) {
  if (typeof c.display === "string" && PHONE_TEXT.test(c.display)) return c.display;
  const e = c.e164 || c.number || "";
  if (/^\+33[1-9][0-9]{8}$/.test(e)) return ("0" + e.slice(3)).replace(/(\d{2})(?=\d)/g, "$1 ");
  return e;
}

function renderCaller(pop) {
  const c = pop.caller || {};
  const line = h("p", { class: "pop-caller" });
  if (c.withheld) {
    line.append(h("span", { class: "badge badge-warn", text: t("withheld") }));
  } else if (c.number) {
    const shown = phoneText(c);
    line.append(h("span", { class: "phone pop-number", text: shown }), " ", callButton(c.e164 || c.number, shown));
  } else {
    line.append(h("span", { class: "muted", text: t("no_number") }));
  }
  if (c.name) line.append(" ", h("span", { class: "pop-cid-name", text: config.lang === "en" ? `“${c.name}”` : `« ${c.name} »` }));
  const unknownUnhappy = unhappyBadge(pop.unhappy); // a caller nobody matched, in the file by their number
  if (unknownUnhappy) line.append(" ", unknownUnhappy);
  return line;
}

function renderFacts(pop) {
  const dl = h("dl", { class: "facts pop-facts" });
  const add = (label, value) => { if (value) dl.append(h("dt", { text: label }), h("dd", {}, value)); };
  add(t("queue"), pop.queue);
  add(t("dnis"), pop.dnis);
  if (pop.ivr) add(t("ivr"), pop.ivr.summary || "");
  if (pop.last_survey) add(t("last_survey"), surveyText(pop.last_survey));
  return dl;
}

// "last CSAT 2/5 · NPS 9": a post-call survey's answers (either may be missing)
function surveyText(a) {
  const parts = [];
  if (a.csat != null) parts.push(t("last_csat", { csat: a.csat }));
  if (a.nps != null) parts.push(t("survey_nps", { nps: a.nps }));
  return parts.join(" · ");
}

function renderChooser(pop, matches) {
  const chosen = chosenContact(pop);
  const fs = h("fieldset", { class: "chooser" },
    h("legend", { text: t("several", { n: matches.length }) }));
  for (const m of matches) {
    const id = `choose-${m.id}`;
    const input = h("input", { type: "radio", name: "pop-contact", id, value: String(m.id) });
    input.checked = chosen && chosen.id === m.id;
    input.addEventListener("change", () => {
      state.chosen[pop.pop_id] = m.id;
      state.renderedKey = null;
      renderPop(true);
      const again = $(id);
      if (again) again.focus();
    });
    fs.append(h("div", { class: "chooser-item" }, input, h("label", { for: id },
      h("strong", { text: contactName(m) }), m.account ? ` — ${m.account.name}` : "", m.job_title ? ` (${m.job_title})` : "")));
  }
  return fs;
}

function renderContact(pop, contact) {
  const box = h("div", { class: "pop-contact" });
  const name = h("h3", { class: "pop-name", dataset: { popName: "", popId: pop.pop_id, eventAt: String(pop.event_at || "") } },
    h("a", { href: `/contacts/${contact.id}`, title: t("open_contact"), text: contactName(contact) }));
  box.append(h("div", { class: "pop-name-row" }, name, tierBadge(contact.tier),
    contact.matched_by === "suffix" ? h("span", { class: "badge badge-warn", text: t("match_suffix") }) : null,
    unhappyBadge(contact.unhappy)));
  if (contact.job_title) box.append(h("p", { class: "muted", text: contact.job_title }));
  if (contact.account) {
    box.append(h("p", { class: "pop-account" }, h("span", { class: "muted", text: `${t("account")} : ` }),
      h("a", { href: `/accounts/${contact.account.id}`, title: t("open_account"), text: contact.account.name }), " ",
      tierBadge(contact.account.tier)));
  }
  const nums = (contact.numbers || []).filter((n) => n.e164);
  if (nums.length) {
    const ul = h("ul", { class: "pop-numbers" });
    for (const n of nums) {
      const shown = phoneText({ e164: n.e164 }) + (n.extension ? ` p. ${n.extension}` : "");
      ul.append(h("li", {}, h("span", { class: "phone", text: shown }), " ", callButton(n.e164, shown)));
    }
    box.append(ul);
  }
  return box;
}

function renderComplaints(pop, contact) {
  const list = (pop.complaints || []).filter((c) => !contact || c.contact_id === contact.id);
  const sec = h("section", { class: "pop-section", "aria-label": t("complaints") }, h("h3", { text: t("complaints") }));
  if (!list.length) { sec.append(h("p", { class: "muted", text: t("no_complaint") })); return sec; }
  const ul = h("ul", { class: "plain pop-complaints" });
  for (const c of list) {
    ul.append(h("li", {},
      h("span", { class: `badge badge-${c.sla_state}`, text: t(`sla_${c.sla_state}`) }), " ",
      h("strong", { text: c.category }), " ",
      h("span", { class: "muted", text: t("answer_due", { date: formatDate(c.answer_due_at, config.lang) }) }),
      h("div", { class: "pop-text", text: c.description || "" })));
  }
  sec.append(ul);
  return sec;
}

function renderHistory(pop, contact) {
  const list = (pop.history || []).filter((i) => !contact || i.contact_id === contact.id);
  const sec = h("section", { class: "pop-section", "aria-label": t("history") }, h("h3", { text: t("history") }));
  if (!list.length) { sec.append(h("p", { class: "muted", text: t("no_history") })); return sec; }
  const ol = h("ol", { class: "timeline pop-history" });
  for (const i of list) {
    const label = i.kind === "survey" && i.data ? surveyText(i.data) : (i.data && i.data.label) || i.disposition_code;
    ol.append(h("li", {},
      h("span", { class: `icon icon-${i.kind}`, "aria-hidden": "true", text: t(`kind_${i.kind}`).slice(0, 1) }),
      h("div", {},
        h("div", { class: "meta" }, `${t(`kind_${i.kind}`)} · ${formatDate(i.at, config.lang)}`, label ? ` · ${label}` : ""),
        i.body ? h("div", { class: "body", text: i.body }) : null)));
  }
  sec.append(ol);
  return sec;
}

function renderNewContact(pop) {
  const nc = pop.new_contact;
  const form = h("form", { class: "new-contact", id: "new-contact-form", novalidate: true },
    h("h3", { text: t("unknown_caller") }));
  const field = (name, label, value, extra = {}) => h("div", { class: "field" },
    h("label", { for: `nc-${name}`, text: label }),
    h("input", { type: "text", id: `nc-${name}`, name, value: value || "", maxlength: 120, ...extra }));
  form.append(
    h("div", { class: "nc-grid" },
      field("first_name", t("nc_first_name"), nc.first_name),
      field("last_name", t("nc_last_name"), nc.last_name, { "aria-required": "true" }),
      field("number", t("nc_number"), nc.number, { type: "tel", maxlength: 64 })),
    h("p", { class: "field-error", id: "nc-error", role: "alert", hidden: true }),
    h("button", { type: "submit", class: "btn btn-secondary", text: t("nc_create") }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const err = $("nc-error");
    const last = String(data.get("last_name") || "").trim();
    if (!last) {
      err.textContent = t("need_last_name"); err.hidden = false;
      form.elements.last_name.setAttribute("aria-invalid", "true"); form.elements.last_name.focus();
      return;
    }
    const number = String(data.get("number") || "").trim();
    try {
      const contact = await api("POST", "/api/v1/contacts", {
        first_name: String(data.get("first_name") || "").trim(), last_name: last,
        numbers: number ? [{ number }] : [],
      });
      state.created[pop.pop_id] = contact;
      state.chosen[pop.pop_id] = contact.id;
      state.renderedKey = null;
      renderPop(true);
      say(t("contact_created"), "ok");
    } catch (exc) {
      err.textContent = errorText(exc); err.hidden = false;
    }
  });
  return form;
}

function popKey(pop) {
  return pop ? `${pop.pop_id}|${pop.partial ? 1 : 0}|${state.created[pop.pop_id] ? 1 : 0}|${state.chosen[pop.pop_id] || ""}` : null;
}

// The phase the desk shows. The pop says "answered" until the whole call ends; the agent's own part may
// end before (a blind transfer: the PBX already holds the agent in wrap-up), so their state decides too.
function phaseOf(pop) {
  if (!pop) return null;
  let phase = pop.phase;
  const mineOver = state.transferred.has(pop.linkedid) || (state.agent && state.agent.state === "wrap_up");
  if (phase === "answered" && mineOver) phase = "wrap_up";
  if (state.done.has(pop.linkedid) && (phase === "wrap_up" || phase === "answered")) return "done";
  return phase;
}

function renderPop(force = false) {
  const pop = state.pop;
  const panel = $("pop");
  const phase = phaseOf(pop);
  const badge = $("pop-phase");
  $("pop-empty").hidden = !!pop;
  panel.hidden = !pop;
  badge.hidden = !pop;
  if (pop) {
    badge.textContent = t(`phase_${phase}`);
    badge.className = `badge phase-${phase}`;
    panel.dataset.phase = phase;
    panel.dataset.linkedid = pop.linkedid;
  }
  const key = popKey(pop);
  if (!force && key === state.renderedKey) return;
  state.renderedKey = key;
  if (!pop) { panel.replaceChildren(); return; }
  const parts = [renderCaller(pop), renderFacts(pop)];
  const matches = matchesOf(pop);
  if (pop.partial) {
    parts.push(h("p", { class: "muted pop-loading", text: t("looking_up") }));
  } else if (matches.length) {
    const contact = chosenContact(pop);
    if (matches.length > 1) parts.push(renderChooser(pop, matches));
    parts.push(renderContact(pop, contact));
    parts.push(h("div", { class: "pop-columns" }, renderComplaints(pop, contact), renderHistory(pop, contact)));
  } else if (pop.new_contact) {
    parts.push(h("p", { class: "pop-name pop-unknown", dataset: { popName: "", popId: pop.pop_id, eventAt: String(pop.event_at || "") } },
      (pop.caller && pop.caller.name) || t("unknown_caller")));
    parts.push(renderNewContact(pop));
  } else {
    parts.push(h("p", { class: "pop-name pop-unknown", dataset: { popName: "", popId: pop.pop_id, eventAt: String(pop.event_at || "") } },
      pop.caller && pop.caller.withheld ? t("withheld") : t("unknown_caller")));
  }
  panel.replaceChildren(...parts);
}

// --- call controls and wrap-up ---------------------------------------------------------------------------
function activeCall() {
  const pop = state.pop;
  const phase = phaseOf(pop);
  if (pop && (phase === "ringing" || phase === "answered")) return pop.linkedid;
  const a = state.agent;
  if (a && (a.state === "on_call" || a.state === "ringing") && a.linkedid) return a.linkedid;
  return null;
}

// A wrap-up blocks "ready" only while the PBX still holds the agent in wrap-up: a pop from an earlier
// session (the snapshot keeps the last pop) must not lock a fresh desk.
function wrapPending() {
  const pop = state.pop;
  const inWrap = !!state.agent && state.agent.state === "wrap_up";
  return !!(pop && inWrap && phaseOf(pop) === "wrap_up");
}

function renderControls() {
  const call = activeCall();
  const talking = !!call && (phaseOf(state.pop) === "answered" || (state.agent && state.agent.state === "on_call"));
  const held = call ? !!state.held[call] : false;
  $("btn-hangup").disabled = !call;
  const hold = $("btn-hold");
  hold.disabled = !talking;
  hold.textContent = held ? t("unhold") : t("hold");
  hold.setAttribute("aria-pressed", held ? "true" : "false");
  for (const el of $("transfer-form").querySelectorAll("input, button")) el.disabled = !talking;
  const rec = $("btn-rec");
  const recPaused = call ? !!state.recPaused[call] : false;
  rec.disabled = !talking;
  rec.textContent = recPaused ? t("rec_resume") : t("rec_pause");
  rec.setAttribute("aria-pressed", recPaused ? "true" : "false");
  $("btn-rec-start").disabled = !talking || (call ? !!state.recStarted[call] : false);
  $("btn-survey").disabled = !talking;
}

function resetWrapForm(linkedid) {
  const form = $("wrap-form");
  form.reset();
  for (const id of ["wrap-code-error", "wrap-due-error", "wrap-error"]) $(id).hidden = true;
  $("wrap-code").removeAttribute("aria-invalid");
  $("wrap-callback-fields").hidden = true;
  state.wrapFor = linkedid;
}

function renderWrap() {
  const pop = state.pop;
  const phase = phaseOf(pop);
  const scripted = !!pop && scriptPanel.active(pop.linkedid); // its outcome is saved in the script panel
  const show = !!pop && (phase === "answered" || phase === "wrap_up") && !scripted;
  if (show && state.wrapFor !== pop.linkedid) resetWrapForm(pop.linkedid);
  $("wrap-form").hidden = !show;
  $("wrap-empty").hidden = show || scripted;
  $("wrap-scripted").hidden = !scripted;
  const canSave = phase === "wrap_up";
  $("btn-wrap-save").disabled = !canSave;
  $("wrap-hint").hidden = canSave || !show;
  $("complaint-box").hidden = !(pop && ["answered", "wrap_up", "done"].includes(phase));
}

function renderAll() {
  renderStatus();
  renderPop();
  renderControls();
  scriptPanel.update(state.pop, phaseOf(state.pop));
  previewCard.update(state.agent ? state.agent.state : null, !!activeCall());
  renderWrap();
}

// The CROC script of the call (campaign or queue), with its own outcome form (script_panel.js).
const scriptPanel = createScriptPanel({
  root: $("script-panel"),
  t,
  errorText,
  contactOf: () => (state.pop ? chosenContact(state.pop) : null),
  isDone: (linkedid) => state.done.has(linkedid),
  onActive: () => renderWrap(),
  onSaved: (linkedid) => {
    markDone(linkedid);
    say(t("script_saved_ready"), "ok");
    renderAll();
  },
});

// Preview campaigns: the next lead to dial or skip while the agent is ready (preview_card.js).
const previewCard = createPreviewCard({ root: $("preview-card"), t, errorText, say });

// --- live events -------------------------------------------------------------------------------------------
function announce(pop) {
  const c = pop.caller || {};
  const m = (pop.matches || [])[0];
  const who = m ? contactName(m) : c.withheld ? t("withheld") : c.name || c.display || c.number || t("unknown_caller");
  $("desk-announce").textContent = t("incoming", { who });
}

function onPop(pop, fromSnapshot = false) {
  if (!pop || (me && pop.agent !== me)) return;
  const isNew = !state.pop || state.pop.pop_id !== pop.pop_id;
  const prev = state.pop;
  state.pop = pop;
  if (!fromSnapshot && pop.phase === "ringing" && (isNew || (prev && prev.partial && !pop.partial))) announce(pop);
}

function onAgent(msg) {
  if (me && msg.agent !== me) return;
  state.agent = msg;
}

function applySnapshot(items) {
  let agent = null, pop = null;
  state.phone = null;
  for (const item of items) {
    if (item.type === "agent_state_changed" && (!me || item.agent === me)) agent = item;
    else if (item.type === "phone_registration" && (!me || item.agent === me)) state.phone = item;
    else if (item.type === "pop" && (!me || item.agent === me)) pop = item;
    else if (item.type === "pbx_link") state.pbxUp = !!item.up;
  }
  state.agent = agent;
  if (pop) onPop(pop, true);
  else state.pop = null;
  state.renderedKey = null;
  renderAll();
}

function applyEvent(msg) {
  switch (msg.type) {
    case "agent_state_changed": onAgent(msg); break;
    case "phone_registration": if (!me || msg.agent === me) state.phone = msg; break;
    case "pop": onPop(msg); break;
    case "call_held": state.held[msg.linkedid] = !!msg.held; break;
    case "call_transferred": if (!me || msg.by_agent === me) state.transferred.add(msg.linkedid); break;
    case "pbx_link": state.pbxUp = !!msg.up; break;
    case "call_ended": delete state.held[msg.record && msg.record.linkedid]; break;
    default: return;
  }
  renderAll();
}

// --- actions -----------------------------------------------------------------------------------------------
function dial(number) {
  if (!number) { say(t("need_number"), "error"); $("dial-number").focus(); return; }
  act(() => agentApi("/dial", { number }), t("dialing", { number }));
}

function hangup() {
  if (softphone && softphone.ringing) { softphone.decline(); return; } // not answered: the queue rings on
  const call = activeCall();
  if (call) act(() => agentApi(`/calls/${encodeURIComponent(call)}/hangup`));
}

// The customer goes to the post-call survey (the call's queue or campaign must offer it: else a 409 says so).
function sendToSurvey() {
  const call = activeCall();
  if (!call || $("btn-survey").disabled) return;
  act(() => agentApi(`/calls/${encodeURIComponent(call)}/survey`), t("survey_sent"));
}

function toggleHold() {
  const call = activeCall();
  if (!call || $("btn-hold").disabled) return;
  act(() => agentApi(`/calls/${encodeURIComponent(call)}/${state.held[call] ? "unhold" : "hold"}`));
}

// Card numbers, health data: the recording is paused (silence in the file) until resumed; the server notes
// who paused it and when. A call not recorded answers 404 and the desk says so.
async function toggleRecording() {
  const call = activeCall();
  if (!call || $("btn-rec").disabled) return;
  const paused = !!state.recPaused[call];
  const done = await act(
    () => agentApi(`/calls/${encodeURIComponent(call)}/recording/${paused ? "resume" : "pause"}`).then(() => true),
    paused ? t("rec_resumed") : t("rec_paused"),
  );
  if (done) { state.recPaused[call] = !paused; renderControls(); }
}

// An `on_demand` queue or campaign records muted until the agent starts it; a call with nothing waiting to
// start (another policy, or started already) answers 404 and the desk says so.
async function startRecording() {
  const call = activeCall();
  if (!call || $("btn-rec-start").disabled) return;
  const done = await act(
    () => agentApi(`/calls/${encodeURIComponent(call)}/recording/start`).then(() => true),
    t("rec_started"),
  );
  if (done) { state.recStarted[call] = true; renderControls(); }
}

function pause() {
  const reason = $("pause-reason").value;
  if (!reason) { say(t("need_reason"), "error"); $("pause-reason").focus(); return; }
  act(() => agentApi("/pause", { reason }));
}

function ready() {
  if ($("btn-ready").disabled) return;
  act(() => agentApi("/ready"));
}

function toggleLogin() {
  if (!$("btn-login").hidden) login();
  else act(() => agentApi("/logout"));
}

function markDone(linkedid) {
  state.done.add(linkedid);
  const keep = [...state.done].slice(-50);
  sessionStorage.setItem(DONE_KEY, JSON.stringify(keep));
}

async function saveWrap(ev) {
  ev.preventDefault();
  const pop = state.pop;
  if (!pop || phaseOf(pop) !== "wrap_up") return;
  const code = $("wrap-code");
  const codeErr = $("wrap-code-error");
  const err = $("wrap-error");
  err.hidden = true;
  if (!code.value) {
    codeErr.textContent = t("need_code");
    codeErr.hidden = false;
    code.setAttribute("aria-invalid", "true");
    code.focus();
    return;
  }
  codeErr.hidden = true;
  code.removeAttribute("aria-invalid");
  const wantsCallback = $("wrap-callback").checked;
  const due = $("wrap-due").value;
  if (wantsCallback && !due) {
    $("wrap-due-error").textContent = t("need_due");
    $("wrap-due-error").hidden = false;
    $("wrap-due").setAttribute("aria-invalid", "true");
    $("wrap-due").focus();
    return;
  }
  const contact = chosenContact(pop);
  const notes = $("wrap-notes").value.trim();
  const button = $("btn-wrap-save");
  button.disabled = true;
  try {
    await agentApi(`/calls/${encodeURIComponent(pop.linkedid)}/disposition`, {
      code: code.value, notes: notes || null, contact_id: contact ? contact.id : null,
    });
  } catch (exc) {
    err.textContent = errorText(exc);
    err.hidden = false;
    button.disabled = false;
    return;
  }
  markDone(pop.linkedid);
  let text = state.agent && state.agent.state === "paused" && state.agent.reason !== "wrapup" ? t("saved_paused") : t("saved");
  if (wantsCallback) {
    try {
      const cb = await api("POST", "/api/v1/callbacks", {
        number: (pop.caller && (pop.caller.e164 || pop.caller.number)) || (contact && contact.numbers[0] && contact.numbers[0].e164),
        due_at: zonedToIso(due), contact_id: contact ? contact.id : null, for_me: true, note: notes || null,
      });
      text += " " + t("callback_created", { date: formatDate(cb.due_at, config.lang) });
    } catch (exc) {
      say(errorText(exc), "error");
      renderAll();
      return;
    }
  }
  say(text, "ok");
  renderAll();
}

async function openComplaint(ev) {
  ev.preventDefault();
  const pop = state.pop;
  const err = $("complaint-error");
  const form = $("complaint-form");
  const contact = pop ? chosenContact(pop) : null;
  const reason = form.elements.reason_id; // the reasons taxonomy, or free text while none is set up
  const field = reason || form.elements.category;
  const chosen = field.value.trim();
  const description = form.elements.description.value.trim();
  const fail = (text, el) => { err.textContent = text; err.hidden = false; if (el) el.focus(); };
  if (!contact) return fail(t("need_contact"));
  if (!chosen) return fail(t("need_category"), field);
  if (!description) return fail(t("need_description"), form.elements.description);
  try {
    const body = { contact_id: contact.id, description, channel: "phone" };
    if (reason) body.reason_id = Number(chosen); else body.category = chosen;
    const c = await api("POST", "/api/v1/complaints", body);
    err.hidden = true;
    form.reset();
    $("complaint-box").open = false;
    say(t("complaint_created", { id: c.id }), "ok");
  } catch (exc) {
    fail(errorText(exc));
  }
}

// --- wiring ------------------------------------------------------------------------------------------------
// Joining several queues changes the agent's state once (the first queue): read the full list back.
async function refreshQueues() {
  for (const delay of [800, 2500]) {
    await new Promise((r) => setTimeout(r, delay));
    try {
      const me = await api("GET", "/api/v1/agent/me");
      if (state.agent && me && me.state === state.agent.state && String(me.queues) !== String(state.agent.queues)) {
        state.agent = { ...state.agent, queues: me.queues };
        renderStatus();
      }
    } catch { /* the events remain the source of truth */ }
  }
}

function login() {
  act(() => agentApi("/login", {})).then((out) => { if (out !== undefined) refreshQueues(); });
}

$("btn-login").addEventListener("click", login);
$("btn-logout").addEventListener("click", () => act(() => agentApi("/logout")));
$("pause-form").addEventListener("submit", (ev) => { ev.preventDefault(); pause(); });
$("btn-ready").addEventListener("click", ready);
$("dial-form").addEventListener("submit", (ev) => { ev.preventDefault(); dial($("dial-number").value.trim()); });
$("btn-hangup").addEventListener("click", hangup);
$("btn-hold").addEventListener("click", toggleHold);
$("btn-rec").addEventListener("click", toggleRecording);
$("btn-rec-start").addEventListener("click", startRecording);
$("btn-survey").addEventListener("click", sendToSurvey);
$("transfer-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const call = activeCall();
  const target = $("transfer-target").value.trim();
  if (!call) return;
  if (!target) { say(t("need_target"), "error"); $("transfer-target").focus(); return; }
  const mode = new FormData(ev.target).get("mode") || "blind";
  act(() => agentApi(`/calls/${encodeURIComponent(call)}/transfer`, { target, mode }), t("transferring", { target }));
});
$("wrap-form").addEventListener("submit", saveWrap);
$("wrap-callback").addEventListener("change", (ev) => { $("wrap-callback-fields").hidden = !ev.target.checked; });
$("complaint-form").addEventListener("submit", openComplaint);
// Click-to-call from any number the pop shows.
$("pop").addEventListener("click", (ev) => {
  const btn = ev.target.closest("[data-dial]");
  if (btn) dial(btn.dataset.dial);
});

const focus = (id) => () => { const el = $(id); if (el && !el.disabled && !el.closest("[hidden]")) el.focus(); };
shortcuts({
  KeyR: ready,
  KeyP: pause,
  KeyL: toggleLogin,
  KeyH: hangup,
  KeyA: () => softphone && softphone.answer(),
  KeyM: () => softphone && softphone.toggleMute(),
  KeyO: toggleHold,
  KeyK: focus("dial-number"),
  KeyT: focus("transfer-target"),
  KeyW: focus("wrap-code"),
  KeyN: focus("wrap-notes"),
  KeyC: () => { const el = $("pop-title"); el.tabIndex = -1; el.focus(); },
});

// The browser phone, when the agent's phone is the browser (softphone.js): its ring waits for the pop.
const softphone = config.softphone
  ? createSoftphone({
    root: $("softphone"),
    t: loadStrings("softphone-strings"),
    popOf: (linkedid) => !!(state.pop && state.pop.linkedid === linkedid && state.renderedKey && !$("pop").hidden),
  })
  : null;
if (softphone) softphone.start();

const live = connectLive();
live.store.addEventListener("snapshot", (ev) => applySnapshot(ev.detail.items));
live.store.addEventListener("event", (ev) => applyEvent(ev.detail));
startTicker(document);
renderAll();
window.plateauDesk = { state, duration, nowS, softphone }; // for tests and debugging
export default live;
