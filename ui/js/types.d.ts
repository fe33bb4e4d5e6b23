// Generated from the Rust types by ts-rs (src-tauri/src/bindings.rs). Do not edit:
// change the Rust type, then run `make bindings`. `make lint` fails when this is stale.
// Times are RFC 3339 strings in UTC; 64-bit integers arrive as JSON numbers.

/**
 * The agent that raised the request, as the policy engine identified it.
 */
export type AgentRef = { 
/**
 * Stable identifier, e.g. `deployment-bot`.
 */
id: string, 
/**
 * Display name, e.g. `Deployment Bot`.
 */
name: string | null, 
/**
 * Version string, e.g. `v2.1.0`.
 */
version: string | null, };

/**
 * An approval request, everything the detail view shows.
 */
export type Approval = { 
/**
 * `appr-` followed by 1 to 64 of `[a-z0-9_-]`.
 */
id: string, org_id: string, agent: AgentRef, 
/**
 * e.g. `kubernetes:deploy`.
 */
action: string, 
/**
 * One line for the queue, e.g. `Deploy app:v2.0.0 to production namespace`.
 */
summary: string, status: ApprovalStatus, 
/**
 * e.g. `REQUIRES_APPROVAL`, `AMOUNT_THRESHOLD`, `NEW_COUNTERPARTY`.
 */
reason_code: string, reason_text: string, 
/**
 * Request parameters, arbitrary JSON as the agent sent them.
 */
params: JsonValue, policy_trace: Array<TraceStep>, risk: RiskSnapshot, created_at: string, expires_at: string, 
/**
 * Identity under which the request was raised (the agent token's subject).
 */
requested_by: string, decision: Decision | null, execution: ExecutionResult | null, 
/**
 * Monotonic per server; bumped on every change to this approval.
 */
change_seq: number, };

/**
 * Everything the detail view shows, from the cache.
 */
export type ApprovalDetail = { 
/**
 * The approval as the server last sent it.
 */
approval: Approval, 
/**
 * See [`QueueItem::status`].
 */
status: ApprovalStatus, locally_expired: boolean, 
/**
 * The latest decision this device made on it (queued, sending, applied, rejected or expired).
 */
local_decision: OutboxEntry | null, audit: AuditTrail | null, audit_fetched_at: string | null, };

export type ApprovalStatus = "pending" | "approved" | "denied" | "expired";

/**
 * One entry of the append-only, hash-chained audit trail.
 */
export type AuditEntry = { 
/**
 * Position in the server-wide chain.
 */
seq: number, approval_id: string, event: AuditEvent, 
/**
 * Who caused it: an approver, an agent, or `system` for expiry.
 */
actor: string, at: string, notes: string | null, reason: string | null, 
/**
 * Event-specific data (e.g. the execution result).
 */
data: JsonValue, 
/**
 * Hex SHA-256 of the previous entry (all zeros for the first).
 */
prev_hash: string, 
/**
 * Hex SHA-256 over this entry's canonical fields and `prev_hash`.
 */
hash: string, };

export type AuditEvent = "created" | "approved" | "denied" | "expired" | "executed";

export type AuditTrail = { approval_id: string, entries: Array<AuditEntry>, };

/**
 * Driven only by real connection outcomes.
 */
export type ConnState = { "state": "not_configured" } | { "state": "syncing" } | { "state": "online" } | { "state": "offline", since: string, last_error: string, } | { "state": "unauthorized", message: string, };

/**
 * Who decided, when, and why.
 */
export type Decision = { kind: DecisionKind, 
/**
 * Identity of the approver (the token's subject), e.g. `alice@demo`.
 */
by: string, at: string, notes: string | null, 
/**
 * Required for a deny, absent for an approve.
 */
reason: string | null, };

export type DecisionKind = "approve" | "deny";

/**
 * What changed, for subscribers (GUI windows, tray, notification shell).
 */
export type EngineEvent = { "type": "approvals_changed", ids: Array<string>, } | { "type": "connection_changed", state: ConnState, } | { "type": "outbox_changed" } | { "type": "synced", at: string, };

export type ExecutionOutcome = "succeeded" | "failed";

/**
 * What the agent reported after executing an approved action.
 */
export type ExecutionResult = { outcome: ExecutionOutcome, output: JsonValue, recorded_at: string, };

/**
 * Distinct values for the filter dropdowns.
 */
export type Facets = { agents: Array<string>, actions: Array<string>, reasons: Array<string>, };

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null;

export type OutboxEntry = { seq: number, approval_id: string, kind: DecisionKind, notes: string | null, reason: string | null, 
/**
 * Shared by the rows of one bulk decision.
 */
batch_id: string | null, 
/**
 * When the approver decided (not when it was sent).
 */
decided_at: string, idempotency_key: string, attempts: number, next_attempt_at: string, last_error: string | null, state: OutboxState, 
/**
 * The approval as the server reported it when it answered (applied or rejected).
 */
server_approval: Approval | null, finished_at: string | null, 
/**
 * When the approver acknowledged this failed decision; kept, never deleted.
 */
dismissed_at: string | null, };

export type OutboxState = "queued" | "sending" | "applied" | "rejected" | "expired";

/**
 * A decision of this device that has not reached the server yet.
 */
export type PendingDecision = { kind: DecisionKind, state: OutboxState, decided_at: string, };

/**
 * One line of the queue.
 */
export type QueueItem = { id: string, 
/**
 * What the user should see: server status, or the optimistic result of a queued
 * decision, or `expired` once `expires_at` passed locally.
 */
status: ApprovalStatus, 
/**
 * Pending on the server side but past `expires_at` on this clock.
 */
locally_expired: boolean, agent: string, agent_name: string | null, action: string, reason_code: string, summary: string, created_at: string, expires_at: string, pending_decision: PendingDecision | null, };

export type QueuePage = { items: Array<QueueItem>, 
/**
 * Matches over all pages.
 */
total: number, };

/**
 * Filters of the queue view. All optional; `limit` 0 means the default (100).
 */
export type QueueQuery = { status: ApprovalStatus | null, agent: string | null, action: string | null, reason: string | null, 
/**
 * Created at or after.
 */
from: string | null, 
/**
 * Created before.
 */
to: string | null, 
/**
 * Free text, matched against summary, agent, action and params (prefix match per word).
 */
search: string | null, sort: SortOrder, limit: number, offset: number, };

/**
 * Result of queuing decisions.
 */
export type Queued = { entries: Array<OutboxEntry>, 
/**
 * Ids not queued, with the reason (already decided, expired, unknown, ...).
 */
skipped: Array<[string, string]>, };

/**
 * What the engine knew about risk when it escalated. Budget is the part the
 * document shows (`Budget: 12/50 actions (24%)`); anything else the engine sent is
 * kept in `extra` and shown as-is.
 */
export type RiskSnapshot = { budget_used?: number | null, budget_limit?: number | null, 
/**
 * Unit of the budget, e.g. `actions`.
 */
budget_unit?: string | null, } & ({ [key in string]: number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null });

export type Role = "approver" | "agent";

export type Settings = { 
/**
 * Base URL of the server, e.g. `https://countersign.example.com`.
 */
server_url: string | null, org: string | null, 
/**
 * Identity the token belongs to, as `/api/v1/me` reported at login.
 */
subject: string | null, 
/**
 * Pending approvals expiring within this many seconds are "expiring soon".
 */
expiring_soon_secs: number, notifications_enabled: boolean, };

export type SortOrder = "newest_first" | "oldest_first" | "expiring_first";

/**
 * `GET /approvals/stats?from=&to=`. Counts approvals created in `[from, to)`.
 */
export type Stats = { from: string | null, to: string | null, totals: StatusTotals, average_response_secs: number | null, by_agent: Array<StatsBucket>, by_reason: Array<StatsBucket>, };

/**
 * A row of a stats breakdown (by agent or by reason code).
 */
export type StatsBucket = { 
/**
 * Agent id or reason code.
 */
key: string, totals: StatusTotals, 
/**
 * Mean seconds from creation to decision, over decided approvals; `None` when none.
 */
average_response_secs: number | null, };

export type StatusTotals = { pending: number, approved: number, denied: number, expired: number, };

/**
 * A snapshot for status bars.
 */
export type SyncStatus = { conn: ConnState, last_synced: string | null, 
/**
 * Decisions still to deliver.
 */
outbox_pending: number, };

export type TraceResult = "pass" | "escalate" | "fail";

/**
 * One step of the policy engine's evaluation (`manifest_validation: pass`).
 */
export type TraceStep = { step: string, result: TraceResult, detail: string | null, };

/**
 * `GET /api/v1/me`: who the token belongs to.
 */
export type WhoAmI = { subject: string, org_id: string, role: Role, };
