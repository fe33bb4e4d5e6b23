// The Approvals screen: tabs, filters, the queue rows and bulk actions.
import { api, syncNow } from "./api.js";
import { h, clear, toast } from "./dom.js";
import { state, PAGE } from "./store.js";
import { GLYPH, STATUS_LABEL, ago, dayStart, dayEnd } from "./format.js";
import { confirmDecision } from "./dialog.js";

let hooks = null; // { openDetail, rerender }
let listEl = null;
let bulkEl = null;
let countEl = null;

export function initQueue(h_) {
  hooks = h_;
}

export function currentQuery() {
  const f = state.filters;
  const status = state.tab === "pending" ? "pending" : f.status || null;
  return {
    status,
    agent: f.agent || null,
    action: f.action || null,
    from: dayStart(f.from),
    to: dayEnd(f.to),
    search: f.search.trim() || null,
    limit: PAGE,
  };
}

/** Reloads rows and facets from the shell, keeping the cursor on the same id if it is still there. */
export async function loadQueue() {
  const keep = state.rows[state.cursor] ? state.rows[state.cursor].id : null;
  const [list, facets] = await Promise.all([api.listApprovals(currentQuery()), api.facets()]);
  state.rows = list.items;
  state.total = list.total;
  state.facets = facets;
  const idx = keep ? state.rows.findIndex((r) => r.id === keep) : -1;
  state.cursor = idx >= 0 ? idx : Math.min(state.cursor, Math.max(0, state.rows.length - 1));
  const ids = new Set(state.rows.map((r) => r.id));
  for (const id of [...state.selected]) if (!ids.has(id)) state.selected.delete(id);
}

function select(label, id, value, options, onChange, disabled) {
  const el = h("select", { id, class: "select", "aria-label": label, disabled },
    options.map(([v, text]) => h("option", { value: v }, text)));
  el.value = value;
  el.addEventListener("change", () => onChange(el.value));
  return el;
}

export function renderTabs(root) {
  const tabs = [["pending", "Pending"], ["all", "All"], ["stats", "Stats"]];
  const bar = h("div", { class: "tabs", role: "tablist", "aria-label": "Approvals views" },
    tabs.map(([key, label]) => {
      const b = h("button", {
        type: "button", role: "tab", class: "tab", id: `tab-${key}`,
        "aria-selected": state.tab === key ? "true" : "false",
        tabindex: state.tab === key ? "0" : "-1",
        onclick: () => { if (state.tab !== key) { state.tab = key; state.cursor = 0; hooks.rerender(); } },
      }, label);
      if (key === "pending" && state.app && state.app.pending_count > 0) {
        b.append(h("span", { class: "tab-count" }, String(state.app.pending_count)));
      }
      return b;
    }));
  bar.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const i = tabs.findIndex(([k]) => k === state.tab);
    const n = (i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length;
    state.tab = tabs[n][0];
    hooks.rerender().then(() => document.getElementById(`tab-${state.tab}`)?.focus());
  });
  root.append(h("header", { class: "view-head" },
    h("h1", { class: "view-title" }, "Approvals"), bar,
    h("div", { class: "head-actions" },
      h("button", { type: "button", class: "btn btn-ghost", id: "sync-now", title: "Sync now",
        onclick: async () => { if (await syncNow(toast)) toast("Synced"); } }, "↻ Sync"))));
}

export function renderQueue(root) {
  renderTabs(root);
  const f = state.filters;
  const refilter = () => { state.cursor = 0; refresh(); };
  const filterBar = h("div", { class: "filters", role: "search", "aria-label": "Filter approvals" },
    h("span", { class: "filters-label" }, "Filter:"),
    select("Status", "f-status", state.tab === "pending" ? "pending" : f.status,
      [["", "All statuses"], ...Object.entries(STATUS_LABEL).map(([k, v]) => [k, v])],
      (v) => { f.status = v; refilter(); }, state.tab === "pending"),
    select("Agent", "f-agent", f.agent, [["", "All agents"], ...state.facets.agents.map((a) => [a, a])],
      (v) => { f.agent = v; refilter(); }),
    select("Action", "f-action", f.action, [["", "All actions"], ...state.facets.actions.map((a) => [a, a])],
      (v) => { f.action = v; refilter(); }),
    h("div", { class: "daterange", role: "group", "aria-label": "Date range" },
      dateInput("f-from", "From date", f.from, (v) => { f.from = v; refilter(); }),
      h("span", { class: "muted", "aria-hidden": "true" }, "–"),
      dateInput("f-to", "To date", f.to, (v) => { f.to = v; refilter(); })),
    searchInput(f, refilter),
    h("button", { type: "button", class: "btn btn-ghost btn-small", id: "f-clear", onclick: () => {
      Object.assign(f, { status: "", agent: "", action: "", from: "", to: "", search: "" });
      state.cursor = 0;
      hooks.rerender();
    } }, "Clear"));
  bulkEl = h("div", { class: "bulkbar", id: "bulkbar", hidden: true });
  countEl = h("div", { class: "list-count muted", id: "list-count", "aria-live": "polite" });
  listEl = h("ul", { class: "queue", id: "queue", role: "list", "aria-label": "Approvals" });
  root.append(filterBar, bulkEl, countEl, listEl);
  paint();
}

function dateInput(id, label, value, onChange) {
  const el = h("input", { type: "date", id, class: "input input-date", "aria-label": label, value });
  el.addEventListener("change", () => onChange(el.value));
  return el;
}

function searchInput(f, refilter) {
  const el = h("input", { type: "search", id: "f-search", class: "input input-search",
    placeholder: "Search  /", "aria-label": "Search approvals", "aria-keyshortcuts": "/", value: f.search });
  let t = null;
  el.addEventListener("input", () => {
    clearTimeout(t);
    t = setTimeout(() => { f.search = el.value; refilter(); }, 160);
  });
  el.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { clearTimeout(t); f.search = el.value; refilter(); }
  });
  return el;
}

async function refresh() {
  try {
    await loadQueue();
  } catch (e) {
    toast(e.message, "error");
  }
  paint();
}

/** Redraws the rows and the bulk bar from `state` (no reload). */
export function paint() {
  if (!listEl) return;
  clear(listEl);
  const now = Date.now();
  state.rows.forEach((r, i) => listEl.append(row(r, i, now)));
  if (state.rows.length === 0) {
    const filtered = Object.values(state.filters).some((v) => v);
    listEl.append(h("li", { class: "empty" },
      h("div", { class: "empty-glyph", "aria-hidden": "true" }, state.tab === "pending" && !filtered ? "✓" : "∅"),
      h("div", null, state.tab === "pending" && !filtered ? "Nothing waiting for you." : "No approvals match these filters.")));
  }
  const shown = state.rows.length;
  countEl.textContent = state.total > shown
    ? `Showing ${shown} of ${state.total} — narrow the filters to see the rest`
    : `${state.total} approval${state.total === 1 ? "" : "s"}`;
  paintBulk();
}

function row(r, i, now) {
  const decidable = r.status === "pending" && !(r.local && r.local.state === "queued");
  const checked = state.selected.has(r.id);
  const cb = h("input", { type: "checkbox", class: "row-check", "aria-label": `Select ${r.id}`,
    checked, disabled: !decidable });
  cb.addEventListener("change", () => {
    if (cb.checked) state.selected.add(r.id); else state.selected.delete(r.id);
    paintBulk();
    li.classList.toggle("selected", cb.checked);
  });
  const local = r.local
    ? h("span", { class: `chip chip-${r.local.state}`, title: r.local.message || "" },
      r.local.state === "queued" ? `Queued ${r.local.kind}` : `Rejected ${r.local.kind}`)
    : null;
  const li = h("li", {
    class: `row status-${r.status}${i === state.cursor ? " cursor" : ""}${checked ? " selected" : ""}`,
    dataset: { id: r.id, index: String(i) },
    "aria-current": i === state.cursor ? "true" : null,
  },
  h("div", { class: "row-check-cell" }, cb),
  h("div", { class: "row-glyph", title: STATUS_LABEL[r.status] || r.status },
    h("span", { "aria-hidden": "true" }, GLYPH[r.status] || "?"),
    h("span", { class: "sr-only" }, STATUS_LABEL[r.status] || r.status)),
  h("div", { class: "row-main" },
    h("div", { class: "row-line" },
      h("code", { class: "row-id" }, r.id),
      h("span", { class: "row-agent" }, r.agent_id),
      h("code", { class: "row-action" }, r.action),
      h("span", { class: "chip chip-reason" }, r.reason_code),
      local,
      h("time", { class: "row-age muted", datetime: r.created_at, title: new Date(r.created_at).toLocaleString() },
        ago(r.created_at, now))),
    h("div", { class: "row-summary" }, r.summary)),
  h("div", { class: "row-action-cell" },
    h("button", { type: "button", class: "btn btn-small review", "aria-label": `Review ${r.id}`,
      onclick: (e) => { e.stopPropagation(); state.cursor = i; hooks.openDetail(r.id); } }, "Review →")));
  li.addEventListener("click", (e) => {
    if (e.target.closest("input,button")) return;
    state.cursor = i;
    hooks.openDetail(r.id);
  });
  return li;
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

/** Moves the keyboard cursor by `delta` rows. */
export function moveCursor(delta) {
  if (!state.rows.length) return;
  state.cursor = Math.max(0, Math.min(state.rows.length - 1, state.cursor + delta));
  for (const li of listEl.querySelectorAll(".row")) {
    const on = Number(li.dataset.index) === state.cursor;
    li.classList.toggle("cursor", on);
    if (on) { li.setAttribute("aria-current", "true"); li.scrollIntoView({ block: "nearest" }); }
    else li.removeAttribute("aria-current");
  }
}

export function toggleCursorSelection() {
  const r = state.rows[state.cursor];
  if (!r || r.status !== "pending") return;
  if (state.selected.has(r.id)) state.selected.delete(r.id); else state.selected.add(r.id);
  paint();
}

/** Approve/deny the selection (or the row under the cursor), always through the confirmation. */
export async function bulkDecide(kind) {
  let ids = [...state.selected];
  if (!ids.length) {
    const r = state.rows[state.cursor];
    if (!r || r.status !== "pending") return;
    ids = [r.id];
  }
  const verb = kind === "deny" ? "Deny" : "Approve";
  const answer = await confirmDecision({
    title: ids.length > 1 ? `${verb} ${ids.length} approvals?` : `${verb} ${ids[0]}?`,
    kind, ids, needReason: kind === "deny", askNotes: true,
  });
  if (!answer) return;
  try {
    const res = ids.length > 1
      ? await api.decideBulk(ids, kind, answer.reason, answer.notes)
      : (await api.decide(ids[0], kind, answer.reason, answer.notes), { queued: 1 });
    toast(`${kind === "deny" ? "Denied" : "Approved"} ${res.queued} approval${res.queued === 1 ? "" : "s"}`);
    state.selected.clear();
    await hooks.rerender();
  } catch (e) {
    toast(e.message, "error");
  }
}
