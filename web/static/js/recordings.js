// Complaints page: "Pin to the complaint" keeps a call's recording while the complaint is open
// (POST /api/v1/complaints/{id}/recordings; the server checks who may hear it). Pages work without it.
import { api, h } from "./desk_util.js";
import { t } from "./i18n.js";

for (const button of document.querySelectorAll("button[data-pin-complaint]")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    const complaint = encodeURIComponent(button.dataset.pinComplaint);
    try {
      await api("POST", `/api/v1/complaints/${complaint}/recordings`, { recording_id: Number(button.dataset.pinRecording) });
      button.replaceWith(h("span", { class: "badge", role: "status" }, t("rec_pinned")));
    } catch (exc) {
      button.disabled = false;
      button.after(h("span", { class: "error", role: "alert" }, t("rec_pin_failed", { detail: exc.message || String(exc) })));
    }
  });
}
