// The approver's desk sections of the detail (issue 8): the outcome of an approved action,
// this agent's recent activity and the changes since the last approval. detail.js places
// the slots and calls `paintDesk` whenever the open approval changed; the outcome comes
// with the detail, the rest from one `approval_context` query of the local store.
import { api } from "./api.js";
import { h } from "./dom.js";
import { outcomeView } from "./outcome.js";
import { activityView } from "./activity.js";
import { diffView } from "./diff.js";

/** @typedef {import("./types").ApprovalDetail} ApprovalDetail */
/** @typedef {{outcome: HTMLElement, activity: HTMLElement, diff: HTMLElement, outcomeSig?: string, contextSig?: string, id?: string}} DeskSlots */

/** @param {string} title @param {string} id @param {...any} body */
function card(title, id, ...body) {
  return h("section", { class: "card", id, "aria-labelledby": `${id}-title` },
    h("h2", { class: "card-title", id: `${id}-title` }, title), ...body);
}

/** @returns {DeskSlots} */
export function deskSlots() {
  const outcome = card("Outcome", "sec-outcome");
  outcome.hidden = true;
  return {
    outcome,
    activity: card("Recent activity", "sec-activity", h("p", { class: "muted" }, "Loading…")),
    diff: card("Changes since the last approval", "sec-diff", h("p", { class: "muted" }, "Loading…")),
  };
}

/**
 * Repaints what changed: the outcome from `data`, the context re-read from the store (the
 * agent's other requests may have changed with this one).
 * @param {DeskSlots} slots @param {ApprovalDetail} data @param {(id: string) => void} open
 */
export async function paintDesk(slots, data, open) {
  const a = data.approval;
  const outcomeSig = JSON.stringify([a.status, a.execution]);
  if (slots.outcomeSig !== outcomeSig) {
    slots.outcomeSig = outcomeSig;
    const view = outcomeView(a);
    slots.outcome.hidden = !view;
    slots.outcome.replaceChildren(/** @type {Node} */ (slots.outcome.firstChild), ...(view ? [view] : []));
  }
  slots.id = a.id;
  /** @type {import("./types").ApprovalContext} */
  let ctx;
  try {
    ctx = await api.approvalContext(a.id);
  } catch (e) {
    const msg = `Could not read this agent's history: ${/** @type {any} */ (e).message}`;
    for (const el of [slots.activity, slots.diff]) {
      el.replaceChildren(/** @type {Node} */ (el.firstChild), h("p", { class: "muted" }, msg));
    }
    return;
  }
  // Another approval opened meanwhile, or nothing changed: leave the page alone.
  if (slots.id !== a.id || !slots.activity.isConnected) return;
  const contextSig = JSON.stringify(ctx);
  if (slots.contextSig === contextSig) return;
  slots.contextSig = contextSig;
  slots.activity.replaceChildren(/** @type {Node} */ (slots.activity.firstChild), ...activityView(ctx.recent_activity, open));
  slots.diff.replaceChildren(/** @type {Node} */ (slots.diff.firstChild), ...diffView(ctx.params_diff ?? null, open));
}
