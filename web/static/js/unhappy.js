// The unhappy-customers page: "make a call list" of the customers shown (same filters), through
// /api/v1/unhappy/call-list (the normal list import path), then the import's progress and report.
import { ApiError, api, h, loadStrings } from "./desk_util.js";

const t = loadStrings("uh-strings");
const form = document.getElementById("uh-list-form");
const out = document.getElementById("uh-list-result");

async function finished(jobId) {
  for (;;) {
    const job = await api("GET", `/api/v1/imports/${jobId}`);
    if (job.status !== "running") return job;
    await new Promise((r) => setTimeout(r, 500));
  }
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = form.elements.name.value.trim();
  if (!name) { out.textContent = t("need_name"); form.elements.name.focus(); return; }
  const body = { name };
  if (form.dataset.reason) body.reason = form.dataset.reason;
  if (form.dataset.kind) body.kind = form.dataset.kind;
  if (form.elements.campaign_id.value) body.campaign_id = Number(form.elements.campaign_id.value);
  out.textContent = "";
  try {
    const made = await api("POST", "/api/v1/unhappy/call-list", body);
    const job = await finished(made.import.id);
    const rejected = (job.rows || 0) - (job.accepted || 0);
    out.replaceChildren(
      h("span", { dataset: { listId: String(made.list_id), jobStatus: job.status }, text: t("made", {
        id: made.list_id, members: made.members, status: job.status, accepted: job.accepted, rejected }) }), " ",
      h("a", { href: `/api/v1/imports/${job.id}/report.csv`, id: "uh-report", text: t("report") }));
  } catch (exc) {
    out.textContent = t("failed", { detail: exc instanceof ApiError ? exc.detail : String(exc) });
  }
});
