// The detail's "Recent activity": other requests from the same agent for the same action in
// the last 7 and 30 days by outcome, and the last decisions, each opening its own detail.
// From the local store (works offline); names, notes and reasons are agent or approver
// text, rendered as text.
import { h } from "./dom.js";
import { GLYPH, STATUS_LABEL, absolute } from "./format.js";

/** @typedef {import("./types").RecentActivity} RecentActivity */
/** @typedef {import("./types").StatusTotals} StatusTotals */

/** @type {(keyof StatusTotals)[]} */
const COLS = ["approved", "denied", "expired", "pending"];

/** @param {StatusTotals} t */
function total(t) {
  return COLS.reduce((n, k) => n + (t[k] || 0), 0);
}

/**
 * @param {RecentActivity} r
 * @param {(id: string) => void} open opens another approval's detail
 */
export function activityView(r, open) {
  const row = (/** @type {string} */ label, /** @type {StatusTotals} */ t, /** @type {string} */ id) =>
    h("tr", { id }, h("th", { scope: "row" }, label),
      COLS.map((k) => h("td", { class: `num count-${k}` }, String(t[k] || 0))),
      h("td", { class: "num" }, String(total(t))));
  const counts = h("table", { class: "activity-counts", id: "activity-counts" },
    h("caption", { class: "sr-only" }, "Other requests from this agent for this action"),
    h("thead", null, h("tr", null, h("td", null),
      COLS.map((k) => h("th", { scope: "col" }, STATUS_LABEL[k])), h("th", { scope: "col" }, "Total"))),
    h("tbody", null, row("Last 7 days", r.last_7_days, "activity-7"), row("Last 30 days", r.last_30_days, "activity-30")));
  const decisions = r.recent_decisions.length
    ? h("ul", { class: "activity-decisions", id: "activity-decisions", role: "list" }, r.recent_decisions.map((d) => {
      const dec = d.decision;
      return h("li", { dataset: { id: d.id } },
        h("button", { type: "button", class: "btn-link", "aria-label": `Open ${d.id}`, onclick: () => open(d.id) },
          h("span", { "aria-hidden": "true" }, `${GLYPH[d.status] || ""} `), h("code", null, d.id)),
        " ", h("span", null, STATUS_LABEL[d.status] || d.status),
        dec ? [" by ", h("bdi", null, dec.by), " · ", h("time", { class: "muted", datetime: dec.at }, absolute(dec.at))]
          : h("span", { class: "muted" }, " (your decision, not yet delivered)"),
        h("div", { class: "muted small" }, h("bdi", null, d.summary)),
        dec && dec.reason ? h("div", null, h("span", { class: "muted" }, "Reason: "), h("bdi", null, dec.reason)) : null,
        dec && dec.notes ? h("div", null, h("span", { class: "muted" }, "Notes: "), h("bdi", null, dec.notes)) : null);
    }))
    : h("p", { class: "muted", id: "activity-decisions" }, "No earlier decisions on this agent's requests for this action.");
  return [
    h("p", { class: "muted small" }, "Other requests from ", h("bdi", null, r.agent), " for ",
      h("code", null, h("bdi", null, r.action)), ", from this device's copy:"),
    counts,
    h("h3", { class: "card-subtitle" }, "Last decisions"),
    decisions,
  ];
}
