// The CROC script panel of the agent desk: the call's script (campaign or queue), its four sections, the
// step to read with the lead's values filled in, the questions, objection snippets, and the outcome.
//
// The server interprets the script (dialer/croc/): after every answer the panel posts all the answers
// and renders the view it gets back, so branching and the required-answer rules live in one place.
// Saving the outcome is refused here with a clear message while the server's blockers for the chosen
// outcome are not empty, and refused again by the server (422) if it is tried anyway.
// Every text from the script, the lead or the contact is inserted with textContent (desk_util.h).
import { api, h, shortcuts, zonedToIso } from "./desk_util.js";

const SECTION_LETTER = { contact: "C", raison: "R", objectif: "O", conclusion: "C" };

export function createScriptPanel({ root, t, errorText, contactOf, isDone, onActive, onSaved }) {
  const s = {
    linkedid: null,   // the call the panel belongs to
    view: null,       // the server's view, or null (no script, or not loaded yet)
    answers: {},      // step id → answer, as posted
    seq: 0,           // answers posted; only the latest reply is rendered
    pending: null,    // the answers request in flight
    phase: null,
    chosen: null,     // outcome the agent picked (null: the one the script concluded with)
    saved: null,      // the saved outcome's label
    stepError: {},    // step id → the server's reason an answer was refused
  };
  const url = (tail = "") => `/api/v1/agent/calls/${encodeURIComponent(s.linkedid)}/script${tail}`;

  // --- life cycle ---------------------------------------------------------------------------------------
  function update(pop, phase) {
    const linkedid = pop && phase !== "missed" ? pop.linkedid : null;
    s.phase = phase;
    if (linkedid !== s.linkedid) {
      Object.assign(s, { linkedid, view: null, answers: {}, chosen: null, saved: null, stepError: {} });
      root.hidden = true;
      root.replaceChildren();
      if (linkedid) load(linkedid);
      return;
    }
    if (s.view) renderSave();
  }

  async function load(linkedid) {
    let view = null;
    try {
      view = await api("GET", `/api/v1/agent/calls/${encodeURIComponent(linkedid)}/script`);
    } catch { view = null; } // no script panel; the plain wrap-up stays usable
    if (s.linkedid !== linkedid || !view || !view.script) return;
    s.view = view;
    s.answers = { ...(view.answers || {}) };
    if (isDone(linkedid)) s.saved = t("script_saved_before");
    render();
    onActive(); // the desk hides its plain wrap-up form: this call's outcome is saved here
  }

  const active = (linkedid) => !!(s.view && s.linkedid === linkedid);

  // --- answers ------------------------------------------------------------------------------------------
  function commit(stepId, value) {
    if (s.saved) return;
    s.answers = { ...s.answers, [stepId]: value };
    const seq = ++s.seq;
    const linkedid = s.linkedid;
    const answers = s.answers;
    s.pending = (async () => {
      try {
        const view = await api("POST", url("/answers"), { answers });
        if (seq !== s.seq || linkedid !== s.linkedid) return;
        s.view = view;
        s.stepError = {};
        render(true);
      } catch (exc) {
        if (seq !== s.seq || linkedid !== s.linkedid) return;
        s.stepError = { [stepId]: errorText(exc) }; // the server names the question (422)
        render();
      }
    })();
    return s.pending;
  }

  function valueOf(step, box) {
    const q = step.question;
    if (!q) return true;
    if (q.type === "multiple_choice") return [...box.querySelectorAll("input:checked")].map((i) => i.value);
    if (q.type === "yes_no" || q.type === "single_choice") {
      const on = box.querySelector("input:checked");
      if (!on) return null;
      return q.type === "yes_no" ? on.value === "true" : on.value;
    }
    const v = box.querySelector("input, textarea").value.trim();
    return v === "" ? null : v;
  }

  // --- rendering ----------------------------------------------------------------------------------------
  function questionField(step, current) {
    const q = step.question;
    const id = `script-q-${step.id}`;
    const errId = `${id}-error`;
    const err = s.stepError[step.id];
    const required = q.required
      ? [h("span", { class: "req", "aria-hidden": "true", text: " *" }), h("span", { class: "visually-hidden", text: ` (${t("script_required")})` })]
      : [];
    const answer = step.answer === undefined ? s.answers[step.id] : step.answer;
    const described = err ? { "aria-describedby": errId, "aria-invalid": "true" } : {};
    let control;
    if (q.type === "yes_no" || q.type === "single_choice" || q.type === "multiple_choice") {
      const options = q.type === "yes_no"
        ? [{ value: "true", label: t("script_yes") }, { value: "false", label: t("script_no") }]
        : q.options;
      const multi = q.type === "multiple_choice";
      control = h("fieldset", { class: "radio-row script-choices", id, ...described },
        h("legend", { class: "script-q-label" }, q.label, ...required));
      for (const o of options) {
        const checked = multi ? Array.isArray(answer) && answer.includes(o.value)
          : q.type === "yes_no" ? answer !== null && answer !== undefined && String(answer) === o.value : answer === o.value;
        const input = h("input", { type: multi ? "checkbox" : "radio", name: id, value: o.value, checked: checked || null });
        // a multiple choice in the current step is sent with "Next" (one tick must not move on)
        input.addEventListener("change", () => { if (!(multi && current)) commit(step.id, valueOf(step, control)); });
        control.append(h("label", {}, input, " ", o.label));
      }
    } else {
      const attrs = { id, name: id, autocomplete: "off", "aria-required": q.required ? "true" : null, ...described };
      let input;
      if (q.type === "date") input = h("input", { type: "date", ...attrs });
      else if (q.type === "number") input = h("input", { type: "text", inputmode: "decimal", ...attrs });
      else input = h("input", { type: "text", maxlength: 2000, ...attrs });
      input.value = answer === null || answer === undefined ? "" : String(answer);
      input.addEventListener("change", () => { if (!current) commit(step.id, valueOf(step, control)); });
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") { ev.preventDefault(); commit(step.id, valueOf(step, control)); }
      });
      control = h("div", { class: "field" }, h("label", { for: id, class: "script-q-label" }, q.label, ...required), input);
    }
    return h("div", { class: "script-question" }, control,
      err ? h("p", { class: "field-error", id: errId, role: "alert", text: err }) : null);
  }

  function stepBox(step, current) {
    const box = h("li", { class: `script-step${current ? " script-step-current" : ""}`, dataset: { step: step.id } });
    if (current) box.setAttribute("aria-current", "step");
    box.append(h("p", { class: "script-text", text: step.text }));
    if (step.hint) box.append(h("p", { class: "script-hint muted", text: step.hint }));
    if (step.question) box.append(questionField(step, current));
    if (current && !s.saved) {
      const next = h("button", { type: "button", class: "btn btn-small btn-secondary script-next", text: t("script_next") });
      next.addEventListener("click", () => commit(step.id, valueOf(step, box)));
      box.append(next);
    }
    return box;
  }

  function sectionNav(view) {
    const currentKind = view.current ? view.current.section : view.ended ? "conclusion" : null;
    const seen = new Set(view.path.map((p) => p.section));
    const ol = h("ol", { class: "croc-nav", "aria-label": t("script_plan") });
    for (const sec of view.sections) {
      const li = h("li", { class: `croc-${sec.kind}${seen.has(sec.kind) ? " croc-seen" : ""}` },
        h("span", { class: "croc-letter", "aria-hidden": "true", text: SECTION_LETTER[sec.kind] }),
        " ", sec.title || t(`script_section_${sec.kind}`));
      if (sec.kind === currentKind) li.setAttribute("aria-current", "step");
      ol.append(li);
    }
    return ol;
  }

  function objections(view) {
    const box = h("section", { class: "script-objections", "aria-labelledby": "script-objections-title" },
      h("h3", { id: "script-objections-title", text: t("script_objections") }));
    for (const o of view.objections) {
      box.append(h("details", { class: "script-objection", dataset: { objection: o.id } },
        h("summary", { text: o.label }), h("p", { text: o.text })));
    }
    return box;
  }

  function outcomeForm(view) {
    const form = h("form", { id: "script-outcome-form", class: "script-outcome", novalidate: true });
    const fs = h("fieldset", { class: "script-outcomes" }, h("legend", { text: t("script_outcome") }));
    const chosen = s.chosen || view.concluded;
    for (const o of view.outcomes) {
      const id = `script-outcome-${o.id}`;
      const input = h("input", { type: "radio", name: "outcome", id, value: o.id, checked: o.id === chosen || null });
      input.addEventListener("change", () => { s.chosen = o.id; renderSave(); });
      fs.append(h("div", { class: "script-outcome-item" }, input, h("label", { for: id, text: o.label })));
    }
    form.append(fs,
      h("div", { class: "field", id: "script-callback-field", hidden: true },
        h("label", { for: "script-callback-at", text: t("script_callback_at") }),
        h("input", { type: "datetime-local", id: "script-callback-at", name: "callback_at", "aria-describedby": "script-callback-hint" }),
        h("p", { class: "hint", id: "script-callback-hint" })),
      h("div", { class: "field" },
        h("label", { for: "script-notes", text: t("script_notes") }),
        h("textarea", { id: "script-notes", name: "notes", rows: 2, maxlength: 10000 })),
      h("p", { id: "script-blockers", class: "script-blockers", "aria-live": "polite" }),
      h("p", { id: "script-save-error", class: "field-error", role: "alert", hidden: true }),
      h("button", { type: "submit", class: "btn", id: "btn-script-save", text: t("script_save") }));
    form.addEventListener("submit", save);
    return form;
  }

  function render(focusCurrent = false) {
    const view = s.view;
    if (!view) return;
    const focused = document.activeElement && root.contains(document.activeElement) ? document.activeElement.id : null;
    const notes = root.querySelector("#script-notes");
    const due = root.querySelector("#script-callback-at");
    const kept = { notes: notes ? notes.value : "", due: due ? due.value : "" };
    const opened = new Set([...root.querySelectorAll(".script-objection[open]")].map((d) => d.dataset.objection));
    const title = h("h2", { id: "script-title", tabindex: "-1" }, t("script_title"), " — ", view.script.title);
    const head = h("div", { class: "card-head" }, title,
      view.campaign ? h("span", { class: "badge badge-neutral", text: view.campaign.name }) : null);
    const steps = h("ol", { class: "script-steps", "aria-label": t("script_steps") });
    for (const step of view.path) steps.append(stepBox(step, false));
    if (view.current) steps.append(stepBox(view.current, true));
    const end = view.ended
      ? h("p", { class: "script-end", role: "status", text: view.concluded
        ? t("script_concluded", { outcome: (view.outcomes.find((o) => o.id === view.concluded) || {}).label || "" })
        : t("script_ended") })
      : null;
    root.replaceChildren(head, sectionNav(view),
      h("div", { class: "script-grid" }, h("div", { class: "script-main" }, steps, end), objections(view)),
      s.saved ? h("p", { class: "script-saved", role: "status", text: s.saved }) : outcomeForm(view));
    root.hidden = false;
    const notesNow = root.querySelector("#script-notes");
    if (notesNow) notesNow.value = kept.notes;
    const dueNow = root.querySelector("#script-callback-at");
    if (dueNow) dueNow.value = kept.due;
    for (const d of root.querySelectorAll(".script-objection")) d.open = opened.has(d.dataset.objection);
    if (s.saved) for (const el of root.querySelectorAll(".script-main input, .script-main button")) el.disabled = true;
    renderSave();
    const again = focused && document.getElementById(focused);
    if (focusCurrent) {
      const cur = root.querySelector(".script-step-current input, .script-step-current button");
      (cur || again || title).focus();
    } else if (again) again.focus();
  }

  function chosenOutcome() {
    const id = s.chosen || (s.view && s.view.concluded);
    return s.view ? s.view.outcomes.find((o) => o.id === id) || null : null;
  }

  function blockerText(outcome) {
    if (!outcome) return t("script_need_outcome");
    if (!outcome.blockers.length) return "";
    const labels = outcome.blockers.filter((b) => b.step).map((b) => b.label);
    const parts = [];
    if (labels.length) parts.push(t("script_missing", { questions: labels.join(", ") }));
    if (outcome.blockers.some((b) => !b.step)) parts.push(t("script_unfinished"));
    return parts.join(" ");
  }

  // The save button says why it cannot save yet (aria-disabled keeps it focusable and announced).
  function renderSave() {
    const button = root.querySelector("#btn-script-save");
    if (!button) return;
    const outcome = chosenOutcome();
    const blocked = blockerText(outcome);
    const ended = s.phase === "wrap_up";
    const why = blocked || (ended ? "" : t("script_after_call"));
    button.setAttribute("aria-disabled", why ? "true" : "false");
    button.dataset.blocked = blocked ? "true" : "false";
    const line = root.querySelector("#script-blockers");
    line.textContent = why;
    line.hidden = !why;
    const cb = outcome && outcome.action === "callback";
    root.querySelector("#script-callback-field").hidden = !cb;
    if (cb) {
      root.querySelector("#script-callback-hint").textContent = outcome.callback_in_days
        ? t("script_callback_default", { days: outcome.callback_in_days }) : t("script_callback_required");
    }
  }

  async function save(ev) {
    ev.preventDefault();
    if (s.pending) await s.pending; // an answer typed just before the click goes first
    const err = root.querySelector("#script-save-error");
    const outcome = chosenOutcome();
    const blocked = blockerText(outcome);
    const show = (text) => { err.textContent = text; err.hidden = false; };
    if (blocked) {
      show(blocked);
      const first = outcome && outcome.blockers.find((b) => b.step);
      const target = first && root.querySelector(`[data-step="${first.step}"] input, [data-step="${first.step}"] textarea`);
      (target || root.querySelector(".script-step-current input, .script-step-current button") || err).focus();
      return;
    }
    if (s.phase !== "wrap_up") { show(t("script_after_call")); return; }
    const due = root.querySelector("#script-callback-at").value;
    const notes = root.querySelector("#script-notes").value.trim();
    const contact = contactOf();
    const button = root.querySelector("#btn-script-save");
    button.disabled = true;
    try {
      const out = await api("POST", url("/outcome"), {
        outcome: outcome.id, answers: s.answers, notes: notes || null,
        callback_at: outcome.action === "callback" && due ? zonedToIso(due) : null,
        contact_id: contact ? contact.id : null,
      });
      s.saved = t("script_saved", { outcome: outcome.label });
      render();
      onSaved(s.linkedid, out);
    } catch (exc) {
      button.disabled = false;
      show(errorText(exc));
    }
  }

  shortcuts({
    KeyS: () => { const el = root.querySelector("#script-title"); if (el && !root.hidden) el.focus(); },
    KeyJ: () => { const el = root.querySelector(".script-objection summary"); if (el && !root.hidden) el.focus(); },
  });

  return { update, active };
}
