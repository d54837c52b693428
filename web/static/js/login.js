// Sign-in through the REST API (POST /api/v1/auth/login): sets the session and CSRF cookies.
import { t } from "./i18n.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

function showError(text, field) {
  error.textContent = text;
  error.hidden = false;
  if (field) field.setAttribute("aria-invalid", "true");
  (field || document.getElementById("username")).focus();
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  form.username.removeAttribute("aria-invalid");
  form.password.removeAttribute("aria-invalid");
  if (!username) return showError(t("login_invalid"), form.username);
  if (!password) return showError(t("login_invalid"), form.password);
  submit.disabled = true;
  const label = submit.textContent;
  submit.textContent = t("signing_in");
  try {
    const r = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username, password }),
      credentials: "same-origin",
    });
    if (r.ok) {
      const next = form.dataset.next || "/";
      location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
      return;
    }
    if (r.status === 429) showError(t("login_throttled", { s: r.headers.get("Retry-After") || "60" }));
    else if (r.status === 422) showError(t("login_invalid"));
    else showError(t("login_failed"), form.password);
  } catch {
    showError(t("network_error"));
  } finally {
    submit.disabled = false;
    submit.textContent = label;
  }
});
