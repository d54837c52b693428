// The preview-dialling card of the agent desk: while the agent is ready, the next lead of a running preview
// campaign of their queues (GET /api/v1/agent/preview, held for them a while) with Dial and Skip.
// Dial places the call through the dialer (the agent's phone rings first); the pop and the script follow
// as for any dialer call. Lead values are data: inserted with textContent (desk_util.h).
import { api, formatDate, h } from "./desk_util.js";

const POLL_MS = 3000;
const SHOWN_FIELDS = ["company", "job_title", "city"];

export function createPreviewCard({ root, t, errorText, say }) {
  const s = { lead: null, timer: null, busy: false, off: false, quietUntil: 0 };

  function update(agentState, inCall) {
    const want = agentState === "ready" && !inCall && !s.off;
    if (want && s.timer === null) {
      poll();
      s.timer = setInterval(poll, POLL_MS);
    } else if (!want && s.timer !== null) {
      clearInterval(s.timer);
      s.timer = null;
      show(null);
    }
  }

  async function poll() {
    if (s.busy || Date.now() < s.quietUntil) return; // just dialled: the phone rings, no next lead yet
    try {
      show(await api("GET", "/api/v1/agent/preview"));
    } catch (exc) {
      if (exc.status === 503 || exc.status === 404 || exc.status === 403) { // no dialer here: stop asking
        s.off = true;
        clearInterval(s.timer);
        s.timer = null;
      }
      show(null);
    }
  }

  function show(lead) {
    const same = lead && s.lead && lead.lead_id === s.lead.lead_id;
    s.lead = lead;
    if (!lead) { root.hidden = true; root.replaceChildren(); return; }
    if (same) return; // keep the agent's focus on the buttons
    const facts = h("dl", { class: "facts preview-facts" });
    const add = (label, value) => { if (value) facts.append(h("dt", { text: label }), h("dd", { text: value })); };
    add(t("preview_campaign"), lead.campaign && lead.campaign.name);
    add(t("preview_number"), lead.number_display || lead.number);
    for (const key of SHOWN_FIELDS) add(t(`preview_${key}`), lead.fields && lead.fields[key]);
    add(t("preview_attempts"), String(lead.attempts ?? 0));
    if (lead.callback) add(t("preview_callback"), formatDate(lead.callback.due_at, document.documentElement.lang));
    const dial = h("button", { type: "button", class: "btn", id: "btn-preview-dial", text: t("preview_dial") });
    const skip = h("button", { type: "button", class: "btn btn-secondary", id: "btn-preview-skip", text: t("preview_skip") });
    dial.addEventListener("click", () => act("dial", lead));
    skip.addEventListener("click", () => act("skip", lead));
    root.replaceChildren(
      h("h2", { id: "preview-title", text: t("preview_title") }),
      h("p", { class: "preview-name", dataset: { leadId: String(lead.lead_id) }, text: lead.name || lead.number_display || lead.number }),
      facts,
      h("div", { class: "control-row" }, dial, skip));
    root.hidden = false;
  }

  async function act(action, lead) {
    if (s.busy) return;
    s.busy = true;
    try {
      await api("POST", `/api/v1/agent/preview/${encodeURIComponent(lead.lead_id)}/${action}`);
      if (action === "dial") s.quietUntil = Date.now() + 10_000;
      if (action === "dial") say(t("dialing", { number: lead.number_display || lead.number }), "ok");
      s.lead = null;
      root.hidden = true;
      root.replaceChildren();
    } catch (exc) {
      say(errorText(exc), "error");
    } finally {
      s.busy = false;
    }
    if (action === "skip") poll();
  }

  return { update };
}
