// Times and numbers the way the document shows them ("2h ago", "22 hours remaining").

/** @typedef {import("./types").ApprovalStatus} ApprovalStatus */
/** A time as serde writes it (RFC 3339), or a Date; anything else renders as "". */
/** @typedef {string | Date | null | undefined} Time */

/** @type {Record<ApprovalStatus, string>} */
export const GLYPH = { pending: "⏳", approved: "✓", denied: "✗", expired: "⌛" };
/** @type {Record<ApprovalStatus, string>} */
export const STATUS_LABEL = { pending: "Pending", approved: "Approved", denied: "Denied", expired: "Expired" };

/**
 * @param {Time} t
 * @returns {Date | null}
 */
function parse(t) {
  if (t === null || t === undefined) return null;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Server time minus this device's clock (ms): the approvals' times are the server's. */
let clockOffset = 0;

/** Sets the offset measured by the sync engine (`SyncStatus.clock_offset_ms`). @param {number|null|undefined} ms */
export function setClockOffset(ms) {
  clockOffset = typeof ms === "number" && Number.isFinite(ms) ? ms : 0;
}

/** "Now" on the server's clock, so a laptop clock that is off neither hides a valid
 * approval as expired nor shows an expired one as pending. */
export function serverNow() {
  return Date.now() + clockOffset;
}

/**
 * "5m ago", "2h ago", "3d ago" (queue rows).
 * @param {Time} t
 * @param {number} [now] epoch ms
 */
export function ago(t, now = serverNow()) {
  const d = parse(t);
  if (!d) return "";
  const s = Math.max(0, Math.round((now - d.getTime()) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m ago`;
  const hrs = Math.round(s / 3600);
  if (hrs < 24) return `${hrs}h ago`;
  const days = Math.round(s / 86400);
  if (days < 60) return `${days}d ago`;
  return d.toLocaleDateString();
}

/**
 * @param {number} n
 * @param {string} unit
 */
function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/**
 * "2 hours ago" (long form for the detail view).
 * @param {Time} t
 * @param {number} [now] epoch ms
 */
export function agoLong(t, now = serverNow()) {
  const d = parse(t);
  if (!d) return "";
  const s = Math.max(0, Math.round((now - d.getTime()) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${plural(Math.floor(s / 60), "minute")} ago`;
  if (s < 86400) return `${plural(Math.floor(s / 3600), "hour")} ago`;
  return `${plural(Math.floor(s / 86400), "day")} ago`;
}

/**
 * "2 days 3h remaining", "22h 05m remaining", "4m remaining", "40s remaining",
 * "expired 3 hours ago". Seconds only in the last minute: a countdown is repainted
 * only when its text changes (see `nextChange`), and a tray app must idle at ~0 %.
 * @param {Time} t
 * @param {number} [now] epoch ms
 */
export function remaining(t, now = serverNow()) {
  const d = parse(t);
  if (!d) return "";
  const s = Math.floor((d.getTime() - now) / 1000);
  if (s <= 0) return `expired ${agoLong(d, now)}`;
  if (s < 60) return `${s}s remaining`;
  if (s < 3600) return `${Math.floor(s / 60)}m remaining`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m remaining`;
  return `${plural(Math.floor(s / 86400), "day")} ${Math.floor((s % 86400) / 3600)}h remaining`;
}

/**
 * Milliseconds until `remaining(t)` or `agoLong(t)` next shows a different text, so
 * a view wakes exactly when something visible changes (at most about once a second).
 * @param {Time} t @param {"remaining"|"ago"} kind @param {number} [now]
 */
export function nextChange(t, kind, now = serverNow()) {
  const d = parse(t);
  if (!d) return 3600_000;
  const left = d.getTime() - now;
  let ms;
  let unit;
  if (kind === "remaining" && left > 0) {
    const s = left / 1000;
    unit = s <= 60 ? 1000 : s <= 86400 ? 60_000 : 3_600_000;
    ms = left % unit;
  } else {
    const age = Math.abs(left);
    const s = age / 1000;
    unit = s < 3600 ? 60_000 : s < 86400 ? 3_600_000 : 86_400_000;
    ms = unit - (age % unit);
  }
  return Math.max(250, (ms || unit) + 20);
}

/**
 * "2024-12-14 10:00:00" in local time.
 * @param {Time} t
 */
export function absolute(t) {
  const d = parse(t);
  if (!d) return "";
  const p = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * "42s", "3m 5s", "2h 10m", "1d 4h"; a dash when unknown.
 * @param {number | null | undefined} secs
 */
export function duration(secs) {
  if (secs === null || secs === undefined) return "—";
  const s = Math.round(secs);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/**
 * A `<input type=date>` value (local day) as the RFC 3339 start of that day.
 * @param {string} value
 * @returns {string | null}
 */
export function dayStart(value) {
  if (!value) return null;
  const d = new Date(`${value}T00:00:00`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/**
 * The day after a `<input type=date>` value, so "to" includes the whole day.
 * @param {string} value
 * @returns {string | null}
 */
export function dayEnd(value) {
  if (!value) return null;
  const d = new Date(`${value}T00:00:00`);
  if (Number.isNaN(d.getTime())) return null;
  d.setDate(d.getDate() + 1);
  return d.toISOString();
}

/**
 * A Date as a `<input type=date>` value (local day).
 * @param {Date} d
 */
export function isoDay(d) {
  const p = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * How urgent an expiry is, one rule for the queue column and the detail's countdown:
 * "red" inside a quarter of the expiring-soon threshold, "amber" inside the threshold,
 * "expired" once past, "" otherwise. The threshold is the approver's setting.
 * @param {Time} t expires_at
 * @param {number} thresholdMinutes `Settings.expiring_soon_minutes`
 * @param {number} [now] epoch ms
 * @returns {""|"amber"|"red"|"expired"}
 */
export function urgency(t, thresholdMinutes, now = serverNow()) {
  const d = parse(t);
  if (!d) return "";
  const left = d.getTime() - now;
  if (left <= 0) return "expired";
  const soon = Math.max(1, Number(thresholdMinutes) || 60) * 60_000;
  if (left <= soon / 4) return "red";
  if (left <= soon) return "amber";
  return "";
}

/**
 * The queue's "expires in" column: "40s", "4m", "2h 05m", "3d 4h"; "expired".
 * @param {Time} t
 * @param {number} [now] epoch ms
 */
export function expiresIn(t, now = serverNow()) {
  const d = parse(t);
  if (!d) return "";
  const s = Math.floor((d.getTime() - now) / 1000);
  if (s <= 0) return "expired";
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/**
 * Characters that change how text looks without being seen: C0 and C1 controls (a tab
 * and a line break excepted), DEL, bidi embeddings/overrides/isolates and marks
 * (an RLO makes `gpj.exe` read as `exe.jpg`), zero-width spaces and joiners, the BOM.
 */
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/u;

/**
 * Splits agent text into plain runs and visible stand-ins for control characters
 * (`⟨U+202E⟩`), for rendering as text nodes with the controls in a muted chip.
 * @param {string|null|undefined} text
 * @returns {{text: string, control: boolean}[]}
 */
export function controlSegments(text) {
  /** @type {{text: string, control: boolean}[]} */
  const out = [];
  let run = "";
  for (const ch of String(text ?? "")) {
    if (CONTROL.test(ch)) {
      if (run) { out.push({ text: run, control: false }); run = ""; }
      const cp = /** @type {number} */ (ch.codePointAt(0));
      out.push({ text: `⟨U+${cp.toString(16).toUpperCase().padStart(4, "0")}⟩`, control: true });
    } else {
      run += ch;
    }
  }
  if (run || !out.length) out.push({ text: run, control: false });
  return out;
}

/**
 * "1 fail · 1 escalate · 3 pass" for a policy trace, most serious first; "" for none.
 * @param {{result: string}[]|null|undefined} trace
 */
export function traceTally(trace) {
  /** @type {Record<string, number>} */
  const n = { fail: 0, escalate: 0, pass: 0 };
  for (const s of trace || []) n[s.result] = (n[s.result] || 0) + 1;
  return ["fail", "escalate", "pass"].filter((k) => n[k]).map((k) => `${n[k]} ${k}`).join(" · ");
}

/**
 * The budget used as a whole percentage (as the core's `budget_percent`), or null.
 * @param {{budget_used?: number|null, budget_limit?: number|null}|null|undefined} risk
 */
export function budgetPercent(risk) {
  const used = risk?.budget_used;
  const limit = risk?.budget_limit;
  if (typeof used !== "number" || typeof limit !== "number" || limit <= 0) return null;
  return Math.floor((used * 100) / limit);
}

/**
 * What an empty queue says. "Nothing waiting" only when the server was reached: offline
 * it is only the cache, and without a server there is nothing to show yet.
 * @param {{configured: boolean, conn: string, filtered: boolean, pendingTab: boolean, lastSynced: string|null}} s
 * @returns {{glyph: string, text: string, signIn: boolean}}
 */
export function emptyQueue({ configured, conn, filtered, pendingTab, lastSynced }) {
  if (!configured) return { glyph: "∅", text: "Sign in to see approvals.", signIn: true };
  if (filtered || !pendingTab) return { glyph: "∅", text: "No approvals match these filters.", signIn: false };
  if (conn === "online" || conn === "syncing") return { glyph: "✓", text: "Nothing waiting for you.", signIn: false };
  const when = lastSynced ? ` (last synced ${absolute(lastSynced)})` : "";
  return { glyph: "∅", text: `Not connected — showing what was cached${when}: nothing pending.`, signIn: false };
}
