// APPROVAL DETAIL: everything about one request, the checklist, and the decision form.
import { api } from "./api.js";
import { h, clear, toast, agentText } from "./dom.js";
import { state, expiringMinutes } from "./store.js";
import { GLYPH, STATUS_LABEL, absolute, agoLong, remaining, nextChange, serverNow, urgency, traceTally, budgetPercent } from "./format.js";
import { reasonCombobox } from "./reasons.js";
import { jsonTree } from "./tree.js";
import { offerUndo } from "./undo.js";
import { confirmDecision } from "./dialog.js";
import { isDecidable } from "./rules.js";
import { deskSlots, paintDesk } from "./desk.js";
import { unsettle } from "./settle.js";

/** @typedef {import("./types").ApprovalDetail} ApprovalDetail */
/** @typedef {import("./types").Approval} Approval */

const CHECKLIST = [
  ["Agent Identity", "Is this the expected agent?"],
  ["Action Scope", "Are the parameters reasonable?"],
  ["Timing", "Is this action expected now?"],
  ["Risk Level", "Check budget usage and recent activity"],
  ["Business Context", "Does this align with known activities?"],
];
const TRACE_GLYPH = { pass: "✓", escalate: "⚠", fail: "✗" };

/** @typedef {{back: () => void, afterDecision: (id: string) => Promise<void>, open: (id: string) => Promise<void>,
 *   step: (delta: number) => Promise<void>, rerender: () => Promise<void>}} DetailHooks */
/** @type {DetailHooks | null} */
let hooks = null;
/** @type {ReturnType<typeof setTimeout>|undefined} */
let ticker;
/** @type {ApprovalDetail|null} */
let current = null;
/** @type {{notes: HTMLTextAreaElement, reason: HTMLInputElement, approve: HTMLElement, deny: HTMLButtonElement, hint: HTMLElement} | null} */
let form = null;
/** The open detail's countdown step, to resume it when the window shows again. @type {(() => void) | null} */
let restartTicker = null;
/** Parts of the page that change in place when the approval changes. */
/** @type {{pill: HTMLElement, local: HTMLElement, status: HTMLElement, history: HTMLElement, decision: HTMLElement, quorum: HTMLElement, sig?: string, desk: import("./desk.js").DeskSlots} | null} */
let live = null;

/** @param {HTMLElement} el @param {string} text */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** @param {DetailHooks} h_ */
export function initDetail(h_) {
  hooks = h_;
}

export function stopDetail() {
  clearTimeout(ticker);
  ticker = undefined;
  restartTicker = null;
  current = null;
  form = null;
  live = null;
}

/** Restarts the countdowns after the window was hidden. */
export function resumeDetail() {
  if (current && live && ticker === undefined && restartTicker) restartTicker();
}

/** The approval the detail shows, if open. */
export function openId() {
  return current ? current.approval.id : null;
}

/** @param {string} title @param {...any} body */
function section(title, ...body) {
  const id = `sec-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id },
    h("h2", { class: "card-title", id }, title), ...body);
}

/** @param {HTMLElement} root @param {string} id */
export async function renderDetail(root, id) {
  // Another approval than the one on screen (or none, from another view) restarts the
  // decision shortcuts' guard; a repaint of the same one does not.
  const changed = !current || current.approval.id !== id;
  stopDetail();
  /** @type {ApprovalDetail} */
  let data;
  try {
    data = await api.approvalDetail(id);
  } catch (e) {
    const err = /** @type {any} */ (e);
    const waiting = err.code === "not_found" && state.app && state.app.configured;
    root.append(h("div", { class: "empty", id: "detail-missing", dataset: { id } },
      h("p", null, waiting ? `Fetching ${id} from the server…` : `Could not open ${id}: ${err.message}`),
      h("button", { type: "button", class: "btn", onclick: () => hooks?.back() }, "← Back to approvals")));
    return;
  }
  current = data;
  const a = data.approval;

  const pos = state.detailIndex;
  const total = state.win.total;
  const nav = h("div", { class: "detail-nav" },
    h("button", { type: "button", class: "btn btn-ghost btn-small", id: "prev-item", "aria-label": "Previous approval (k)",
      disabled: pos === null || pos <= 0, onclick: () => hooks?.step(-1) }, "↑"),
    h("span", { class: "muted", id: "detail-position" }, pos !== null ? `${pos + 1} of ${total}` : ""),
    h("button", { type: "button", class: "btn btn-ghost btn-small", id: "next-item", "aria-label": "Next approval (j)",
      disabled: pos === null || pos >= total - 1, onclick: () => hooks?.step(1) }, "↓"));

  const pill = h("span", { id: "detail-status" });
  const local = h("span", { id: "detail-local-slot" });
  const countdown = h("span", { class: "strip-item", id: "strip-countdown" });
  root.append(headerView(a, pill, local, nav), stripView(data, countdown));

  const agentLabel = [a.agent.name, a.agent.version].filter(Boolean).join(" ");
  const expiresRel = h("span", { class: "muted", id: "expires-remaining" });
  const createdRel = h("span", { class: "muted", id: "created-relative" });
  const statusDd = h("dd", { id: "detail-status-text" });
  const meta = h("dl", { class: "meta", id: "detail-meta" },
    h("dt", null, "Agent"), h("dd", { id: "detail-agent" }, agentText(a.agent.id), agentLabel ? h("span", { class: "muted" }, " (", agentText(agentLabel), ")") : null),
    h("dt", null, "Action"), h("dd", null, h("code", { id: "detail-action" }, agentText(a.action))),
    h("dt", null, "Status"), statusDd,
    h("dt", null, "Created"), h("dd", null, h("time", { datetime: a.created_at }, absolute(a.created_at)), " ", createdRel),
    h("dt", null, "Expires"), h("dd", null, h("time", { datetime: a.expires_at }, absolute(a.expires_at)), " ", expiresRel),
    h("dt", null, "Requested by"), h("dd", null, agentText(a.requested_by)));

  const reason = section("Reason", h("div", { class: "reason-box", id: "detail-reason" },
    // Servers often repeat the code at the start of the text; show it once.
    a.reason_text.startsWith(a.reason_code) ? null : h("strong", null, agentText(a.reason_code), ": "), agentText(a.reason_text)));
  const params = section("Request parameters", paramsView(a.params));
  const trace = section("Policy trace", traceView(a.policy_trace || []));
  const risk = section("Risk snapshot", riskView(a.risk || {}));
  const checklist = section("Approval checklist",
    h("p", { class: "muted small" }, "Before approving, verify:"),
    h("ul", { class: "checklist", id: "detail-checklist", role: "list" }, CHECKLIST.map(([name, q], i) =>
      h("li", null, h("label", null, h("input", { type: "checkbox", id: `check-${i}` }),
        h("strong", null, name), h("span", { class: "muted" }, ` — ${q}`))))));
  const history = h("div", { id: "detail-history-slot" });
  const quorum = h("div", { id: "detail-quorum-slot" });
  const decision = h("div", { id: "decision-slot" });

  const desk = deskSlots();
  const left = h("div", { class: "detail-main" }, section("Overview", meta), desk.outcome, reason, params, desk.diff,
    trace, risk, desk.activity, section("History", history));
  const right = h("aside", { class: "detail-side", "aria-label": "Decision" }, checklist, quorum, decision);
  root.append(h("div", { class: "detail" }, left, right));
  live = { pill, local, status: statusDd, history, decision, quorum, desk };
  paintLive(data, true);

  // Countdowns repaint when their text changes, not on a fixed beat.
  const tick = () => {
    // Hidden in the tray: nothing to repaint; `visibilitychange` in main.js re-renders.
    if (document.hidden) { ticker = undefined; return; }
    const now = serverNow();
    setText(expiresRel, `(${remaining(a.expires_at, now)})`);
    paintCountdown(countdown, a.expires_at, now);
    setText(createdRel, `(${agoLong(a.created_at, now)})`);
    ticker = setTimeout(tick, Math.min(nextChange(a.expires_at, "remaining", now), nextChange(a.created_at, "ago", now)));
  };
  restartTicker = tick;
  tick();
  if (changed) unsettle();
}

/**
 * The headline: the request's summary as the page's heading (focused on open), the id
 * and the status beside it.
 * @param {Approval} a @param {HTMLElement} pill @param {HTMLElement} local @param {HTMLElement} nav
 */
function headerView(a, pill, local, nav) {
  return h("header", { class: "view-head detail-head" },
    h("button", { type: "button", class: "btn btn-ghost", id: "back", "aria-label": "Back to approvals (Esc)",
      onclick: () => hooks?.back() }, "← Approvals"),
    h("div", { class: "detail-titles" },
      h("h1", { class: "view-title detail-summary", id: "detail-heading", tabindex: "-1" }, agentText(a.summary || a.id)),
      h("div", { class: "detail-sub" }, h("code", { id: "detail-id", class: "muted" }, a.id), pill, local)),
    nav);
}

/**
 * Under the headline: the countdown (coloured as in the queue), the budget used, the
 * trace tally and the risk chips.
 * @param {ApprovalDetail} data @param {HTMLElement} countdown
 */
function stripView(data, countdown) {
  const a = data.approval;
  const pct = budgetPercent(a.risk);
  const tally = traceTally(a.policy_trace);
  return h("div", { class: "detail-strip", id: "detail-strip", role: "group", "aria-label": "At a glance" },
    countdown,
    pct === null ? null : h("span", { class: `strip-item${pct >= 90 ? " strip-danger" : pct >= 70 ? " strip-warn" : ""}`, id: "strip-budget" },
      `Budget ${pct}%`),
    tally ? h("span", { class: "strip-item", id: "strip-trace" }, tally) : null,
    (data.risks || []).map((c) => h("span", { class: `chip chip-risk risk-${c.kind}` }, c.label)));
}

/** @param {HTMLElement} el @param {string} expiresAt @param {number} now */
function paintCountdown(el, expiresAt, now) {
  const u = urgency(expiresAt, expiringMinutes(), now);
  const cls = `strip-item exp-${u || "calm"}`;
  if (el.className !== cls) el.className = cls;
  setText(el, u === "expired" ? remaining(expiresAt, now) : `Expires: ${remaining(expiresAt, now)}`);
}

/** @param {unknown} params */
function paramsView(params) {
  const empty = params === null || params === undefined
    || (typeof params === "object" && Object.keys(/** @type {object} */ (params)).length === 0);
  if (empty) return h("p", { class: "muted", id: "detail-params" }, "No parameters.");
  return jsonTree(params, { id: "detail-params", label: "Request parameters" });
}

/** Failing and escalating steps always show; passing ones fold away when there are many. */
const PASSES_SHOWN = 3;

/** @param {import("./types").TraceStep[]} steps */
function traceView(steps) {
  if (!steps.length) return h("p", { class: "muted", id: "detail-trace" }, "No policy trace was recorded.");
  const stepItem = (/** @type {import("./types").TraceStep} */ t) => h("li", { class: `trace-step trace-${t.result}` },
    h("span", { class: "trace-glyph", "aria-hidden": "true" }, TRACE_GLYPH[/** @type {keyof typeof TRACE_GLYPH} */ (t.result)] || "•"),
    h("code", null, agentText(t.step)), h("span", null, `: ${t.result}`),
    t.detail ? h("span", { class: "muted" }, " (", agentText(t.detail), ")") : null);
  const passes = steps.filter((t) => t.result === "pass");
  if (passes.length <= PASSES_SHOWN) {
    return h("ul", { class: "trace", id: "detail-trace", role: "list" }, steps.map(stepItem));
  }
  return h("ul", { class: "trace", id: "detail-trace", role: "list" },
    steps.filter((t) => t.result !== "pass").map(stepItem),
    h("li", { class: "trace-passes" }, h("details", { id: "trace-passes" },
      h("summary", null, `${passes.length} passing steps`),
      h("ul", { class: "trace", role: "list" }, passes.map(stepItem)))));
}

/**
 * Paints the parts that change after the page was built: status, this device's decision,
 * the history and the decision panel. A form the approver is using stays as it is (with
 * what they typed) while the approval is still decidable; otherwise it is replaced by
 * what happened ("bob denied at …", "Expired at …").
 * @param {ApprovalDetail} data @param {boolean} first
 */
function paintLive(data, first) {
  if (!live) return;
  const a = data.approval;
  const st = data.status;
  paintDesk(live.desk, data, (id) => hooks?.open(id));
  const label = data.waiting_for_others ? `${GLYPH[st] || ""} Waiting for others` : `${GLYPH[st] || ""} ${STATUS_LABEL[st] || st}`;
  // Only what changed is touched: a repaint costs a tray app its rest.
  const sig = JSON.stringify([st, data.local_decision, data.local_explanation, data.gone_at,
    data.decided_by_you_elsewhere, data.audit, a.decision, isDecidable(data), a.approvals, data.waiting_for_others]);
  if (!first && live.sig === sig) return;
  live.sig = sig;
  live.pill.className = `pill pill-${st}`;
  setText(live.pill, label);
  setText(live.status, label);
  clear(live.local);
  const ld = data.local_decision;
  if (ld && ld.state !== "applied") {
    const queued = ld.state === "queued" || ld.state === "sending";
    live.local.append(h("span", { class: `chip chip-${queued ? "queued" : "rejected"}`, id: "detail-local" },
      queued ? `Queued ${ld.kind} — waiting to reach the server` : `Not applied: ${data.local_explanation || "refused by the server"}`));
  }
  if (data.gone_at) {
    live.local.append(h("span", { class: "chip chip-rejected", id: "detail-gone" },
      `No longer on the server (since ${absolute(data.gone_at)}); kept here because you decided on it`));
  } else if (data.decided_by_you_elsewhere) {
    live.local.append(h("span", { class: "chip chip-queued", id: "detail-elsewhere" }, "Decided by you on another device"));
  }
  clear(live.history).append(auditView(data.audit ? data.audit.entries : [], a));
  clear(live.quorum);
  if (a.required_approvals > 1) live.quorum.append(quorumView(a, data));
  const wasForm = !!form;
  const nowForm = isDecidable(data);
  if (first || wasForm !== nowForm || !nowForm) {
    clear(live.decision).append(decisionPanel(a, data, nowForm));
    if (!first && wasForm && !nowForm) {
      toast(`${a.id} changed: ${decidedLine(a, st)}`);
    }
  }
}

/** @param {Approval} a @param {import("./types").ApprovalStatus} st */
function decidedLine(a, st) {
  const d = a.decision;
  if (d) return `${d.by} ${d.kind === "approve" ? "approved" : "denied"} it at ${absolute(d.at)}`;
  if (st === "expired") return `expired at ${absolute(a.expires_at)}`;
  return STATUS_LABEL[st] || st;
}

/**
 * The open approval changed in the store (an event named it): re-read it from the cache and
 * patch the page in place.
 * @param {string} id
 */
export async function refreshOpenDetail(id) {
  if (!current || current.approval.id !== id) return;
  try {
    const data = await api.approvalDetail(id, false);
    if (!current || current.approval.id !== id) return;
    current = data;
    paintLive(data, false);
  } catch (e) {
    toast(/** @type {any} */ (e).message, "error");
  }
}

/** @param {import("./types").RiskSnapshot | Record<string, any>} r */
function riskView(r) {
  const parts = [];
  if (r.budget_limit !== undefined && r.budget_limit !== null) {
    const used = r.budget_used ?? 0;
    const pct = r.budget_limit > 0 ? Math.round((used / r.budget_limit) * 100) : 0;
    const bar = h("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(r.budget_limit),
      "aria-valuenow": String(used), "aria-label": "Budget used" }, h("div", { class: "bar-fill" }));
    /** @type {HTMLElement} */ (bar.firstChild).style.width = `${Math.min(100, pct)}%`;
    bar.classList.toggle("bar-warn", pct >= 70);
    bar.classList.toggle("bar-danger", pct >= 90);
    parts.push(h("div", { class: "budget", id: "detail-budget" },
      h("div", { class: "budget-line" }, h("span", null, "Budget: "),
        h("strong", null, `${used}/${r.budget_limit} ${r.budget_unit || ""}`.trim()), h("span", { class: "muted" }, ` (${pct}%)`)),
      bar));
  }
  const extra = Object.entries(r).filter(([k]) => !["budget_used", "budget_limit", "budget_unit"].includes(k));
  if (extra.length) {
    parts.push(h("dl", { class: "meta meta-compact", id: "detail-risk-extra" }, extra.flatMap(([k, v]) => [
      h("dt", null, k.replace(/_/g, " ")),
      h("dd", null, v !== null && typeof v === "object" ? jsonTree(v, { label: k.replace(/_/g, " ") }) : agentText(String(v))),
    ])));
  }
  if (!parts.length) parts.push(h("p", { class: "muted" }, "No risk data was recorded."));
  return parts;
}

/**
 * Quorum: "1 of 2 approvals — bob ✓ 10:02", each approver's notes, and whether it waits
 * for others because I already approved. Names and notes are the server's text: as text.
 * @param {Approval} a @param {ApprovalDetail} data
 */
function quorumView(a, data) {
  const n = a.approvals.length;
  // My approve may still be on its way (queued here): count it as the server will.
  const me = state.app ? state.app.subject : null;
  const counted = n + (data.waiting_for_others && !a.approvals.some((v) => v.by === me) ? 1 : 0);
  return section("Approvals",
    h("p", { id: "detail-quorum" }, h("strong", null, `${n} of ${a.required_approvals} approvals`),
      ...a.approvals.flatMap((v, i) => [i ? ", " : " — ", h("bdi", null, v.by), ` ✓ ${shortTime(v.at)}`])),
    a.approvals.some((v) => v.notes)
      ? h("ul", { class: "quorum-notes", role: "list" }, a.approvals.filter((v) => v.notes).map((v) =>
        h("li", null, h("bdi", null, v.by), h("span", { class: "muted" }, ": "), h("bdi", null, v.notes || ""))))
      : null,
    data.waiting_for_others
      ? h("p", { class: "chip chip-queued", id: "detail-waiting" },
        `Waiting for others — you approved; ${Math.max(0, a.required_approvals - counted)} more needed`)
      : null);
}

/** "10:02" today, the full time otherwise. @param {string} t */
function shortTime(t) {
  const d = new Date(t);
  const sameDay = d.toDateString() === new Date(serverNow()).toDateString();
  return sameDay ? `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}` : absolute(t);
}

/** @param {import("./types").AuditEntry[]} entries @param {Approval} a */
function auditView(entries, a) {
  if (!entries.length) {
    return h("p", { class: "muted", id: "detail-history" },
      `Created ${absolute(a.created_at)} by `, h("bdi", null, a.requested_by), ".");
  }
  return h("ol", { class: "timeline", id: "detail-history" }, entries.map((e) =>
    h("li", { class: `tl-${e.event}` },
      h("div", { class: "tl-head" }, h("strong", null, e.event), h("span", null, " by ", h("bdi", null, e.actor)),
        h("time", { class: "muted", datetime: e.at }, ` · ${absolute(e.at)}`)),
      e.reason ? h("div", null, h("span", { class: "muted" }, "Reason: "), h("bdi", null, e.reason)) : null,
      e.notes ? h("div", null, h("span", { class: "muted" }, "Notes: "), h("bdi", null, e.notes)) : null,
      signedLine(e))));
}

/**
 * "signed on <device>" or "unsigned" under a decision entry: the server records the
 * receipt and the signing device's name in the entry's data (entries from before
 * receipts existed carry none, so they read as unsigned too).
 * @param {import("./types").AuditEntry} e
 */
function signedLine(e) {
  if (e.event !== "approved" && e.event !== "denied") return null;
  const data = e.data !== null && typeof e.data === "object" && !Array.isArray(e.data)
    ? /** @type {{ [key: string]: unknown }} */ (e.data) : null;
  const device = data && data.receipt && typeof data.device === "string" ? data.device : null;
  return device
    ? h("div", { class: "muted tl-signed" }, "signed on ", h("bdi", null, device))
    : h("div", { class: "muted tl-signed tl-unsigned" }, "unsigned");
}

/** @param {Approval} a @param {ApprovalDetail} data @param {boolean} decidable */
function decisionPanel(a, data, decidable) {
  if (!decidable) {
    form = null;
    const d = a.decision;
    /** @type {HTMLElement[]} */
    const body = [];
    const ld = data.local_decision;
    if (ld && (ld.state === "queued" || ld.state === "sending")) {
      body.push(h("p", { class: "queued-note" }, `Your ${ld.kind} is queued and will be delivered when the server is reachable.`));
    }
    if (d && data.status !== "pending") {
      body.push(h("p", { id: "decided-line" }, h("strong", null, h("bdi", null, d.by), ` ${d.kind === "approve" ? "approved" : "denied"}`),
        ` at ${absolute(d.at)}`, d.reason ? ": " : "", d.reason ? h("q", null, h("bdi", null, d.reason)) : null));
      if (d.notes) body.push(h("p", null, h("span", { class: "muted" }, "Notes: "), h("bdi", null, d.notes)));
    } else if (data.status === "expired") {
      body.push(h("p", { id: "decided-line" }, `Expired at ${absolute(a.expires_at)}. Nobody decided; the action was not executed.`));
    }
    return section("Decision", h("div", { id: "decision-done" }, body));
  }
  const notes = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: "notes", class: "input", rows: "4", maxlength: "4000",
    placeholder: "Optional notes for the audit trail", "aria-label": "Notes" }));
  const reason = /** @type {HTMLInputElement} */ (h("input", { type: "text", id: "deny-reason", class: "input", maxlength: "1000",
    placeholder: "Required to deny — ↓ for recent and common reasons", "aria-label": "Deny reason", "aria-describedby": "deny-hint" }));
  const hint = h("p", { class: "hint", id: "deny-hint" }, "A reason is required to deny.");
  const deny = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "btn btn-danger", id: "deny", "aria-keyshortcuts": "Shift+D",
    onclick: () => decide("deny") }, "Deny"));
  const approve = h("button", { type: "button", class: "btn btn-primary", id: "approve", "aria-keyshortcuts": "Shift+A",
    onclick: () => decide("approve") }, "Approve");
  form = { notes, reason, approve, deny, hint };
  const sync = () => {
    const missing = !reason.value.trim();
    deny.disabled = missing;
    deny.textContent = missing ? "Deny — reason required" : "Deny";
    deny.title = missing ? "Enter a reason to deny" : "Deny (Shift+D)";
    hint.hidden = !missing;
  };
  reason.addEventListener("input", sync);
  sync();
  return section("Decision",
    h("label", { class: "field" }, h("span", { class: "field-label" }, "Notes"), notes),
    h("label", { class: "field" }, h("span", { class: "field-label" }, "Reason (for deny)"), reasonCombobox(reason)),
    hint,
    h("div", { class: "decide-actions" }, deny, approve),
    h("p", { class: "muted small kbd-hints" }, h("kbd", null, "⇧A"), " approve · ", h("kbd", null, "⇧D"), " deny · ",
      h("kbd", null, "Ctrl+Enter"), " submit · ", h("kbd", null, "j"), "/", h("kbd", null, "k"), " next/previous · ",
      h("kbd", null, "Esc"), " back · ", h("kbd", null, "?"), " all shortcuts"));
}

/** Approve or deny the open approval, always through the confirmation dialog. */
/** @param {"approve"|"deny"} kind */
export async function decide(kind) {
  if (!current || !form || !isDecidable(current)) return;
  const a = current.approval;
  if (kind === "deny" && !form.reason.value.trim()) {
    form.reason.focus();
    toast("A reason is required to deny.", "error");
    return;
  }
  const unticked = [...document.querySelectorAll("#detail-checklist input[type=checkbox]")]
    .filter((c) => !(/** @type {HTMLInputElement} */ (c).checked)).length;
  /** @type {string[]} */
  const warnings = (current.risks || []).filter((c) => c.kind !== "escalated").map((c) => c.label);
  if (kind === "approve" && unticked) warnings.push(`${unticked} checklist item${unticked === 1 ? "" : "s"} not ticked`);
  const answer = await confirmDecision({
    title: `${kind === "deny" ? "Deny" : "Approve"} ${a.id}?`,
    kind, ids: [a.id], summary: a.summary, warnings,
    offline: !!(state.app && state.app.status.conn.state === "offline"),
    reason: kind === "deny" ? form.reason.value.trim() : null,
    notes: form.notes.value.trim() || null,
  });
  if (!answer) return;
  try {
    const res = await api.decide([a.id], kind, kind === "deny" ? answer.reason : null, answer.notes);
    if (res.skipped.length) {
      toast(`${a.id} was not decided: ${res.skipped[0][1]}`, "error");
      return;
    }
    // On to the next approval first, so an Undo (which reopens this one) comes after.
    await hooks?.afterDecision(a.id);
    offerUndo(res.entries, `${kind === "deny" ? "Denied" : "Approved"} ${a.id}`, () => { hooks?.open(a.id); });
  } catch (e) {
    toast(/** @type {any} */ (e).message, "error");
  }
}
