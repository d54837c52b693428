// Call-list upload: preview the file's columns, map them, upload through /api/v1, follow the import job,
// then offer its report. Texts come from data-* attributes rendered (translated) by the template.
const form = document.getElementById("upload-form");
const fileInput = document.getElementById("up-file");
const listSelect = document.getElementById("up-list");
const newList = document.getElementById("up-new-list");
const template = document.getElementById("up-template");
const mappingBox = document.getElementById("mapping");
const mappingBody = document.querySelector("#mapping-table tbody");
const fieldOptions = document.getElementById("field-options");
const errorBox = document.getElementById("upload-error");
const submit = document.getElementById("up-submit");
const progressBox = document.getElementById("progress-box");
const progress = document.getElementById("progress");
const progressLabel = document.getElementById("progress-label");
const reportLink = document.getElementById("report-link");
const PREVIEW_BYTES = 256 * 1024;

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)plateau_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function api(url, options = {}) {
  const headers = { Accept: "application/json", "X-CSRF-Token": csrf(), ...(options.headers || {}) };
  const r = await fetch(url, { credentials: "same-origin", ...options, headers });
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) throw new Error(detail(body) || `HTTP ${r.status}`);
  return body;
}

function detail(body) {
  if (!body || body.detail === undefined) return "";
  if (typeof body.detail === "string") return body.detail;
  return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
  if (text) errorBox.focus?.();
}

async function preview() {
  showError("");
  const file = fileInput.files[0];
  if (!file) return showError(form.dataset.errFile);
  const isXlsx = file.name.toLowerCase().endsWith(".xlsx");
  const data = new FormData();
  data.append("file", isXlsx ? file : file.slice(0, PREVIEW_BYTES), file.name);
  try {
    const p = await api("/api/v1/lists/preview", { method: "POST", body: data });
    renderMapping(p);
  } catch (e) {
    showError(e.message);
  }
}

function renderMapping(p) {
  mappingBody.replaceChildren();
  p.header.forEach((name, i) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name;
    const examples = document.createElement("td");
    examples.textContent = p.rows.map((r) => r[i] || "").filter(Boolean).slice(0, 3).join(" · ");
    const td = document.createElement("td");
    const select = document.createElement("select");
    select.dataset.column = name;
    select.setAttribute("aria-label", name);
    select.append(fieldOptions.content.cloneNode(true));
    const suggested = p.suggested[name] || "ignore";
    select.value = suggested.startsWith("custom:") ? "custom" : suggested;
    td.append(select);
    tr.append(th, examples, td);
    mappingBody.append(tr);
  });
  mappingBox.hidden = false;
}

function mapping() {
  const selects = [...mappingBody.querySelectorAll("select")];
  if (!selects.length) return null;
  const out = {};
  for (const s of selects) {
    const column = s.dataset.column;
    out[column] = s.value === "custom" ? `custom:${column.toLowerCase().replace(/[^a-z0-9]+/g, "_").slice(0, 40) || "col"}` : s.value;
  }
  return out;
}

async function listId() {
  if (listSelect.value) return listSelect.value;
  const name = newList.value.trim();
  if (!name) throw new Error(form.dataset.errList);
  const created = await api("/api/v1/lists", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
  });
  const option = new Option(created.name, created.id, true, true);
  listSelect.append(option);
  return created.id;
}

async function upload(ev) {
  ev.preventDefault();
  showError("");
  const file = fileInput.files[0];
  if (!file) return showError(form.dataset.errFile);
  const map = template.value ? null : mapping();
  if (map && !Object.values(map).some((v) => v.startsWith("number"))) return showError(form.dataset.errPhone);
  submit.disabled = true;
  try {
    const id = await listId();
    const data = new FormData();
    data.append("file", file, file.name);
    data.append("dedupe_scope", form.dedupe_scope.value);
    data.append("dedupe_by", form.dedupe_by.value);
    if (template.value) data.append("template_id", template.value);
    if (map) data.append("mapping", JSON.stringify(map));
    const job = await api(`/api/v1/lists/${id}/imports`, { method: "POST", body: data });
    await follow(job.id);
  } catch (e) {
    showError(e.message);
  } finally {
    submit.disabled = false;
  }
}

function show(job) {
  progress.value = job.percent;
  for (const dd of document.querySelectorAll("#counters dd")) dd.textContent = job[dd.dataset.k] ?? 0;
}

async function follow(jobId) {
  progressBox.hidden = false;
  reportLink.hidden = true;
  progressLabel.textContent = form.dataset.running;
  for (;;) {
    const job = await api(`/api/v1/imports/${jobId}`);
    show(job);
    if (job.status !== "running") {
      progressLabel.textContent = job.status === "done" ? form.dataset.done : `${form.dataset.failed} ${job.error}`;
      reportLink.href = `/api/v1/imports/${jobId}/report.csv`;
      reportLink.hidden = false;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

document.getElementById("up-preview").addEventListener("click", preview);
fileInput.addEventListener("change", () => { mappingBox.hidden = true; mappingBody.replaceChildren(); });
form.addEventListener("submit", upload);

// Campaign state buttons: POST the transition; a refusal (409) is shown as the server words it.
const campaignError = document.getElementById("campaign-error");
for (const button of document.querySelectorAll("#campaigns-table button[data-to]")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(`/api/v1/campaigns/${button.dataset.campaign}/transition`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ to: button.dataset.to }),
      });
      location.reload();
    } catch (e) {
      campaignError.textContent = e.message;
      campaignError.hidden = false;
      button.disabled = false;
    }
  });
}
