// The confirmation dialog used by every decision (single, bulk, and keyboard shortcuts).
import { h, clear } from "./dom.js";

/**
 * Opens the confirmation. `fields` may ask for a reason (required) and notes.
 * Resolves to `{reason, notes}` on confirm, or null on cancel.
 */
/**
 * @param {{title: string, kind: "approve"|"deny", ids: string[], summary?: string,
 *   items?: import("./types").QueueItem[], needReason?: boolean, reason?: string|null,
 *   notes?: string|null, askNotes?: boolean, offline?: boolean}} opts
 * @returns {Promise<{reason: string|null, notes: string|null} | null>}
 */
export function confirmDecision({ title, kind, ids, summary, items, needReason, reason, notes, askNotes, offline }) {
  const dlg = document.getElementById("confirm");
  const body = document.getElementById("confirm-body");
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  document.getElementById("confirm-title").textContent = title;
  clear(body);

  if (summary) body.append(h("p", { class: "dialog-summary" }, summary));
  if (ids && ids.length) {
    const shown = ids.slice(0, 12);
    const byId = new Map((items || []).map((r) => [r.id, r]));
    body.append(
      h("p", { class: "muted" }, `${ids.length} approval${ids.length === 1 ? "" : "s"}:`),
      h("ul", { class: "id-list", "aria-label": "Approvals in this decision" },
        shown.map((id) => {
          const r = byId.get(id);
          return h("li", null, h("code", null, id),
            r ? h("span", { class: "muted" }, " · ", h("bdi", null, r.agent), " · ", h("bdi", null, r.action), " — ",
              h("bdi", null, r.summary)) : null);
        })));
    // `append` would print a null as the word "null": add the tail only when there is one.
    if (ids.length > shown.length) body.append(h("p", { class: "muted" }, `…and ${ids.length - shown.length} more`));
  }
  if (offline) {
    body.append(h("p", { class: "queued-note", id: "confirm-offline" },
      "Offline: this decision will be queued and sent when the server is reachable."));
  }
  let reasonInput = null;
  let notesInput = null;
  if (needReason) {
    reasonInput = h("input", { type: "text", id: "confirm-reason", class: "input", maxlength: "1000",
      placeholder: "Why is this denied? (required)", "aria-required": "true", value: reason || "" });
    body.append(h("label", { class: "field" }, h("span", { class: "field-label" }, "Reason"), reasonInput));
  } else if (reason) {
    body.append(h("p", null, h("span", { class: "muted" }, "Reason: "), reason));
  }
  if (askNotes) {
    notesInput = h("textarea", { id: "confirm-notes", class: "input", rows: "3", maxlength: "4000",
      placeholder: "Optional notes for the audit trail" });
    notesInput.value = notes || "";
    body.append(h("label", { class: "field" }, h("span", { class: "field-label" }, "Notes"), notesInput));
  } else if (notes) {
    body.append(h("p", null, h("span", { class: "muted" }, "Notes: "), notes));
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
    const finish = (value) => {
      if (done) return;
      done = true;
      ok.removeEventListener("click", onOk);
      cancel.removeEventListener("click", onCancel);
      dlg.removeEventListener("close", onClose);
      if (dlg.open) dlg.close();
      resolve(value);
    };
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
    (reasonInput && !reasonInput.value ? reasonInput : ok.disabled ? cancel : ok).focus();
  });
}
