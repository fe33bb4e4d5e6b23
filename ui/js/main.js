// Boot, navigation, the connection banner, shell events and keyboard shortcuts.
import { api, on, EVENTS, syncNow as syncWith } from "./api.js";
import { h, clear, toast } from "./dom.js";
import { state } from "./store.js";
import { ago, absolute } from "./format.js";
import { initQueue, loadQueue, renderQueue, renderTabs, moveCursor, toggleCursorSelection, bulkDecide, paint } from "./queue.js";
import { initDetail, renderDetail, stopDetail, decide, detailStep } from "./detail.js";
import { renderStats } from "./stats.js";
import { initSettings, renderSettings } from "./settings.js";
import { initOutbox, renderOutbox } from "./outbox.js";

const view = document.getElementById("view");
let rendering = Promise.resolve();

function setNav() {
  const active = state.view === "detail" ? "approvals" : state.view;
  for (const b of document.querySelectorAll(".nav-item")) {
    const on = b.dataset.view === active;
    b.classList.toggle("active", on);
    if (on) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
}

async function renderNow() {
  setNav();
  if (state.view !== "detail") stopDetail();
  const next = document.createElement("div");
  next.className = "view-inner";
  if (state.view === "welcome") {
    await renderSettings(next, true);
  } else if (state.view === "settings") {
    await renderSettings(next, false);
  } else if (state.view === "outbox") {
    await renderOutbox(next);
  } else if (state.view === "detail") {
    await renderDetail(next, state.detailId);
  } else if (state.tab === "stats") {
    renderTabs(next);
    await renderStats(next);
  } else {
    try { await loadQueue(); } catch (e) { toast(e.message, "error"); }
    renderQueue(next);
  }
  const focusId = document.activeElement && document.activeElement.id;
  clear(view).append(next);
  view.dataset.view = state.view === "approvals" ? `approvals-${state.tab}` : state.view;
  if (focusId) document.getElementById(focusId)?.focus();
}

/** Re-renders the current view; calls are serialised so renders never interleave. */
export function rerender() {
  rendering = rendering.then(renderNow, renderNow);
  return rendering;
}

function go(v) {
  state.view = v;
  return rerender();
}

function openDetail(id) {
  state.detailId = id;
  state.view = "detail";
  return rerender().then(() => view.focus());
}

async function afterDecision(id) {
  // Refresh the list, then move on to the next pending item after the decided one.
  const before = state.rows.findIndex((r) => r.id === id);
  try { await loadQueue(); } catch (e) { toast(e.message, "error"); }
  const pending = state.rows.filter((r) => r.status === "pending" && r.id !== id && !(r.local && r.local.state === "queued"));
  const after = pending.find((r) => state.rows.indexOf(r) >= before) || pending[0];
  if (after) {
    state.cursor = state.rows.indexOf(after);
    await openDetail(after.id);
  } else {
    toast("That was the last pending approval.");
    await go("approvals");
  }
}

function syncNow() {
  return syncWith(toast);
}

function paintBanner() {
  const b = document.getElementById("banner");
  const app = state.app;
  clear(b);
  b.className = "banner";
  const conn = app ? app.connection : null;
  const connText = document.getElementById("conn-text");
  const connEl = document.getElementById("conn");
  const last = conn && conn.last_synced_at ? `last synced ${ago(conn.last_synced_at)}` : "never synced";
  const st = conn ? conn.state : "unconfigured";
  connEl.dataset.state = st;
  connText.textContent = {
    online: `Online · ${last}`, syncing: "Syncing…", offline: `Offline · ${last}`,
    unauthorized: "Token refused", unconfigured: "Not connected", untrusted: "Certificate not trusted",
  }[st] || st;
  connText.title = conn && conn.last_synced_at ? `Last synced ${absolute(conn.last_synced_at)}` : "";
  document.getElementById("who").textContent = app && app.subject
    ? `${app.subject}${app.demo ? " · demo" : ""}` : app && app.demo ? "demo" : "";

  const pieces = [];
  if (st === "offline") {
    b.classList.add("banner-offline");
    pieces.push(h("strong", null, "Offline."), ` Decisions are queued and sent when the server is back. Showing cached data, ${last}`,
      conn.last_synced_at ? ` (${absolute(conn.last_synced_at)})` : "", ".",
      h("button", { type: "button", class: "btn btn-small", id: "retry", onclick: () => syncNow() }, "Retry"));
  } else if (st === "unauthorized") {
    b.classList.add("banner-error");
    pieces.push(h("strong", null, "The server refused the token."), " Enter a new one in Settings.",
      h("button", { type: "button", class: "btn btn-small", onclick: () => go("settings") }, "Open Settings"));
  } else if (st === "untrusted") {
    b.classList.add("banner-error");
    pieces.push(h("strong", null, "No secure connection."), ` ${conn.message || "The server's certificate is not trusted."}`,
      h("button", { type: "button", class: "btn btn-small", onclick: () => syncNow() }, "Retry"));
  } else if (st === "syncing") {
    b.classList.add("banner-syncing");
    pieces.push(h("span", { class: "spinner", "aria-hidden": "true" }), "Syncing with the server…");
  }
  if (app && app.outbox && app.outbox.rejected > 0) {
    if (pieces.length) pieces.push(h("span", { class: "sep" }, " "));
    else b.classList.add("banner-error");
    pieces.push(`${app.outbox.rejected} decision${app.outbox.rejected === 1 ? " was" : "s were"} rejected by the server.`,
      h("button", { type: "button", class: "btn btn-small", onclick: () => go("outbox") }, "View outbox"));
  } else if (app && app.outbox && app.outbox.queued > 0 && st !== "offline") {
    if (!pieces.length) b.classList.add("banner-syncing");
    pieces.push(` ${app.outbox.queued} decision${app.outbox.queued === 1 ? "" : "s"} waiting to be sent.`);
  }
  b.title = conn && conn.message ? conn.message : "";
  b.append(...pieces);
  b.hidden = pieces.length === 0;

  const pb = document.getElementById("pending-badge");
  const n = app ? app.pending_count : 0;
  pb.hidden = !n;
  pb.textContent = String(n);
  const ob = document.getElementById("outbox-badge");
  const q = app && app.outbox ? app.outbox.queued + app.outbox.rejected : 0;
  ob.hidden = !q;
  ob.textContent = String(q);
  ob.classList.toggle("badge-danger", !!(app && app.outbox && app.outbox.rejected));
}

async function refreshState() {
  try {
    state.app = await api.appState();
  } catch (e) {
    toast(e.message, "error");
  }
  paintBanner();
}

// Background refreshes must not steal focus or wipe what the user is typing.
let refreshTimer = null;
function scheduleDataRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    if (state.view === "approvals" && state.tab !== "stats") {
      try { await loadQueue(); paint(); } catch (e) { toast(e.message, "error"); }
    } else if (state.view === "outbox") {
      await rerender();
    }
  }, 120);
}

function typing(e) {
  const t = e.target;
  return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

document.addEventListener("keydown", (e) => {
  if (document.getElementById("confirm").open) return; // the dialog handles its own keys
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Escape") {
    if (typing(e)) { e.target.blur(); return; }
    if (state.view === "detail") { e.preventDefault(); go("approvals"); }
    return;
  }
  if (typing(e)) return;
  const inQueue = state.view === "approvals" && state.tab !== "stats";
  switch (e.key) {
    case "a": e.preventDefault(); go("approvals"); break;
    case "/":
      e.preventDefault();
      if (state.view !== "approvals" || state.tab === "stats") {
        state.view = "approvals";
        if (state.tab === "stats") state.tab = "pending";
        rerender().then(() => document.getElementById("f-search")?.focus());
      } else document.getElementById("f-search")?.focus();
      break;
    case "j": case "ArrowDown":
      if (inQueue) { e.preventDefault(); moveCursor(1); } else if (state.view === "detail" && e.key === "j") detailStep(1);
      break;
    case "k": case "ArrowUp":
      if (inQueue) { e.preventDefault(); moveCursor(-1); } else if (state.view === "detail" && e.key === "k") detailStep(-1);
      break;
    case "Enter":
      if (inQueue && state.rows[state.cursor] && !e.target.closest("button")) { e.preventDefault(); openDetail(state.rows[state.cursor].id); }
      break;
    case "x": if (inQueue) { e.preventDefault(); toggleCursorSelection(); } break;
    case "A":
      e.preventDefault();
      if (state.view === "detail") decide("approve"); else if (inQueue) bulkDecide("approve");
      break;
    case "D":
      e.preventDefault();
      if (state.view === "detail") decide("deny"); else if (inQueue) bulkDecide("deny");
      break;
    default: break;
  }
});

for (const b of document.querySelectorAll(".nav-item")) {
  b.addEventListener("click", () => go(b.dataset.view));
}

async function boot() {
  initQueue({ openDetail, rerender });
  initDetail({ back: () => go("approvals"), afterDecision, open: openDetail, rerender });
  initSettings({ afterSettings: async () => { await refreshState(); await go(state.app && state.app.configured ? "approvals" : "welcome"); } });
  initOutbox({ openDetail, rerender });

  await on(EVENTS.approvalsChanged, (p) => {
    if (state.app) { state.app.pending_count = p.pending_count; paintBanner(); }
    scheduleDataRefresh();
  });
  await on(EVENTS.connection, (c) => { if (state.app) { state.app.connection = c; paintBanner(); } });
  await on(EVENTS.outboxChanged, (o) => { if (state.app) { state.app.outbox = o; paintBanner(); } scheduleDataRefresh(); });
  await on(EVENTS.openApproval, (p) => { if (p && p.id) openDetail(p.id); });
  await on(EVENTS.state, (s) => { state.app = s; paintBanner(); });

  await refreshState();
  state.view = state.app && state.app.configured ? "approvals" : "welcome";
  await rerender();
  document.body.dataset.ready = "true";
  // Relative ages in the queue and the "last synced" line age with the clock.
  setInterval(() => { paintBanner(); if (state.view === "approvals" && state.tab !== "stats") paint(); }, 30000);
}

boot();
