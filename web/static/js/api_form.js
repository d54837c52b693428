// Forms that write through /api/v1 (admin and campaign pages): the page and the API share one pydantic
// schema, one set of checks and one audit. A form opts in with
//   <form data-api="/api/v1/users/7" data-method="PATCH" data-done="reload|stay|go:/path/{id}">
// Each named field becomes a body key; data-type says how: int, float, bool (a checkbox), json (a
// hidden value or a textarea), ints (a multiple select). An empty field is left out, or sent as null with
// data-empty="null". A form with data-multipart sends its fields as they are (a file upload). A 422's field errors are shown next to their fields; other errors in the form's
// [role=alert] box. Nothing is lost on an error: the fields keep what was typed.
import { t } from "./i18n.js";

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)plateau_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

function valueOf(el) {
  const type = el.dataset.type || "";
  if (type === "bool") return el.checked;
  if (type === "ints") return [...el.selectedOptions].map((o) => Number(o.value));
  const raw = el.value.trim();
  if (raw === "") return el.dataset.empty === "null" ? null : undefined;
  if (type === "int") return /^-?\d+$/.test(raw) ? Number(raw) : raw; // the server names a bad number
  if (type === "float") return Number.isFinite(Number(raw.replace(",", "."))) ? Number(raw.replace(",", ".")) : raw;
  if (type === "json") {
    try { return JSON.parse(raw); } catch { return raw; } // sent as text: the schema's 422 names the field
  }
  return el.value;
}

export function bodyOf(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.type === "submit") continue;
    const v = valueOf(el);
    if (v !== undefined) body[el.name] = v;
  }
  return body;
}

function errorSlot(form, name) {
  const field = form.elements.namedItem(name);
  let slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  if (!slot && field instanceof Element) {
    slot = document.createElement("p");
    slot.className = "field-error";
    slot.dataset.errorFor = name;
    slot.id = `${form.id || "form"}-${name}-error`;
    (field.closest(".field") || field).append(slot);
  }
  return { field: field instanceof Element ? field : null, slot };
}

function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) { slot.textContent = ""; slot.hidden = true; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const box = form.querySelector("[role=alert]");
  if (box) { box.textContent = ""; box.hidden = true; }
}

function showErrors(form, status, body) {
  const box = form.querySelector("[role=alert]");
  const general = [];
  const detail = body && body.detail;
  if (status === 422 && Array.isArray(detail)) {
    let first = null;
    for (const d of detail) {
      const loc = d.loc || [];
      const name = loc[0] === "body" || loc[0] === "form" ? String(loc[1] ?? "") : "";
      const { field, slot } = name ? errorSlot(form, name) : { field: null, slot: null };
      if (!slot) { general.push(`${loc.slice(1).join(".")}: ${d.msg}`); continue; }
      const where = loc.length > 2 ? `${loc.slice(2).join(".")}: ` : "";
      slot.textContent = slot.textContent ? `${slot.textContent}; ${where}${d.msg}` : `${where}${d.msg}`;
      slot.hidden = false;
      if (field) {
        field.setAttribute("aria-invalid", "true");
        field.setAttribute("aria-describedby", slot.id);
        first = first || field;
      }
    }
    if (first) first.focus();
  } else {
    general.push(typeof detail === "string" ? detail : `${t("request_failed")} (HTTP ${status})`);
  }
  if (general.length && box) { box.textContent = general.join("; "); box.hidden = false; box.focus?.(); }
}

export async function submitApi(form) {
  clearErrors(form);
  const status = form.querySelector("[role=status]");
  if (status) status.textContent = "";
  let r;
  try {
    const multipart = "multipart" in form.dataset; // a file upload: the form as it is
    const headers = { Accept: "application/json", "X-CSRF-Token": csrf() };
    if (!multipart) headers["Content-Type"] = "application/json";
    r = await fetch(form.dataset.api, {
      method: form.dataset.method || "POST",
      credentials: "same-origin",
      headers,
      body: multipart ? new FormData(form) : JSON.stringify(bodyOf(form)),
    });
  } catch {
    showErrors(form, 0, { detail: t("network_error") });
    return null;
  }
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) { showErrors(form, r.status, body); return null; }
  const done = form.dataset.done || "stay";
  if (done === "reload") location.reload();
  else if (done.startsWith("go:")) location.assign(done.slice(3).replace("{id}", String(body?.id ?? "")));
  else if (status) status.textContent = form.dataset.saved || t("saved");
  form.dispatchEvent(new CustomEvent("api:done", { detail: body }));
  return body;
}

for (const form of document.querySelectorAll("form[data-api]")) {
  form.noValidate = true; // the server's schema is the one set of rules; its errors show inline
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitApi(form);
  });
}
