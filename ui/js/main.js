// Boot, navigation, the connection banner, shell events and keyboard shortcuts.
import { api, on, EVENTS, syncNow as syncWith } from "./api.js";
import { h, clear, toast, byId } from "./dom.js";
import { state } from "./store.js";
import { ago, absolute, setClockOffset } from "./format.js";
import { initQueue, loadQueue, renderQueue, renderTabs, moveCursor, toggleCursorSelection, bulkDecide,
  applyChanges, currentQuery, ensureLoaded, cursorRow, paintPendingCount, paintFacets, paintAges } from "./queue.js";
import { initDetail, renderDetail, stopDetail, decide, openId, refreshOpenDetail, resumeDetail } from "./detail.js";
import { rowAt, indexOf } from "./window.js";
import { isDecidable } from "./rules.js";
import { renderStats } from "./stats.js";
import { initSettings, renderSettings } from "./settings.js";
import { initOutbox, renderOutbox } from "./outbox.js";
import { announceStatus } from "./announce.js";
import { openShortcuts, shortcutsOpen } from "./keys.js";
import { settled } from "./settle.js";

const view = byId("view", HTMLElement);
let rendering = Promise.resolve();

function setNav() {
  const active = state.view === "detail" ? "approvals" : state.view;
  for (const b of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".nav-item"))) {
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
  const isQueue = state.view === "approvals" && state.tab !== "stats";
  if (state.view === "welcome") {
    await renderSettings(next, true);
  } else if (state.view === "settings") {
    await renderSettings(next, false);
  } else if (state.view === "outbox") {
    await renderOutbox(next);
  } else if (state.view === "detail") {
    await renderDetail(next, state.detailId || "");
  } else if (state.tab === "stats") {
    renderTabs(next);
    await renderStats(next);
  } else {
    try { await loadQueue(); } catch (e) { toast(/** @type {any} */ (e).message, "error"); }
  }
  const focusId = document.activeElement && document.activeElement.id;
  const name = state.view === "approvals" ? `approvals-${state.tab}` : state.view;
  // The same view repainted (the outbox after a delivery, the same detail) stays where
  // the approver had scrolled it: content must not move under the pointer by itself.
  const keepScroll = view.dataset.view === name && view.dataset.detail === (state.view === "detail" ? state.detailId || "" : "");
  const scrolled = keepScroll ? view.scrollTop : 0;
  clear(view);
  view.append(next);
  // The queue scrolls inside its own list; every other view scrolls the page, from the top.
  view.classList.toggle("view-fixed", isQueue);
  view.scrollTop = scrolled;
  if (isQueue) renderQueue(next);
  view.dataset.view = name;
  view.dataset.detail = state.view === "detail" ? state.detailId || "" : "";
  if (focusId && state.view !== "detail") document.getElementById(focusId)?.focus();
}

/** Re-renders the current view; calls are serialised so renders never interleave. */
export function rerender() {
  rendering = rendering.then(renderNow, renderNow);
  return rendering;
}

/** @param {string} v */
function go(v) {
  state.view = v;
  return rerender();
}

/** Back to the queue, with focus on the row the approver was on. */
async function back() {
  await go("approvals");
  /** @type {HTMLElement|null} */ (document.querySelector("#queue li.row.cursor"))?.focus({ preventScroll: true });
}

/** Opens an approval's detail; `index` is its place in the current queue when known.
 * @param {string} id @param {number|null} [index] */
async function openDetail(id, index) {
  state.detailId = id;
  let at = typeof index === "number" ? index : indexOf(state.win, id);
  if (at < 0) {
    const pos = await api.positionOf(currentQuery(), id).catch(() => null);
    at = typeof pos === "number" ? pos : -1;
  }
  state.detailIndex = at >= 0 ? at : null;
  if (at >= 0) { state.cursor = at; state.cursorId = id; }
  state.view = "detail";
  await rerender();
  document.getElementById("detail-heading")?.focus();
}

/** j/k in the detail: the next/previous approval of the queue, across page boundaries. @param {number} delta */
async function step(delta) {
  if (state.detailIndex === null) return;
  const next = state.detailIndex + delta;
  if (next < 0 || next >= state.win.total) return;
  if (!rowAt(state.win, next)) await ensureLoaded(next - 10, next + 10);
  const r = rowAt(state.win, next);
  if (r) await openDetail(r.id, next);
}

/** After a decision: on to the next approval still waiting, after the decided one. @param {string} id */
async function afterDecision(id) {
  const from = state.detailIndex === null ? 0 : state.detailIndex;
  // Look ahead in the loaded window, then wrap to its start.
  await ensureLoaded(from, from + 60);
  const rows = state.win.rows;
  const isNext = (/** @type {import("./types").QueueItem} */ r) => r.id !== id && isDecidable(r);
  const ahead = rows.findIndex((r, i) => state.win.start + i > from && isNext(r));
  const anyIdx = ahead >= 0 ? ahead : rows.findIndex(isNext);
  if (anyIdx >= 0) {
    await openDetail(rows[anyIdx].id, state.win.start + anyIdx);
  } else {
    toast("That was the last pending approval.");
    await back();
  }
}

function syncNow() {
  return syncWith(toast);
}

function paintBanner() {
  const b = /** @type {HTMLElement} */ (document.getElementById("banner"));
  const app = state.app;
  const st = app ? app.status : null;
  const conn = st ? st.conn : { state: "not_configured" };
  const last = st && st.last_synced ? `last synced ${ago(st.last_synced)}` : "never synced";
  const connText = /** @type {HTMLElement} */ (document.getElementById("conn-text"));
  const connEl = /** @type {HTMLElement} */ (document.getElementById("conn"));
  if (connEl.dataset.state !== conn.state) connEl.dataset.state = conn.state;
  setText(connText, {
    online: `Online · ${last}`, syncing: "Syncing…", offline: `Offline · ${last}`,
    unauthorized: "Signed out", not_configured: "Not connected", untrusted: "Certificate not trusted",
  }[conn.state] || conn.state);
  setAttr(connText, "title", st && st.last_synced ? `Last synced ${absolute(st.last_synced)}` : "");
  // Kept on screen for as long as the account uses its http:// override.
  const insecureEl = /** @type {HTMLElement} */ (document.getElementById("insecure-conn"));
  const insecure = !!(app && app.insecure_connection);
  if (insecureEl.hidden === insecure) insecureEl.hidden = !insecure;
  setText(/** @type {HTMLElement} */ (document.getElementById("who")), app && app.subject
    ? `${app.subject}${app.demo ? " · demo" : ""}` : app && app.demo ? "demo" : "");

  /** @type {(string|Node)[]} */
  const pieces = [];
  let kind = "";
  if (conn.state === "offline") {
    kind = "banner-offline";
    pieces.push(h("strong", null, "Offline."), ` Decisions are queued and sent when the server is back. Showing cached data, ${last}`,
      st && st.last_synced ? ` (${absolute(st.last_synced)})` : "", ".",
      h("button", { type: "button", class: "btn btn-small", id: "retry", onclick: () => syncNow() }, "Retry"));
  } else if (conn.state === "unauthorized") {
    // Revoked, expired or unknown token: signed out. The cache stays readable and queued
    // decisions stay queued; the server's reason is shown as it said it.
    kind = "banner-error";
    const why = /** @type {any} */ (conn).message || "";
    pieces.push(h("strong", { id: "signed-out" }, "Signed out: sign in again."),
      ` ${/revoked/i.test(why) ? "This device's token was revoked." : /expired/i.test(why) ? "This device's token has expired." : "The server refused the token."}`,
      " Enter a new one in Settings; queued decisions stay queued and are sent after.",
      h("button", { type: "button", class: "btn btn-small", onclick: () => go("settings") }, "Sign in"));
  } else if (conn.state === "untrusted") {
    kind = "banner-error";
    pieces.push(h("strong", null, "No secure connection."), ` ${/** @type {any} */ (conn).message || "The server's certificate is not trusted."}`,
      h("button", { type: "button", class: "btn btn-small", onclick: () => syncNow() }, "Retry"));
  } else if (conn.state === "syncing") {
    kind = "banner-syncing";
    pieces.push(h("span", { class: "spinner", "aria-hidden": "true" }), "Syncing with the server…");
  }
  setClockOffset(st ? st.clock_offset_ms : 0);
  if (st && st.clock_off && st.clock_offset_ms) {
    const secs = Math.abs(st.clock_offset_ms) / 1000;
    const span = secs >= 3600 ? `${Math.round(secs / 360) / 10} h` : `${Math.round(secs / 60)} min`;
    if (pieces.length) pieces.push(h("span", { class: "sep" }, " "));
    else kind = kind || "banner-syncing";
    pieces.push(h("span", { id: "clock-note" },
      `This computer's clock is ${span} ${st.clock_offset_ms > 0 ? "behind" : "ahead of"} the server's; times shown are the server's.`));
  }
  if (st && st.store_notice) {
    if (pieces.length) pieces.push(h("span", { class: "sep" }, " "));
    kind = "banner-error";
    pieces.push(h("span", { id: "store-notice" }, st.store_notice));
  }
  if (st && st.audit_notice) {
    if (pieces.length) pieces.push(h("span", { class: "sep" }, " "));
    kind = "banner-error";
    pieces.push(h("span", { id: "audit-notice" }, st.audit_notice));
  }
  const failed = st ? st.outbox_failed : 0;
  const queued = st ? st.outbox_pending : 0;
  if (failed > 0) {
    if (pieces.length) pieces.push(h("span", { class: "sep" }, " "));
    else kind = "banner-error";
    pieces.push(`${failed} decision${failed === 1 ? " was" : "s were"} not applied by the server.`,
      h("button", { type: "button", class: "btn btn-small", onclick: () => go("outbox") }, "View outbox"));
  } else if (queued > 0 && conn.state !== "offline") {
    if (!pieces.length) kind = "banner-syncing";
    pieces.push(` ${queued} decision${queued === 1 ? "" : "s"} waiting to be sent.`);
  }
  // Rebuilt only when its content changes: a live region announces every rebuild.
  const message = /** @type {any} */ (conn).last_error || /** @type {any} */ (conn).message || "";
  const sig = JSON.stringify([kind, pieces.map((p) => (typeof p === "string" ? p : p.textContent)), message]);
  if (b.dataset.sig !== sig) {
    b.dataset.sig = sig;
    clear(b);
    b.className = `banner ${kind}`.trim();
    // One line in a strip of reserved height (ui/css/app.css): filled or emptied, never
    // shown or hidden, so the view below keeps its place. The words may be cut short;
    // the tooltip has them whole.
    const buttons = pieces.filter((p) => p instanceof HTMLButtonElement);
    const text = h("span", { class: "banner-text" }, ...pieces.filter((p) => !buttons.includes(/** @type {any} */ (p))));
    b.title = message || text.textContent || "";
    b.append(text, ...buttons);
    b.dataset.empty = String(pieces.length === 0);
  }

  announceStatus(statusWords(conn, failed));

  // The badges are numbers on screen; the buttons' names carry them in words ("Approvals, 12 waiting").
  const pb = /** @type {HTMLElement} */ (document.getElementById("pending-badge"));
  const n = st ? st.pending_count : 0;
  if (pb.hidden !== !n) pb.hidden = !n;
  setText(pb, String(n));
  setText(byId("pending-badge-words", HTMLSpanElement), n ? `, ${n} waiting` : "");
  const ob = /** @type {HTMLElement} */ (document.getElementById("outbox-badge"));
  const q = queued + failed;
  if (ob.hidden !== !q) ob.hidden = !q;
  setText(ob, String(q));
  setText(byId("outbox-badge-words", HTMLSpanElement), !q ? ""
    : `, ${q} decision${q === 1 ? "" : "s"}${failed ? `, ${failed} not applied` : " waiting to be sent"}`);
  ob.classList.toggle("badge-danger", failed > 0);
  paintPendingCount();
}

/**
 * The state a screen reader is told about: the connection (not its passing "syncing"
 * phases, nor the ageing "last synced" time) and decisions the server did not apply.
 * @param {{state: string}} conn @param {number} failed
 */
function statusWords(conn, failed) {
  const words = {
    online: "Online.", offline: "Offline. Decisions are queued and sent when the server is back.",
    unauthorized: "Signed out: sign in again. Enter a new token in Settings.",
    untrusted: "No secure connection: the server's certificate is not trusted.", not_configured: "Not connected.",
  };
  const el = document.getElementById("live-status");
  // Syncing is a passing phase of the state before it: nothing to say.
  const base = conn.state === "syncing" ? (el && el.dataset.conn) || "" : words[/** @type {keyof typeof words} */ (conn.state)] || "";
  if (el && conn.state !== "syncing") el.dataset.conn = base;
  const bad = failed > 0 ? ` ${failed} decision${failed === 1 ? " was" : "s were"} not applied by the server.` : "";
  return `${base}${bad}`.trim();
}

/** Repaints only what differs: every DOM write costs a repaint, and a tray app must rest.
 * @param {HTMLElement} el @param {string} text */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** @param {HTMLElement} el @param {string} name @param {string} value */
function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

async function refreshState() {
  try {
    state.app = await api.appState();
  } catch (e) {
    toast(/** @type {any} */ (e).message, "error");
  }
  paintBanner();
}

/** Whether a key goes to text entry (a checkbox or button is not text entry). @param {KeyboardEvent} e */
function typing(e) {
  const t = /** @type {HTMLElement|null} */ (e.target);
  if (!t) return false;
  if (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT") return true;
  if (t.tagName !== "INPUT") return false;
  const type = /** @type {HTMLInputElement} */ (t).type;
  return !["checkbox", "radio", "button", "submit", "reset", "range", "color"].includes(type);
}

/** A decision shortcut came too soon after the screen changed (see settle.js). @param {string} key */
function ignoredShortcut(key) {
  toast(`${key} ignored: the window or the approval just changed. Look, then press it again.`);
}

document.addEventListener("keydown", (e) => {
  if (byId("confirm", HTMLDialogElement).open || shortcutsOpen()) return; // dialogs handle their own keys
  if (e.ctrlKey && e.key === "Enter" && state.view === "detail") {
    // Submits the decision form being typed in: from the deny reason, Deny; else Approve.
    const t = /** @type {HTMLElement|null} */ (e.target);
    if (t && t.closest("#decision-slot")) {
      e.preventDefault();
      if (!settled()) { ignoredShortcut("Ctrl+Enter"); return; }
      decide(t.id === "deny-reason" ? "deny" : "approve");
    }
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Escape") {
    if (typing(e)) { /** @type {HTMLElement} */ (e.target).blur(); return; }
    if (state.view === "detail") { e.preventDefault(); back(); }
    return;
  }
  if (typing(e)) return;
  const inQueue = state.view === "approvals" && state.tab !== "stats";
  switch (e.key) {
    case "a": e.preventDefault(); go("approvals"); break;
    case "?": e.preventDefault(); openShortcuts(); break;
    case "/":
      e.preventDefault();
      if (state.view !== "approvals" || state.tab === "stats") {
        state.view = "approvals";
        if (state.tab === "stats") state.tab = "pending";
        rerender().then(() => document.getElementById("f-search")?.focus());
      } else document.getElementById("f-search")?.focus();
      break;
    case "j": case "ArrowDown":
      if (inQueue) { e.preventDefault(); moveCursor(1); } else if (state.view === "detail" && e.key === "j") step(1);
      break;
    case "k": case "ArrowUp":
      if (inQueue) { e.preventDefault(); moveCursor(-1); } else if (state.view === "detail" && e.key === "k") step(-1);
      break;
    case "Enter": {
      const r = cursorRow();
      const target = /** @type {HTMLElement} */ (e.target);
      if (inQueue && r && !target.closest("button,input")) { e.preventDefault(); openDetail(r.id, state.cursor); }
      break;
    }
    case "x": if (inQueue) { e.preventDefault(); toggleCursorSelection(); } break;
    case "A":
      e.preventDefault();
      if (!settled()) { ignoredShortcut("Shift+A"); break; }
      if (state.view === "detail") decide("approve"); else if (inQueue) bulkDecide("approve");
      break;
    case "D":
      e.preventDefault();
      if (!settled()) { ignoredShortcut("Shift+D"); break; }
      if (state.view === "detail") decide("deny"); else if (inQueue) bulkDecide("deny");
      break;
    default: break;
  }
});

for (const b of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".nav-item"))) {
  b.addEventListener("click", () => go(b.dataset.view || "approvals"));
}

/** Starts the embedded demo server and shows its queue (welcome, Settings, the empty queue). */
async function startDemo() {
  try {
    await api.startDemo();
    await afterSettings();
  } catch (e) {
    toast(/** @type {any} */ (e).message, "error");
  }
}

async function afterSettings() {
  await refreshState();
  await go(state.app && state.app.configured ? "approvals" : "welcome");
}

async function boot() {
  initQueue({ openDetail, rerender, go, startDemo });
  initDetail({ back, afterDecision, open: (id) => openDetail(id), step, rerender });
  initSettings({ afterSettings, startDemo });
  initOutbox({ openDetail: (id) => openDetail(id), rerender });

  // Changes arrive as rows: only the named approvals are re-read and patched. The
  // listeners are registered together, beside the first reads (start-up is IPC-bound).
  const listening = Promise.all([
    on(EVENTS.approvalsChanged, (/** @type {{ids: string[]|null, facets: import("./types").Facets|null}} */ p) => {
      if (p.facets) { state.facets = p.facets; paintFacets(); }
      if (state.view === "approvals" && state.tab !== "stats") {
        applyChanges(p.ids).catch((e) => toast(e.message, "error"));
      } else if (state.view === "detail") {
        const id = openId();
        if (id && (p.ids === null || p.ids.includes(id))) refreshOpenDetail(id);
        if (state.detailId && !id && (p.ids === null || p.ids.includes(state.detailId))) rerender();
      }
    }),
    on(EVENTS.status, (/** @type {import("./types").Status} */ st) => {
      if (state.app) { state.app.status = st; paintBanner(); }
    }),
    on(EVENTS.outboxChanged, () => { if (state.view === "outbox") rerender(); }),
    on(EVENTS.openApproval, (/** @type {{id: string}} */ p) => { if (p && p.id) openDetail(p.id); }),
    on(EVENTS.linkError, (/** @type {{message: string}} */ p) => toast(p.message, "error")),
    on(EVENTS.state, (/** @type {import("./types").AppState} */ s) => { state.app = s; paintBanner(); }),
  ]);

  // The first screen needs the status and the filter values: ask for both at once.
  const [facets] = await Promise.all([
    api.facets().catch((e) => { toast(e.message, "error"); return state.facets; }),
    refreshState(),
    listening,
  ]);
  state.facets = facets;
  state.view = state.app && state.app.configured ? "approvals" : "welcome";
  await rerender();
  document.body.dataset.ready = "true";
  // Now a link that started the app (or came in meanwhile) can be shown.
  api.linkUiReady().catch(() => {});
  // "Last synced 3m ago" and the rows' ages change with the clock: repaint them from
  // memory once a minute, only while the window is visible (nothing is re-read).
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let minute;
  const everyMinute = () => {
    clearTimeout(minute);
    if (document.hidden) return;
    resumeDetail();
    paintBanner();
    if (state.view === "approvals" && state.tab !== "stats") paintAges();
    minute = setTimeout(everyMinute, 60_000 - (Date.now() % 60_000) + 50);
  };
  document.addEventListener("visibilitychange", everyMinute);
  everyMinute();
}

boot();
