// The Approvals screen: tabs, filters, the queue and bulk actions.
//
// The queue is a window over the whole filtered result: the scroll area is as tall as
// all matching rows, only the rows on screen exist in the DOM, and rows are fetched by
// keyset from the window's edges as it scrolls (a far jump fetches at an offset). Change
// events patch only the rows they name; nothing is reloaded on a timer.
import { api, syncNow } from "./api.js";
import { h, clear, toast, agentText } from "./dom.js";
import { state, expiringMinutes } from "./store.js";
import { GLYPH, STATUS_LABEL, ago, dayStart, dayEnd, serverNow, expiresIn, urgency, absolute, emptyQueue } from "./format.js";
import { outcomeMark } from "./outcome.js";
import { confirmDecision } from "./dialog.js";
import { isDecidable } from "./rules.js";
import * as win from "./window.js";
import { announceNews } from "./announce.js";
import { offerUndo } from "./undo.js";

/** @typedef {import("./types").QueueItem} QueueItem */
/** @typedef {import("./types").QueueQuery} QueueQuery */

/** Row height in px: fixed, so the scroll area's height is `total * ROW_H` (see app.css). */
export const ROW_H = 62;
/** Rows fetched at once, and at most kept in memory. */
const PAGE = 120;
const KEEP = 600;

/** @typedef {{openDetail: (id: string, index?: number|null) => Promise<void>, rerender: () => Promise<void>,
 *   go: (view: string) => Promise<void>, startDemo: () => Promise<void>}} QueueHooks */
/** @type {QueueHooks | null} */
let hooks = null;
/** @type {HTMLElement|null} */ let scroller = null;
/** @type {HTMLElement|null} */ let listEl = null;
/** @type {HTMLElement|null} */ let spacer = null;
/** @type {HTMLElement|null} */ let bulkEl = null;
/** @type {HTMLElement|null} */ let countEl = null;
/** @type {HTMLElement|null} */ let newPill = null;
let frame = 0;
/** Bumped on every reset, so answers to an older query are dropped. */
let generation = 0;
/** Fetches run one at a time. */
let fetching = Promise.resolve();
/** New rows that arrived above the viewport while the approver was scrolled down. */
let newAbove = 0;

/** @param {QueueHooks} h_ */
export function initQueue(h_) {
  hooks = h_;
}

/** The filters of the current tab as the store's query (no paging). @returns {QueueQuery} */
export function currentQuery() {
  const f = state.filters;
  // "Waiting for others" is not a server status: the core's `waiting` filter.
  const waiting = state.tab !== "pending" && f.status === "waiting";
  const status = state.tab === "pending" ? "pending" : (!waiting && f.status) || null;
  return /** @type {QueueQuery} */ ({
    status,
    waiting,
    agent: f.agent || null,
    action: f.action || null,
    from: dayStart(f.from),
    to: dayEnd(f.to),
    search: f.search.trim() || null,
    sort: state.sort,
  });
}

function sort() {
  return /** @type {win.Sort} */ (currentQuery().sort || "newest_first");
}

/** The row under the keyboard cursor, if loaded. */
export function cursorRow() {
  return win.rowAt(state.win, state.cursor);
}

/**
 * Loads the first page and the count for the current filters, keeping the cursor on the
 * same approval when it still matches.
 */
export async function loadQueue() {
  const gen = ++generation;
  const keepId = cursorRow()?.id || state.cursorId;
  const q = currentQuery();
  const page = await api.listApprovals({ ...q, limit: PAGE });
  if (gen !== generation) return;
  state.win = { start: 0, rows: page.items, total: page.total };
  newAbove = 0;
  let idx = keepId ? win.indexOf(state.win, keepId) : -1;
  if (idx < 0 && keepId) {
    const pos = await api.positionOf(q, keepId).catch(() => null);
    if (gen !== generation) return;
    if (typeof pos === "number") idx = pos;
  }
  state.cursor = idx >= 0 ? idx : Math.min(state.cursor, Math.max(0, state.win.total - 1));
}

/**
 * Makes sure rows [lo, hi) are loaded (as far as they exist), fetching by keyset from the
 * window's edge, or at an offset for a far jump.
 * @param {number} lo @param {number} hi
 */
export function ensureLoaded(lo, hi) {
  const gen = generation;
  fetching = fetching.then(async () => {
    for (let guard = 0; guard < 8 && gen === generation; guard++) {
      const plan = win.planFetch(state.win, lo, hi, PAGE);
      if (!plan) break;
      const q = currentQuery();
      /** @type {QueueQuery} */
      const query = plan.dir === "jump"
        ? { ...q, offset: plan.offset, limit: plan.limit }
        : { ...q, [plan.dir]: plan.key, limit: plan.limit };
      const items = await api.pageApprovals(query);
      if (gen !== generation) return;
      win.applyFetch(state.win, plan, items);
      if (!items.length) break;
    }
    win.trim(state.win, state.cursor, KEEP);
  }).catch((e) => toast(e.message, "error"));
  return fetching;
}

/**
 * @param {string} label @param {string} id @param {string} value @param {[string, string][]} options
 * @param {(v: string) => void} onChange @param {boolean} [disabled]
 */
function select(label, id, value, options, onChange, disabled) {
  const el = /** @type {HTMLSelectElement} */ (h("select", { id, class: "select", "aria-label": label, disabled },
    options.map(([v, text]) => h("option", { value: v }, text))));
  el.value = value;
  el.addEventListener("change", () => onChange(el.value));
  return el;
}

/** @param {HTMLElement} root */
export function renderTabs(root) {
  const tabs = [["pending", "Pending"], ["all", "All"], ["stats", "Stats"]];
  const bar = h("div", { class: "tabs", role: "tablist", "aria-label": "Approvals views" },
    tabs.map(([key, label]) => {
      const b = h("button", {
        type: "button", role: "tab", class: "tab", id: `tab-${key}`,
        "aria-selected": state.tab === key ? "true" : "false",
        tabindex: state.tab === key ? "0" : "-1",
        onclick: () => { if (state.tab !== key) { state.tab = key; state.cursor = 0; state.cursorId = null; hooks?.rerender(); } },
      }, label);
      if (key === "pending") {
        b.append(h("span", { class: "tab-count", id: "tab-pending-count", "aria-hidden": "true", hidden: true }),
          h("span", { class: "sr-only", id: "tab-pending-words" }));
      }
      return b;
    }));
  bar.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const i = tabs.findIndex(([k]) => k === state.tab);
    const n = (i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length;
    state.tab = tabs[n][0];
    hooks?.rerender().then(() => document.getElementById(`tab-${state.tab}`)?.focus());
  });
  root.append(h("header", { class: "view-head" },
    h("h1", { class: "view-title" }, "Approvals"), bar,
    h("div", { class: "head-actions" },
      h("button", { type: "button", class: "btn btn-ghost", id: "sync-now", title: "Sync now",
        onclick: async () => { if (await syncNow(toast)) toast("Synced"); } }, "↻ Sync"))));
  paintPendingCount();
}

/** The clock moved on: rewrite the rows' ages and expiries where their text changed, nothing else. */
export function paintAges() {
  if (!listEl) return;
  const now = serverNow();
  for (const t of /** @type {NodeListOf<HTMLTimeElement>} */ (listEl.querySelectorAll("time.row-age"))) {
    const text = ago(t.dateTime, now);
    if (t.textContent !== text) t.textContent = text;
  }
  for (const t of /** @type {NodeListOf<HTMLTimeElement>} */ (listEl.querySelectorAll("time.row-expires"))) {
    paintExpiry(t, now);
  }
}

/** The "expires in" cell: its text and its urgency colour. @param {HTMLTimeElement} t @param {number} now */
function paintExpiry(t, now) {
  const text = expiresIn(t.dateTime, now);
  if (t.textContent !== text) t.textContent = text;
  const cls = `row-expires exp-${urgency(t.dateTime, expiringMinutes(), now) || "calm"}`;
  if (t.className !== cls) t.className = cls;
}

/** New filter values arrived: refresh the dropdowns' options in place, keeping the choice. */
export function paintFacets() {
  for (const [id, values, all] of /** @type {[string, string[], string][]} */ ([
    ["f-agent", state.facets.agents, "All agents"], ["f-action", state.facets.actions, "All actions"]])) {
    const el = /** @type {HTMLSelectElement|null} */ (document.getElementById(id));
    if (!el) continue;
    const keep = el.value;
    clear(el).append(h("option", { value: "" }, all), ...values.map((v) => h("option", { value: v }, v)));
    el.value = values.includes(keep) ? keep : "";
  }
}

/** The Pending tab's count: the same number as the sidebar badge (both from `Status`). */
export function paintPendingCount() {
  const el = document.getElementById("tab-pending-count");
  if (!el) return;
  const n = state.app ? state.app.status.pending_count : 0;
  if (el.hidden !== !n) el.hidden = !n;
  if (el.textContent !== String(n)) el.textContent = String(n);
  // The count in words in the tab's name ("Pending, 12 waiting"): a bare number is not a name.
  const words = document.getElementById("tab-pending-words");
  const said = n ? `, ${n} waiting` : "";
  if (words && words.textContent !== said) words.textContent = said;
}

/** @param {HTMLElement} root */
export function renderQueue(root) {
  renderTabs(root);
  const f = state.filters;
  const refilter = () => { state.cursor = 0; state.cursorId = null; state.selected.clear(); refresh(); };
  const filterBar = h("div", { class: "filters", role: "search", "aria-label": "Filter approvals" },
    h("span", { class: "filters-label" }, "Filter:"),
    select("Status", "f-status", state.tab === "pending" ? "pending" : f.status,
      [["", "All statuses"], ...Object.entries(STATUS_LABEL).map(([k, v]) => /** @type {[string, string]} */ ([k, v])),
        ["waiting", "Waiting for others"]],
      (v) => { f.status = v; refilter(); }, state.tab === "pending"),
    select("Agent", "f-agent", f.agent, [["", "All agents"], ...state.facets.agents.map((a) => /** @type {[string, string]} */ ([a, a]))],
      (v) => { f.agent = v; refilter(); }),
    select("Action", "f-action", f.action, [["", "All actions"], ...state.facets.actions.map((a) => /** @type {[string, string]} */ ([a, a]))],
      (v) => { f.action = v; refilter(); }),
    h("div", { class: "daterange", role: "group", "aria-label": "Date range" },
      dateInput("f-from", "From date", f.from, (v) => { f.from = v; refilter(); }),
      h("span", { class: "muted", "aria-hidden": "true" }, "–"),
      dateInput("f-to", "To date", f.to, (v) => { f.to = v; refilter(); })),
    searchInput(f, refilter),
    select("Sort", "f-sort", state.sort,
      [["newest_first", "Newest first"], ["oldest_first", "Oldest first"], ["expiring_first", "Expiring soon"]],
      (v) => { state.sort = /** @type {import("./types").SortOrder} */ (v); state.cursor = 0; state.cursorId = null; refresh(); }),
    h("button", { type: "button", class: "btn btn-ghost btn-small", id: "f-clear", onclick: () => {
      Object.assign(f, { status: "", agent: "", action: "", from: "", to: "", search: "" });
      state.cursor = 0;
      state.cursorId = null;
      hooks?.rerender();
    } }, "Clear"));
  bulkEl = h("div", { class: "bulkbar", id: "bulkbar", hidden: true });
  // Not a live region: it is rewritten with the list; arrivals are announced once (applyChanges).
  countEl = h("div", { class: "list-count muted", id: "list-count" });
  newPill = h("button", { type: "button", class: "btn btn-small new-pill", id: "new-above", hidden: true,
    onclick: () => { newAbove = 0; if (scroller) scroller.scrollTop = 0; paint(); } });
  spacer = h("div", { class: "queue-spacer", "aria-hidden": "true" });
  // A grid: rows hold controls (checkbox, Review), which a listbox's options may not. Only
  // the rows on screen exist, so each says where it sits in the whole (aria-rowindex).
  listEl = h("ul", { class: "queue", id: "queue", role: "grid", "aria-label": "Approvals", "aria-multiselectable": "true" });
  scroller = h("div", { class: "queue-scroll", id: "queue-scroll" }, spacer, listEl);
  scroller.addEventListener("scroll", () => schedulePaint(), { passive: true });
  root.classList.add("view-queue");
  root.append(filterBar, bulkEl, h("div", { class: "list-head" }, countEl, newPill), scroller);
  paint();
  // Once laid out, put the cursor row on screen (returning from a detail, a far row).
  requestAnimationFrame(() => { revealCursor("center"); paint(); });
}

/**
 * @param {string} id @param {string} label @param {string} value @param {(v: string) => void} onChange
 */
function dateInput(id, label, value, onChange) {
  const el = /** @type {HTMLInputElement} */ (h("input", { type: "date", id, class: "input input-date", "aria-label": label, value }));
  el.addEventListener("change", () => onChange(el.value));
  return el;
}

/** @param {{search: string}} f @param {() => void} refilter */
function searchInput(f, refilter) {
  const el = /** @type {HTMLInputElement} */ (h("input", { type: "search", id: "f-search", class: "input input-search",
    placeholder: "Search  /", "aria-label": "Search approvals", "aria-keyshortcuts": "/", value: f.search }));
  /** @type {ReturnType<typeof setTimeout>|undefined} */ let t;
  el.addEventListener("input", () => {
    clearTimeout(t);
    t = setTimeout(() => { f.search = el.value; refilter(); }, 160);
  });
  el.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { clearTimeout(t); f.search = el.value; refilter(); }
    if (e.key === "Escape") {
      // Clearing the box clears the filter too: an empty box never hides rows.
      clearTimeout(t);
      if (el.value || f.search) { el.value = ""; f.search = ""; refilter(); }
    }
  });
  return el;
}

async function refresh() {
  try {
    await loadQueue();
  } catch (e) {
    toast(/** @type {any} */ (e).message, "error");
  }
  if (scroller) scroller.scrollTop = 0;
  paint();
}

function schedulePaint() {
  if (frame) return;
  frame = requestAnimationFrame(() => { frame = 0; paint(); });
}

/** Draws the rows in view from the window (fetching what is missing), the count and the bulk bar. */
export function paint() {
  if (!listEl || !scroller || !spacer || !countEl) return;
  const w = state.win;
  spacer.style.height = `${w.total * ROW_H}px`;
  const rowcount = String(w.total);
  if (listEl.getAttribute("aria-rowcount") !== rowcount) listEl.setAttribute("aria-rowcount", rowcount);
  const { first, last } = win.visibleRange(scroller.scrollTop, scroller.clientHeight || 600, ROW_H, w.total);
  if (newAbove && scroller.scrollTop < ROW_H) newAbove = 0;
  const missing = [];
  for (let i = first; i < last; i++) if (!win.rowAt(w, i)) { missing.push(i); }
  if (missing.length) ensureLoaded(missing[0], missing[missing.length - 1] + 1).then(() => schedulePaint());

  const now = serverNow();
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const li of /** @type {NodeListOf<HTMLElement>} */ (listEl.querySelectorAll("li.row"))) existing.set(li.dataset.key || "", li);
  const frag = [];
  for (let i = first; i < last; i++) {
    const r = win.rowAt(w, i);
    const key = r ? `${r.id}|${i}|${rowStamp(r)}` : `_|${i}`;
    let li = existing.get(key);
    if (li) existing.delete(key);
    else li = r ? row(r, i, now) : placeholder(i);
    li.dataset.key = key;
    markCursor(li, i);
    frag.push(li);
  }
  for (const li of existing.values()) li.remove();
  listEl.querySelector(".empty")?.remove();
  // Insert only what is new, in order: moving a node would blur the focused row.
  frag.forEach((li, k) => {
    const at = listEl?.children[k] || null;
    if (at !== li) listEl?.insertBefore(li, at);
  });
  if (w.total === 0) listEl.append(emptyState());
  const count = `${w.total} approval${w.total === 1 ? "" : "s"}`;
  if (countEl.textContent !== count) countEl.textContent = count;
  if (newPill) {
    newPill.hidden = !newAbove;
    newPill.textContent = `${newAbove} new — show`;
  }
  paintBulk();
}

/**
 * The empty queue says why it is empty: "nothing waiting" only when the server was
 * reached; offline it is only what was cached, and without a server there is nothing.
 */
function emptyState() {
  const app = state.app;
  const filtered = Object.values(state.filters).some((v) => v);
  const says = emptyQueue({
    configured: !!(app && app.configured), conn: app ? app.status.conn.state : "not_configured",
    filtered, pendingTab: state.tab === "pending", lastSynced: app ? app.status.last_synced : null,
  });
  // A row of the grid (the list is role=grid), its text and actions in one cell.
  return h("li", { class: "empty", id: "queue-empty", role: "row" },
    h("div", { class: "empty-glyph", "aria-hidden": "true" }, says.glyph),
    h("div", { role: "gridcell" }, h("div", null, says.text),
      says.signIn ? h("div", { class: "empty-actions" },
        h("button", { type: "button", class: "btn btn-primary", id: "empty-sign-in", onclick: () => hooks?.go("settings") }, "Sign in"),
        h("button", { type: "button", class: "btn", id: "empty-demo", onclick: () => hooks?.startDemo() }, "Try the demo")) : null));
}

/** What a row's rendering depends on, so an unchanged row keeps its element. @param {QueueItem} r */
function rowStamp(r) {
  return `${r.status}/${r.pending_decision ? r.pending_decision.state : ""}/${r.gone_at ? "g" : ""}/${state.selected.has(r.id) ? 1 : 0}/${r.outcome || ""}/${r.approvals}/${r.waiting_for_others ? "w" : ""}`;
}

/** @param {HTMLElement} li @param {number} i */
function markCursor(li, i) {
  const on = i === state.cursor;
  li.classList.toggle("cursor", on);
  li.tabIndex = on ? 0 : -1;
  if (on) li.setAttribute("aria-current", "true"); else li.removeAttribute("aria-current");
}

/** @param {number} i */
function placeholder(i) {
  const li = h("li", { class: "row row-placeholder", "aria-hidden": "true", dataset: { index: String(i) } },
    h("div", { class: "row-main muted" }, "…"));
  li.style.top = `${i * ROW_H}px`;
  return li;
}

/** A row's accessible name: the request first, then who, status and urgency.
 * @param {QueueItem} r @param {boolean} checked @param {number} now */
function rowName(r, checked, now) {
  const parts = [r.summary, `${r.agent}, ${r.action}`, STATUS_LABEL[r.status] || r.status];
  if (r.status === "pending") parts.push(`expires in ${expiresIn(r.expires_at, now)}`);
  for (const c of r.risks || []) parts.push(c.label);
  if (checked) parts.push("selected");
  parts.push(r.id);
  return parts.join("; ");
}

/** @param {QueueItem} r @param {number} i @param {number} now */
function row(r, i, now) {
  const decidable = isDecidable(r);
  const checked = state.selected.has(r.id);
  // Not a Tab stop of its own: the list is one Tab stop (the cursor row), x ticks it.
  const cb = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", class: "row-check", "aria-label": `Select ${r.id}`,
    checked, disabled: !decidable, tabindex: "-1" }));
  cb.addEventListener("change", () => {
    if (cb.checked) state.selected.add(r.id); else state.selected.delete(r.id);
    paint();
  });
  const pd = r.pending_decision;
  const local = pd
    ? h("span", { class: "chip chip-queued" }, `Queued ${pd.kind}`)
    : r.gone_at ? h("span", { class: "chip chip-rejected", title: "Kept here because you decided on it" }, "No longer on the server")
      : null;
  // Quorum: "1/2" approvals so far, and whether it now waits for others (I approved).
  const quorum = r.required_approvals > 1
    ? h("span", { class: `chip chip-quorum${r.waiting_for_others ? " chip-waiting" : ""}`,
      title: r.waiting_for_others ? "You approved; waiting for others"
        : `${r.approvals} of ${r.required_approvals} approvals` },
      r.waiting_for_others ? `${r.approvals}/${r.required_approvals} · waiting for others` : `${r.approvals}/${r.required_approvals}`)
    : null;
  const li = h("li", {
    class: `row status-${r.status}${checked ? " selected" : ""}`,
    role: "row", "aria-rowindex": String(i + 1), "aria-selected": checked ? "true" : "false",
    dataset: { id: r.id, index: String(i) },
    // What a screen reader says when j/k moves focus here.
    "aria-label": rowName(r, checked, now),
  },
  h("div", { class: "row-check-cell", role: "gridcell" }, cb),
  h("div", { class: "row-glyph", role: "gridcell", title: STATUS_LABEL[r.status] || r.status },
    h("span", { "aria-hidden": "true" }, GLYPH[r.status] || "?"),
    h("span", { class: "sr-only" }, STATUS_LABEL[r.status] || r.status)),
  h("div", { class: "row-main", role: "gridcell" },
    h("div", { class: "row-line" },
      h("code", { class: "row-id" }, r.id),
      h("span", { class: "row-agent" }, agentText(r.agent)),
      h("code", { class: "row-action" }, agentText(r.action)),
      h("span", { class: "chip chip-reason" }, agentText(r.reason_code)),
      (r.risks || []).map((c) => h("span", { class: `chip chip-risk risk-${c.kind}` }, c.label)),
      quorum,
      local, outcomeMark(r),
      r.status === "pending" ? expiry(r.expires_at, now) : null,
      h("time", { class: "row-age muted", datetime: r.created_at, title: new Date(r.created_at).toLocaleString() },
        ago(r.created_at, now))),
    h("div", { class: "row-summary" }, agentText(r.summary))),
  h("div", { class: "row-action-cell", role: "gridcell" },
    h("button", { type: "button", class: "btn btn-small review", tabindex: "-1", "aria-label": `Review ${r.id}`,
      onclick: (/** @type {Event} */ e) => { e.stopPropagation(); setCursor(i); hooks?.openDetail(r.id); } }, "Review →")));
  li.style.top = `${i * ROW_H}px`;
  li.addEventListener("click", (e) => {
    if (/** @type {HTMLElement} */ (e.target).closest("input,button")) return;
    setCursor(i);
    hooks?.openDetail(r.id);
  });
  return li;
}

/** @param {string} at @param {number} now */
function expiry(at, now) {
  const t = /** @type {HTMLTimeElement} */ (h("time", { datetime: at, title: `Expires ${absolute(at)}` }));
  paintExpiry(t, now);
  return h("span", { class: "row-expiry" }, h("span", { class: "sr-only" }, "expires in "), t);
}

function paintBulk() {
  if (!bulkEl) return;
  clear(bulkEl);
  const ids = [...state.selected];
  bulkEl.hidden = ids.length === 0;
  if (!ids.length) return;
  bulkEl.append(
    h("span", { class: "bulk-count" }, `${ids.length} selected`),
    h("button", { type: "button", class: "btn btn-small btn-primary", id: "bulk-approve",
      onclick: () => bulkDecide("approve") }, "Bulk Approve"),
    h("button", { type: "button", class: "btn btn-small btn-danger", id: "bulk-deny",
      onclick: () => bulkDecide("deny") }, "Bulk Deny"),
    h("button", { type: "button", class: "btn btn-small btn-ghost", onclick: () => {
      state.selected.clear(); paint();
    } }, "Clear selection"));
}

/** @param {number} i */
function setCursor(i) {
  state.cursor = i;
  state.cursorId = win.rowAt(state.win, i)?.id || null;
}

/** Scrolls so the cursor row is on screen. @param {"nearest"|"center"} how */
function revealCursor(how) {
  if (!scroller) return;
  const top = state.cursor * ROW_H;
  const h_ = scroller.clientHeight;
  if (how === "center" && (top < scroller.scrollTop || top + ROW_H > scroller.scrollTop + h_)) {
    scroller.scrollTop = Math.max(0, top - h_ / 2 + ROW_H / 2);
  } else if (top < scroller.scrollTop) {
    scroller.scrollTop = top;
  } else if (top + ROW_H > scroller.scrollTop + h_) {
    scroller.scrollTop = top + ROW_H - h_;
  }
}

/** Moves the keyboard cursor by `delta` rows (real focus moves with it). @param {number} delta */
export async function moveCursor(delta) {
  const total = state.win.total;
  if (!total) return;
  const next = Math.max(0, Math.min(total - 1, state.cursor + delta));
  if (!win.rowAt(state.win, next)) await ensureLoaded(next - 5, next + 5);
  setCursor(next);
  revealCursor("nearest");
  paint();
  /** @type {HTMLElement|null|undefined} */ (listEl?.querySelector("li.row.cursor"))?.focus({ preventScroll: true });
}

export function toggleCursorSelection() {
  const r = cursorRow();
  if (!r || !isDecidable(r)) return;
  if (state.selected.has(r.id)) state.selected.delete(r.id); else state.selected.add(r.id);
  paint();
}

/**
 * Patches the rows a change event named (or re-reads the window when `ids` is null),
 * keeping what the approver looks at steady: rows added above the viewport shift the
 * scroll position by as much, and a "N new — show" button says so.
 * @param {string[]|null} ids
 */
export async function applyChanges(ids) {
  if (!scroller) return;
  const gen = generation;
  const q = currentQuery();
  const anchorIndex = Math.floor(scroller.scrollTop / ROW_H);
  const anchor = win.rowAt(state.win, anchorIndex);
  const before = state.win.total;
  if (ids === null) {
    await loadQueue();
  } else {
    if (!ids.length) return;
    const matching = await api.approvalsById(q, ids);
    if (gen !== generation) return;
    win.patch(state.win, ids, matching, sort());
    for (const id of ids) if (!matching.some((m) => m.id === id)) state.selected.delete(id);
    state.win.total = await api.countApprovals(q);
    if (gen !== generation) return;
  }
  // Keep the cursor on its approval, and the first visible row where it was.
  if (state.cursorId) {
    const ci = win.indexOf(state.win, state.cursorId);
    if (ci >= 0) state.cursor = ci;
  }
  state.cursor = Math.min(state.cursor, Math.max(0, state.win.total - 1));
  // Arrivals are told once, politely; rows that leave the list are not news.
  const arrived = state.win.total - before;
  if (arrived > 0) announceNews(`${arrived} new approval${arrived === 1 ? "" : "s"}`);
  if (anchor && scroller.scrollTop >= ROW_H) {
    const now = win.indexOf(state.win, anchor.id);
    if (now >= 0 && now !== anchorIndex) {
      newAbove = Math.max(0, newAbove + (now - anchorIndex));
      scroller.scrollTop += (now - anchorIndex) * ROW_H;
    }
  }
  paint();
}

/**
 * The rows of `ids`: from the loaded window where they are, the rest read from the store
 * (no filters: a selected row is checked whatever the list shows now).
 * @param {string[]} ids @returns {Promise<QueueItem[]>}
 */
async function selectedRows(ids) {
  const loaded = new Map(state.win.rows.map((r) => [r.id, r]));
  const missing = ids.filter((id) => !loaded.has(id));
  if (missing.length) {
    const all = /** @type {QueueQuery} */ ({ ...currentQuery(), status: null, waiting: false, agent: null, action: null,
      from: null, to: null, search: null });
    for (const r of await api.approvalsById(all, missing)) loaded.set(r.id, r);
  }
  return ids.map((id) => loaded.get(id)).filter((r) => !!r);
}

/** Approve/deny the selection (or the row under the cursor), always through the confirmation. @param {"approve"|"deny"} kind */
export async function bulkDecide(kind) {
  /** @type {QueueItem[]} */
  let items = [];
  let ids = [...state.selected];
  if (!ids.length) {
    const r = cursorRow();
    if (!r || !isDecidable(r)) return;
    ids = [r.id];
  }
  // Every selected row, not only those in the loaded window (rows scrolled far away were
  // dropped from it): the risk warnings must cover the whole selection.
  try {
    items = await selectedRows(ids);
  } catch (e) {
    toast(`Could not load the selection to check it: ${/** @type {any} */ (e).message}`, "error");
    return;
  }
  const found = new Set(items.map((r) => r.id));
  const unchecked = ids.filter((id) => !found.has(id)).map((id) => `${id}: not in the local store, could not be checked`);
  const verb = kind === "deny" ? "Deny" : "Approve";
  const answer = await confirmDecision({
    title: ids.length > 1 ? `${verb} ${ids.length} approvals?` : `${verb} ${ids[0]}?`,
    kind, ids, items, warnings: unchecked, needReason: kind === "deny", askNotes: true,
    offline: !!(state.app && state.app.status.conn.state === "offline"),
  });
  if (!answer) return;
  try {
    const res = await api.decide(ids, kind, answer.reason, answer.notes);
    const n = res.entries.length;
    if (n) offerUndo(res.entries, `${kind === "deny" ? "Denied" : "Approved"} ${n} approval${n === 1 ? "" : "s"}`);
    if (res.skipped.length) {
      toast(`Not decided: ${res.skipped.map(([id, why]) => `${id} (${why})`).join(", ")}`, "error");
    }
    state.selected.clear();
    paint();
  } catch (e) {
    toast(/** @type {any} */ (e).message, "error");
  }
}
