// Approvals → Stats: totals by status, average response time, by agent and by reason,
// drawn as SVG from the local store (works offline).
import { api } from "./api.js";
import { h, s, toast } from "./dom.js";
import { state } from "./store.js";
import { STATUS_LABEL, duration, dayStart, dayEnd, isoDay } from "./format.js";

/** @typedef {import("./types").Stats} Stats */
/** @typedef {import("./types").StatsBucket} StatsBucket */
/** @typedef {import("./types").StatusTotals} StatusTotals */
/** @typedef {import("./types").ApprovalStatus} ApprovalStatus */

/** @type {ApprovalStatus[]} */
const ORDER = ["pending", "approved", "denied", "expired"];

/** @param {HTMLElement} root */
export async function renderStats(root) {
  const r = state.statsRange;
  const from = h("input", { type: "date", id: "s-from", class: "input input-date", "aria-label": "Stats from", value: r.from });
  const to = h("input", { type: "date", id: "s-to", class: "input input-date", "aria-label": "Stats to", value: r.to });
  const body = h("div", { class: "stats", id: "stats-body" });
  const reload = async () => {
    r.from = from.value;
    r.to = to.value;
    /** @type {Stats} */
    let st;
    try {
      st = await api.stats(dayStart(r.from), dayEnd(r.to));
    } catch (e) {
      toast(e.message, "error");
      return;
    }
    body.replaceChildren(...statsView(st));
  };
  const preset = (/** @type {number | null} */ days) => () => {
    if (days === null) { from.value = ""; to.value = ""; } else {
      const d = new Date();
      to.value = isoDay(d);
      d.setDate(d.getDate() - days + 1);
      from.value = isoDay(d);
    }
    reload();
  };
  from.addEventListener("change", reload);
  to.addEventListener("change", reload);
  root.append(h("div", { class: "filters", role: "group", "aria-label": "Date range" },
    h("span", { class: "filters-label" }, "Date range:"), from, h("span", { class: "muted" }, "–"), to,
    h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: preset(1) }, "Today"),
    h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: preset(7) }, "7 days"),
    h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: preset(30) }, "30 days"),
    h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: preset(null) }, "All time")), body);
  await reload();
}

/** @param {Stats} st */
function statsView(st) {
  const t = st.totals;
  const total = ORDER.reduce((n, k) => n + (t[k] || 0), 0);
  const cards = h("div", { class: "stat-cards" },
    ORDER.map((k) => h("div", { class: `stat-card stat-${k}`, id: `stat-${k}` },
      h("div", { class: "stat-label" }, STATUS_LABEL[k]), h("div", { class: "stat-value" }, String(t[k] || 0)))),
    h("div", { class: "stat-card", id: "stat-avg" }, h("div", { class: "stat-label" }, "Avg response time"),
      h("div", { class: "stat-value" }, duration(st.average_response_secs))),
    failedCard(st.executions));
  return [
    cards,
    h("div", { class: "stat-grid" },
      h("section", { class: "card", "aria-labelledby": "ch-status" }, h("h2", { class: "card-title", id: "ch-status" }, "Totals by status"),
        donut(t, total)),
      h("section", { class: "card", "aria-labelledby": "ch-agent" }, h("h2", { class: "card-title", id: "ch-agent" }, "By agent"),
        bars(st.by_agent, "chart-agent")),
      h("section", { class: "card wide", "aria-labelledby": "ch-reason" }, h("h2", { class: "card-title", id: "ch-reason" }, "By reason code"),
        bars(st.by_reason, "chart-reason"))),
  ];
}

/**
 * @param {StatusTotals} t
 * @param {number} total
 */
function donut(t, total) {
  const R = 60;
  const C = 2 * Math.PI * R;
  const svg = s("svg", { viewBox: "0 0 160 160", width: 160, height: 160, role: "img", class: "donut",
    "aria-label": ORDER.map((k) => `${STATUS_LABEL[k]} ${t[k] || 0}`).join(", ") });
  svg.append(s("circle", { cx: 80, cy: 80, r: R, class: "donut-track", fill: "none", "stroke-width": 22 }));
  let offset = 0;
  for (const k of ORDER) {
    const v = t[k] || 0;
    if (!v || !total) continue;
    const len = (v / total) * C;
    svg.append(s("circle", { cx: 80, cy: 80, r: R, fill: "none", "stroke-width": 22, class: `seg seg-${k}`,
      "stroke-dasharray": `${len} ${C - len}`, "stroke-dashoffset": String(-offset), transform: "rotate(-90 80 80)" },
    s("title", null, `${STATUS_LABEL[k]}: ${v}`)));
    offset += len;
  }
  svg.append(s("text", { x: 80, y: 78, "text-anchor": "middle", class: "donut-total" }, String(total)),
    s("text", { x: 80, y: 98, "text-anchor": "middle", class: "donut-sub" }, "approvals"));
  const legend = h("ul", { class: "legend", role: "list" }, ORDER.map((k) =>
    h("li", null, h("span", { class: `swatch seg-${k}`, "aria-hidden": "true" }), `${STATUS_LABEL[k]} `,
      h("strong", null, String(t[k] || 0)),
      h("span", { class: "muted" }, total ? ` ${Math.round(((t[k] || 0) / total) * 100)}%` : ""))));
  return h("div", { class: "donut-wrap" }, svg, legend);
}

/**
 * @param {StatsBucket[]} buckets busiest first, as the wire sends them
 * @param {string} id
 */
function bars(buckets, id) {
  if (!buckets || !buckets.length) return h("p", { class: "muted", id }, "No approvals in this range.");
  // Already busiest first: the order is defined once, in the wire crate (sort_busiest_first).
  const rows = buckets.slice(0, 12);
  const max = Math.max(1, ...rows.map((b) => tot(b.totals)));
  const W = 560; const LABEL = 170; const BAR = W - LABEL - 90; const RH = 30;
  const svg = s("svg", { viewBox: `0 0 ${W} ${rows.length * RH + 8}`, class: "bars", id, role: "img",
    "aria-label": rows.map((b) => `${b.key}: ${tot(b.totals)}`).join(", "), preserveAspectRatio: "xMinYMin meet" });
  rows.forEach((b, i) => {
    const y = i * RH + 4;
    svg.append(s("text", { x: 0, y: y + 17, class: "bar-label" }, truncate(b.key, 24), s("title", null, b.key)));
    let x = LABEL;
    for (const k of ORDER) {
      const v = b.totals[k] || 0;
      if (!v) continue;
      const w = (v / max) * BAR;
      svg.append(s("rect", { x, y: y + 4, width: Math.max(1, w), height: RH - 12, rx: 3, class: `seg-fill seg-${k}` },
        s("title", null, `${b.key} · ${STATUS_LABEL[k]}: ${v}`)));
      x += w;
    }
    const avg = b.average_response_secs !== null && b.average_response_secs !== undefined ? ` · ${duration(b.average_response_secs)}` : "";
    svg.append(s("text", { x: x + 8, y: y + 17, class: "bar-value" }, `${tot(b.totals)}${avg}`));
  });
  return svg;
}

/** @param {StatusTotals} t */
function tot(t) {
  return ORDER.reduce((n, k) => n + (t[k] || 0), 0);
}

/**
 * @param {string} str
 * @param {number} n
 */
function truncate(str, n) {
  return str.length > n ? `${str.slice(0, n - 1)}…` : str;
}

/**
 * Share of approved actions whose agent reported a failure (over all approved ones,
 * reported or not), with the counts behind it.
 * @param {import("./types").ExecutionTotals | null | undefined} x
 */
function failedCard(x) {
  if (!x) return null;
  const approved = x.succeeded + x.failed + x.not_reported;
  const share = approved ? `${((x.failed / approved) * 100).toFixed(1)}%` : "—";
  return h("div", { class: "stat-card stat-failed", id: "stat-failed" },
    h("div", { class: "stat-label" }, "Approved actions that failed"),
    h("div", { class: "stat-value" }, share),
    h("div", { class: "muted small", id: "stat-failed-detail" },
      `${x.failed} failed · ${x.succeeded} executed · ${x.not_reported} not reported`));
}
