// The outbox: decisions waiting to reach the server, and those it rejected (with why).
import { api, syncNow } from "./api.js";
import { h, toast } from "./dom.js";
import { absolute } from "./format.js";

/** @typedef {{ openDetail: (id: string) => void, rerender: () => Promise<void> }} OutboxHooks */

/** @type {OutboxHooks} */
let hooks;

/** @param {OutboxHooks} h_ */
export function initOutbox(h_) {
  hooks = h_;
}

/** @param {HTMLElement} root */
export async function renderOutbox(root) {
  root.append(h("header", { class: "view-head" }, h("h1", { class: "view-title" }, "Outbox"),
    h("div", { class: "head-actions" }, h("button", { type: "button", class: "btn btn-ghost", onclick: async () => {
      await syncNow(toast);
      await hooks.rerender();
    } }, "↻ Send now"))));
  /** @type {import("./types").OutboxItem[]} */
  let items = [];
  try {
    items = await api.outbox();
  } catch (e) {
    toast(e.message, "error");
  }
  if (!items.length) {
    root.append(h("div", { class: "empty", id: "outbox-empty" }, h("div", { class: "empty-glyph", "aria-hidden": "true" }, "✓"),
      h("div", null, "Every decision has reached the server.")));
    return;
  }
  root.append(h("ul", { class: "outbox", id: "outbox-list", role: "list" }, items.map((o) => {
    const waiting = o.state === "queued" || o.state === "sending";
    return h("li", { class: `outbox-item ob-${waiting ? "queued" : "rejected"}`, dataset: { id: o.approval_id } },
      h("span", { class: `chip chip-${waiting ? "queued" : "rejected"}` },
        waiting ? "Queued" : o.state === "expired" ? "Expired" : "Not applied"),
      h("div", { class: "ob-main" },
        h("div", null, h("strong", null, o.kind === "deny" ? "Deny " : "Approve "),
          h("button", { type: "button", class: "linkish", onclick: () => hooks?.openDetail(o.approval_id) }, o.approval_id),
          h("span", { class: "muted" }, ` · ${absolute(o.decided_at)} · ${o.attempts} attempt${o.attempts === 1 ? "" : "s"}`)),
        o.reason ? h("div", { class: "small" }, h("span", { class: "muted" }, "Reason: "), h("bdi", null, o.reason)) : null,
        waiting ? (o.last_error ? h("div", { class: "small muted" }, `Last attempt: ${o.last_error}`) : null)
          : h("div", { class: "small ob-message" }, o.explanation)),
      o.state === "queued" ? undoButton(o) : waiting ? null : dismissButton(o));
  })));
}

// A decision that has not left the device can be taken back, offline for as long as it
// waits; the core refuses once it is being sent.
/** @param {import("./types").OutboxItem} o */
function undoButton(o) {
  const btn = h("button", { type: "button", class: "btn btn-small ob-undo",
    "aria-label": `Undo the ${o.kind} of ${o.approval_id}` }, "Undo");
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      await api.cancelDecision(o.seq);
      toast(`Undone: ${o.approval_id} is pending again`);
      await hooks.rerender();
    } catch (e) {
      btn.disabled = false;
      toast(e.message, "error");
    }
  });
  return btn;
}

// Acknowledging a rejection is stored by the core, so it survives a restart; the entry
// is kept on the device for the record (`countersign outbox --all`).
/** @param {import("./types").OutboxItem} o */
function dismissButton(o) {
  const btn = h("button", { type: "button", class: "btn btn-small btn-ghost ob-dismiss",
    "aria-label": `Dismiss the rejected ${o.kind} of ${o.approval_id}` }, "Dismiss");
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      await api.dismissOutbox(o.seq);
      await hooks.rerender();
    } catch (e) {
      btn.disabled = false;
      toast(e.message, "error");
    }
  });
  return btn;
}
