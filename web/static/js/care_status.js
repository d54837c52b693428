// The customer-status card of the contact and account pages: mark the customer lost (a reason is
// required) or active again, through the care-status API; the page reloads to show the new status.
import { ApiError, api, loadStrings } from "./desk_util.js";

const t = loadStrings("care-strings");
const form = document.getElementById("care-form");
const error = document.getElementById("care-error");

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { status: form.elements.status.value };
  if (body.status === "lost") {
    const reason = form.elements.reason.value.trim();
    if (!reason) {
      error.textContent = t("need_reason");
      error.hidden = false;
      form.elements.reason.setAttribute("aria-invalid", "true");
      form.elements.reason.focus();
      return;
    }
    body.reason = reason;
  }
  try {
    await api("PUT", form.dataset.url, body);
    window.location.reload();
  } catch (exc) {
    error.textContent = t("failed", { detail: exc instanceof ApiError ? exc.detail : String(exc) });
    error.hidden = false;
  }
});
