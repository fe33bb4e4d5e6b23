// What happened after approval: the agent's reported result (POST /approvals/{id}/result),
// as a mark in the queue row and a section of the detail. The agent's output is untrusted
// text: it is shown as formatted JSON in a text node, never parsed as markup.
import { h } from "./dom.js";
import { absolute } from "./format.js";

/** @typedef {import("./types").Approval} Approval */
/** @typedef {import("./types").ExecutionOutcome} ExecutionOutcome */

/** Lines of output shown before the rest folds behind "Show all". */
const OUTPUT_PREVIEW_LINES = 12;

/** Glyph and accessible label of an approved action's state. */
export const OUTCOME = {
  succeeded: { glyph: "✓", label: "Executed" },
  failed: { glyph: "✗", label: "Execution failed" },
  waiting: { glyph: "…", label: "Approved, not yet executed" },
};

/** @param {ExecutionOutcome | null | undefined} o */
function outcomeKey(o) {
  return o === "succeeded" || o === "failed" ? o : "waiting";
}

/**
 * The queue row's mark for an approved row (null for the others): a glyph for the eye and
 * its words for a screen reader and the tooltip.
 * @param {{status: string, outcome?: ExecutionOutcome | null, pending_decision?: unknown}} r
 */
export function outcomeMark(r) {
  // An approve of this device still on its way is not an approval yet (its chip says so).
  if (r.status !== "approved" || r.pending_decision) return null;
  const k = outcomeKey(r.outcome);
  const { glyph, label } = OUTCOME[k];
  return h("span", { class: `outcome-mark outcome-${k}`, title: label, dataset: { outcome: k } },
    h("span", { "aria-hidden": "true" }, glyph), h("span", { class: "sr-only" }, label));
}

/**
 * The detail's "Outcome" body: nothing for an approval that was not approved (and has no
 * result), "not yet executed" for an approved one without a result, else the outcome, when
 * it was reported (local time) and the output.
 * @param {Approval} a
 * @returns {HTMLElement | null}
 */
export function outcomeView(a) {
  const x = a.execution;
  if (!x) {
    if (a.status !== "approved") return null;
    return h("p", { class: "outcome outcome-waiting", id: "detail-outcome", dataset: { outcome: "waiting" } },
      h("span", { "aria-hidden": "true" }, `${OUTCOME.waiting.glyph} `),
      "Approved, not yet executed: the agent has not reported a result.");
  }
  const k = outcomeKey(x.outcome);
  const head = h("p", { class: `outcome outcome-${k}`, id: "detail-outcome", dataset: { outcome: k } },
    h("span", { "aria-hidden": "true" }, `${OUTCOME[k].glyph} `),
    h("strong", null, k === "failed" ? "Failed" : "Executed"),
    " — reported ", h("time", { datetime: x.recorded_at }, absolute(x.recorded_at)));
  if (x.output === null || x.output === undefined) return h("div", null, head);
  const text = JSON.stringify(x.output, null, 2);
  const lines = text.split("\n");
  const pre = (/** @type {string} */ t) => h("pre", { class: "json", id: "detail-output", tabindex: "0",
    "aria-label": "Agent output as JSON" }, t);
  if (lines.length <= OUTPUT_PREVIEW_LINES) {
    return h("div", null, head, h("p", { class: "muted small" }, "Agent output:"), pre(text));
  }
  // Long output: a preview, and the whole of it one click away.
  const preview = h("pre", { class: "json", id: "detail-output-preview", "aria-hidden": "true" },
    `${lines.slice(0, OUTPUT_PREVIEW_LINES).join("\n")}\n…`);
  const details = h("details", { id: "detail-output-more" },
    h("summary", null, `Show all output (${lines.length} lines)`), pre(text));
  details.addEventListener("toggle", () => { preview.hidden = details.open; });
  return h("div", null, head, h("p", { class: "muted small" }, "Agent output:"), preview, details);
}
