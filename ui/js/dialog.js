// The confirmation dialog used by every decision (single, bulk, and keyboard shortcuts).
import { h, clear, byId, agentText } from "./dom.js";

/** @typedef {import("./types").DecisionKind} DecisionKind */

/**
 * What the dialog asks about.
 * @typedef {object} DecisionPrompt
 * @property {string} title
 * @property {DecisionKind} kind
 * @property {string[]} [ids] the approvals decided (listed; a count for more than one)
 * @property {string} [summary]
 * @property {boolean} [needReason] ask for a reason (required to deny)
 * @property {string | null} [reason] prefilled, or shown when not asked for
 * @property {string | null} [notes] prefilled, or shown when not asked for
 * @property {boolean} [askNotes]
 * @property {import("./types").QueueItem[]} [items] rows of `ids` to describe (agent, action, summary)
 * @property {boolean} [offline] say that the decision will be queued
 * @property {string[]} [warnings] what to look at before confirming (risks, an unticked checklist)
 */

/** @typedef {{ reason: string | null, notes: string | null }} DecisionAnswer */

/**
 * Opens the confirmation. `fields` may ask for a reason (required) and notes.
 * Resolves to `{reason, notes}` on confirm, or null on cancel.
 * @param {DecisionPrompt} prompt
 * @returns {Promise<DecisionAnswer | null>}
 */
export function confirmDecision({ title, kind, ids, summary, items, needReason, reason, notes, askNotes, offline, warnings }) {
  const dlg = byId("confirm", HTMLDialogElement);
  const body = byId("confirm-body", HTMLDivElement);
  const ok = byId("confirm-ok", HTMLButtonElement);
  const cancel = byId("confirm-cancel", HTMLButtonElement);
  byId("confirm-title", HTMLHeadingElement).textContent = title;
  clear(body);

  // Agent text as the detail shows it: isolated, control characters as visible chips
  // (an RLO in the summary must not reorder what the approver confirms).
  if (summary) body.append(h("p", { class: "dialog-summary" }, agentText(summary)));
  if (ids && ids.length) {
    const shown = ids.slice(0, 12);
    const byItem = new Map((items || []).map((r) => [r.id, r]));
    body.append(
      h("p", { class: "muted" }, `${ids.length} approval${ids.length === 1 ? "" : "s"}:`),
      h("ul", { class: "id-list", "aria-label": "Approvals in this decision" },
        shown.map((id) => {
          const r = byItem.get(id);
          return h("li", null, h("code", null, id),
            r ? h("span", { class: "muted" }, " · ", agentText(r.agent), " · ", agentText(r.action), " — ",
              agentText(r.summary)) : null);
        })));
    // `append` would print a null as the word "null": add the tail only when there is one.
    if (ids.length > shown.length) body.append(h("p", { class: "muted" }, `…and ${ids.length - shown.length} more`));
  }
  const warn = [...(warnings || []), ...riskWarnings(items || [])];
  if (warn.length) {
    body.append(h("ul", { class: "warn-list", id: "confirm-warnings", "aria-label": "Before you confirm" },
      warn.map((w) => h("li", null, h("span", { "aria-hidden": "true" }, "⚠ "), w))));
  }
  if (offline) {
    body.append(h("p", { class: "queued-note", id: "confirm-offline" },
      "Offline: this decision will be queued and sent when the server is reachable."));
  }
  /** @type {HTMLInputElement | null} */
  let reasonInput = null;
  /** @type {HTMLTextAreaElement | null} */
  let notesInput = null;
  if (needReason) {
    reasonInput = h("input", { type: "text", id: "confirm-reason", class: "input", maxlength: "1000",
      placeholder: "Why is this denied? (required)", "aria-required": "true", value: reason || "" });
    body.append(h("label", { class: "field" }, h("span", { class: "field-label" }, "Reason"), reasonInput));
  } else if (reason) {
    body.append(h("p", null, h("span", { class: "muted" }, "Reason: "), agentText(reason)));
  }
  if (askNotes) {
    notesInput = h("textarea", { id: "confirm-notes", class: "input", rows: "3", maxlength: "4000",
      placeholder: "Optional notes for the audit trail" });
    notesInput.value = notes || "";
    body.append(h("label", { class: "field" }, h("span", { class: "field-label" }, "Notes"), notesInput));
  } else if (notes) {
    body.append(h("p", null, h("span", { class: "muted" }, "Notes: "), agentText(notes)));
  }

  const verb = kind === "deny" ? "Deny" : "Approve";
  const count = ids && ids.length > 1 ? ` ${ids.length}` : "";
  ok.className = `btn ${kind === "deny" ? "btn-danger" : "btn-primary"}`;
  const refresh = () => {
    const missing = reasonInput && !reasonInput.value.trim();
    ok.disabled = !!missing;
    ok.textContent = missing ? "Enter a reason to deny" : `${verb}${count}`;
  };
  refresh();
  if (reasonInput) reasonInput.addEventListener("input", refresh);

  return new Promise((resolve) => {
    let done = false;
    /** @param {DecisionAnswer | null} value */
    const finish = (value) => {
      if (done) return;
      done = true;
      ok.removeEventListener("click", onOk);
      cancel.removeEventListener("click", onCancel);
      dlg.removeEventListener("close", onClose);
      if (dlg.open) dlg.close();
      resolve(value);
    };
    /** @param {Event} e */
    const onOk = (e) => {
      e.preventDefault();
      if (ok.disabled) return;
      finish({
        reason: reasonInput ? reasonInput.value.trim() : reason || null,
        notes: notesInput ? notesInput.value.trim() || null : notes || null,
      });
    };
    const onCancel = () => finish(null);
    const onClose = () => finish(null);
    ok.addEventListener("click", onOk);
    cancel.addEventListener("click", onCancel);
    dlg.addEventListener("close", onClose);
    dlg.showModal();
    // Cancel is the default: Enter alone (a shortcut pressed twice, a key meant for another
    // window) never confirms. A deny's empty reason field takes focus instead, since
    // nothing is decided until a reason is typed.
    (reasonInput && !reasonInput.value ? reasonInput : cancel).focus();
  });
}

/**
 * One line per item with risk chips (failed trace steps, budget ≥ 90 %), from the core's
 * chips so the dialog says what the queue shows.
 * @param {import("./types").QueueItem[]} items
 */
function riskWarnings(items) {
  return items
    .map((r) => [r.id, (r.risks || []).filter((c) => c.kind !== "escalated").map((c) => c.label)])
    .filter(([, labels]) => labels.length)
    .map(([id, labels]) => `${id}: ${/** @type {string[]} */ (labels).join(", ")}`);
}
