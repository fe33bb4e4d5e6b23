// APPROVAL DETAIL: everything about one request, the checklist, and the decision form.
import { api } from "./api.js";
import { h, clear, toast } from "./dom.js";
import { state } from "./store.js";
import { GLYPH, STATUS_LABEL, absolute, agoLong, remaining } from "./format.js";
import { confirmDecision } from "./dialog.js";

const CHECKLIST = [
  ["Agent Identity", "Is this the expected agent?"],
  ["Action Scope", "Are the parameters reasonable?"],
  ["Timing", "Is this action expected now?"],
  ["Risk Level", "Check budget usage and recent activity"],
  ["Business Context", "Does this align with known activities?"],
];
const TRACE_GLYPH = { pass: "✓", escalate: "⚠", fail: "✗" };

let hooks = null; // { back, afterDecision, rerender }
let ticker = null;
let current = null; // { approval, audit, local }
let form = null; // { notes, reason, approve, deny }

export function initDetail(h_) {
  hooks = h_;
}

export function stopDetail() {
  clearInterval(ticker);
  ticker = null;
  current = null;
  form = null;
}

function section(title, ...body) {
  const id = `sec-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id },
    h("h2", { class: "card-title", id }, title), ...body);
}

export async function renderDetail(root, id) {
  stopDetail();
  let data;
  try {
    data = await api.approvalDetail(id);
  } catch (e) {
    root.append(h("div", { class: "empty" }, h("p", null, `Could not open ${id}: ${e.message}`),
      h("button", { type: "button", class: "btn", onclick: hooks.back }, "← Back to approvals")));
    return;
  }
  current = data;
  const a = data.approval;
  const pendingHere = a.status === "pending" && !(data.local && data.local.state === "queued");

  const idx = state.rows.findIndex((r) => r.id === id);
  const nav = h("div", { class: "detail-nav" },
    h("button", { type: "button", class: "btn btn-ghost btn-small", id: "prev-item", "aria-label": "Previous approval (k)",
      disabled: idx <= 0, onclick: () => step(-1) }, "↑"),
    h("span", { class: "muted" }, idx >= 0 ? `${idx + 1} of ${state.rows.length}` : ""),
    h("button", { type: "button", class: "btn btn-ghost btn-small", id: "next-item", "aria-label": "Next approval (j)",
      disabled: idx < 0 || idx >= state.rows.length - 1, onclick: () => step(1) }, "↓"));

  root.append(h("header", { class: "view-head detail-head" },
    h("button", { type: "button", class: "btn btn-ghost", id: "back", "aria-label": "Back to approvals (Esc)",
      onclick: hooks.back }, "← Approvals"),
    h("h1", { class: "view-title" }, h("span", { class: "muted title-kicker" }, "Approval detail "), h("code", { id: "detail-id" }, a.id)),
    h("span", { class: `pill pill-${a.status}`, id: "detail-status" }, `${GLYPH[a.status] || ""} ${STATUS_LABEL[a.status] || a.status}`),
    data.local ? h("span", { class: `chip chip-${data.local.state}`, id: "detail-local" },
      data.local.state === "queued" ? `Queued ${data.local.kind} — waiting to reach the server`
        : `Rejected ${data.local.kind}: ${data.local.message || "refused by the server"}`) : null,
    nav));

  const agentLabel = [a.agent.name, a.agent.version].filter(Boolean).join(" ");
  const expiresRel = h("span", { class: "muted", id: "expires-remaining" }, `(${remaining(a.expires_at)})`);
  const createdRel = h("span", { class: "muted", id: "created-relative" }, `(${agoLong(a.created_at)})`);
  const meta = h("dl", { class: "meta", id: "detail-meta" },
    h("dt", null, "Agent"), h("dd", { id: "detail-agent" }, a.agent.id, agentLabel ? h("span", { class: "muted" }, ` (${agentLabel})`) : null),
    h("dt", null, "Action"), h("dd", null, h("code", { id: "detail-action" }, a.action)),
    h("dt", null, "Status"), h("dd", null, `${GLYPH[a.status] || ""} ${STATUS_LABEL[a.status] || a.status}`),
    h("dt", null, "Created"), h("dd", null, h("time", { datetime: a.created_at }, absolute(a.created_at)), " ", createdRel),
    h("dt", null, "Expires"), h("dd", null, h("time", { datetime: a.expires_at }, absolute(a.expires_at)), " ", expiresRel),
    h("dt", null, "Requested by"), h("dd", null, a.requested_by));

  const reason = section("Reason", h("div", { class: "reason-box", id: "detail-reason" },
    // Servers often repeat the code at the start of the text; show it once.
    a.reason_text.startsWith(a.reason_code) ? null : h("strong", null, `${a.reason_code}: `), a.reason_text));
  const params = section("Request parameters",
    h("pre", { class: "json", id: "detail-params", tabindex: "0", "aria-label": "Request parameters as JSON" },
      JSON.stringify(a.params ?? null, null, 2)));
  const trace = section("Policy trace", a.policy_trace && a.policy_trace.length
    ? h("ul", { class: "trace", id: "detail-trace", role: "list" }, a.policy_trace.map((t) =>
      h("li", { class: `trace-${t.result}` },
        h("span", { class: "trace-glyph", "aria-hidden": "true" }, TRACE_GLYPH[t.result] || "•"),
        h("code", null, t.step), h("span", null, `: ${t.result}`),
        t.detail ? h("span", { class: "muted" }, ` (${t.detail})`) : null)))
    : h("p", { class: "muted", id: "detail-trace" }, "No policy trace was recorded."));
  const risk = section("Risk snapshot", riskView(a.risk || {}));
  const checklist = section("Approval checklist",
    h("p", { class: "muted small" }, "Before approving, verify:"),
    h("ul", { class: "checklist", id: "detail-checklist", role: "list" }, CHECKLIST.map(([name, q], i) =>
      h("li", null, h("label", null, h("input", { type: "checkbox", id: `check-${i}` }),
        h("strong", null, name), h("span", { class: "muted" }, ` — ${q}`))))));
  const history = section("History", auditView(data.audit, a));

  const left = h("div", { class: "detail-main" }, section("Overview", meta), reason, params, trace, risk, history);
  const right = h("aside", { class: "detail-side", "aria-label": "Decision" }, checklist, decisionPanel(a, data, pendingHere));
  root.append(h("div", { class: "detail" }, left, right));

  ticker = setInterval(() => {
    expiresRel.textContent = `(${remaining(a.expires_at)})`;
    createdRel.textContent = `(${agoLong(a.created_at)})`;
  }, 1000);
}

function riskView(r) {
  const parts = [];
  if (r.budget_limit !== undefined && r.budget_limit !== null) {
    const used = r.budget_used ?? 0;
    const pct = r.budget_limit > 0 ? Math.round((used / r.budget_limit) * 100) : 0;
    const bar = h("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(r.budget_limit),
      "aria-valuenow": String(used), "aria-label": "Budget used" }, h("div", { class: "bar-fill" }));
    bar.firstChild.style.width = `${Math.min(100, pct)}%`;
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
      h("dd", null, typeof v === "object" ? JSON.stringify(v) : String(v)),
    ])));
  }
  if (!parts.length) parts.push(h("p", { class: "muted" }, "No risk data was recorded."));
  return parts;
}

function auditView(audit, a) {
  const entries = audit && audit.length ? audit : [];
  if (!entries.length) {
    return h("p", { class: "muted", id: "detail-history" },
      `Created ${absolute(a.created_at)} by ${a.requested_by}.`);
  }
  return h("ol", { class: "timeline", id: "detail-history" }, entries.map((e) =>
    h("li", { class: `tl-${e.event}` },
      h("div", { class: "tl-head" }, h("strong", null, e.event), h("span", null, ` by ${e.actor}`),
        h("time", { class: "muted", datetime: e.at }, ` · ${absolute(e.at)}`)),
      e.reason ? h("div", null, h("span", { class: "muted" }, "Reason: "), e.reason) : null,
      e.notes ? h("div", null, h("span", { class: "muted" }, "Notes: "), e.notes) : null)));
}

function decisionPanel(a, data, pendingHere) {
  if (!pendingHere) {
    const d = a.decision;
    const body = [];
    if (data.local && data.local.state === "queued") {
      body.push(h("p", { class: "queued-note" }, `Your ${data.local.kind} is queued and will be delivered when the server is reachable.`));
    }
    if (d) {
      body.push(h("p", null, h("strong", null, d.kind === "approve" ? "Approved" : "Denied"),
        ` by ${d.by} · ${absolute(d.at)}`));
      if (d.reason) body.push(h("p", null, h("span", { class: "muted" }, "Reason: "), d.reason));
      if (d.notes) body.push(h("p", null, h("span", { class: "muted" }, "Notes: "), d.notes));
    } else if (a.status === "expired") {
      body.push(h("p", null, "This request expired before anyone decided. The action was not executed."));
    }
    return section("Decision", h("div", { id: "decision-done" }, body));
  }
  const notes = h("textarea", { id: "notes", class: "input", rows: "4", maxlength: "4000",
    placeholder: "Optional notes for the audit trail", "aria-label": "Notes" });
  const reason = h("input", { type: "text", id: "deny-reason", class: "input", maxlength: "1000",
    placeholder: "Required to deny", "aria-label": "Deny reason", "aria-describedby": "deny-hint" });
  const hint = h("p", { class: "hint", id: "deny-hint" }, "A reason is required to deny.");
  const deny = h("button", { type: "button", class: "btn btn-danger", id: "deny", "aria-keyshortcuts": "Shift+D",
    onclick: () => decide("deny") }, "Deny");
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
    h("label", { class: "field" }, h("span", { class: "field-label" }, "Reason (for deny)"), reason),
    hint,
    h("div", { class: "decide-actions" }, deny, approve),
    h("p", { class: "muted small kbd-hints" }, h("kbd", null, "⇧A"), " approve · ", h("kbd", null, "⇧D"), " deny · ",
      h("kbd", null, "j"), "/", h("kbd", null, "k"), " next/previous · ", h("kbd", null, "Esc"), " back"));
}

function step(delta) {
  const idx = state.rows.findIndex((r) => current && r.id === current.approval.id);
  const next = state.rows[idx + delta];
  if (next) { state.cursor = idx + delta; hooks.open(next.id); }
}

export function detailStep(delta) {
  step(delta);
}

/** Approve or deny the open approval, always through the confirmation dialog. */
export async function decide(kind) {
  if (!current || !form) return;
  const a = current.approval;
  if (kind === "deny" && !form.reason.value.trim()) {
    form.reason.focus();
    toast("A reason is required to deny.", "error");
    return;
  }
  const answer = await confirmDecision({
    title: `${kind === "deny" ? "Deny" : "Approve"} ${a.id}?`,
    kind, ids: [a.id], summary: a.summary,
    reason: kind === "deny" ? form.reason.value.trim() : null,
    notes: form.notes.value.trim() || null,
  });
  if (!answer) return;
  try {
    await api.decide(a.id, kind, kind === "deny" ? answer.reason : null, answer.notes);
    toast(`${kind === "deny" ? "Denied" : "Approved"} ${a.id}`);
    await hooks.afterDecision(a.id);
  } catch (e) {
    toast(e.message, "error");
  }
}
