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

export type AppState = { configured: boolean, demo: boolean, server_url: string | null, org: string | null, subject: string | null, status: Status, notifications_paused: boolean, 
/**
 * The "expiring soon" threshold (Settings): the detail's countdown turns amber
 * within it, as the planner's reminder does.
 */
expiring_soon_secs: number, 
/**
 * Reached over plain http:// beyond this machine (the sign-in's explicit
 * override): the status bar says so for as long as it lasts.
 */
insecure_connection: boolean, };

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
 * e.g. `requires_approval`, `amount_threshold`, `new_counterparty`.
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
 * How many distinct approvers must approve before the approval is `approved`
 * (1 to [`MAX_REQUIRED_APPROVALS`]). 1 from servers older than quorum.
 */
required_approvals: number, 
/**
 * The approvals recorded so far, oldest first, the one that completed the quorum
 * included. A deny leaves them as they were. Empty from servers older than quorum.
 */
approvals: Array<ApprovalVote>, 
/**
 * Monotonic per server; bumped on every change to this approval.
 */
change_seq: number, 
/**
 * Where to open this approval: set by the server on the approvals it returns, absent
 * in what older servers sent (and in older local caches).
 */
links?: ApprovalLinks | null, };

/**
 * What the detail shows next to the request to decide well.
 */
export type ApprovalContext = { approval_id: string, recent_activity: RecentActivity, 
/**
 * `None`: the first request of its kind (no earlier approved one with the same
 * agent and action).
 */
params_diff: ParamsComparison | null, };

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
local_decision: OutboxEntry | null, 
/**
 * [`OutboxEntry::explain`] of `local_decision`, for the approver.
 */
local_explanation: string | null, 
/**
 * See [`is_decidable`].
 */
decidable: boolean, audit: AuditTrail | null, audit_fetched_at: string | null, 
/**
 * See [`QueueItem::gone_at`].
 */
gone_at: string | null, 
/**
 * Decided under this device's identity, but not from this device: "decided by
 * you on another device". Filled in by the engine, which knows who signed in.
 */
decided_by_you_elsewhere: boolean, 
/**
 * See [`QueueItem::waiting_for_others`].
 */
waiting_for_others: boolean, 
/**
 * See [`crate::risk`].
 */
risks: Array<RiskChip>, };

/**
 * One-click links to an approval, for a chat or mail integration to put in its message.
 */
export type ApprovalLinks = { 
/**
 * Opens the approval's detail in the desktop app, starting it if needed:
 * `countersign://approvals/<id>?org=<org>`.
 */
app: string, 
/**
 * The approval in this API: `<server>/api/v1/orgs/<org>/approvals/<id>`.
 */
api: string, };

export type ApprovalStatus = "pending" | "approved" | "denied" | "expired";

/**
 * One approver's approve of a quorum approval: who, when, with what notes.
 */
export type ApprovalVote = { by: string, at: string, notes: string | null, 
/**
 * The receipt this approve came with, if signed: an executor checks one distinct
 * signer per vote. Absent for unsigned votes and from older servers.
 */
receipt?: Receipt | null, };

/**
 * Payload of [`EV_APPROVALS`].
 */
export type ApprovalsChanged = { 
/**
 * The approvals whose cached state changed; `None` when the bridge lost track
 * (lagged behind a huge burst) and the window should re-read what it shows.
 */
ids: Array<string> | null, 
/**
 * The filter values, only when they changed.
 */
facets: Facets | null, };

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
export type ConnState = { "state": "not_configured" } | { "state": "syncing" } | { "state": "online" } | { "state": "offline", since: string, last_error: string, } | { "state": "unauthorized", message: string, } | { "state": "untrusted", message: string, };

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
reason: string | null, 
/**
 * The approver's device's signature over this decision, when it sent one: an
 * executor can check offline that what it runs is what was approved.
 */
receipt?: Receipt | null, };

export type DecisionKind = "approve" | "deny";

/**
 * One reason to offer, exactly as it was sent (the agent receives this text).
 */
export type DenyReason = { text: string, 
/**
 * Denials with this reason among the cached approvals (at least 1 for a reason
 * only this device used so far).
 */
uses: number, 
/**
 * The approver used it lately on this device.
 */
recent: boolean, };

/**
 * The request the parameters are compared with.
 */
export type DiffBase = { id: string, created_at: string, decision: Decision | null, };

export type DiffChange = "added" | "removed" | "changed";

/**
 * One leaf that differs. Values are compact JSON, cut to the limit.
 */
export type DiffEntry = { 
/**
 * `""` for the parameters as a whole (when they are not an object or array).
 */
path: string, change: DiffChange, 
/**
 * In the last approved request (absent when added).
 */
old: string | null, 
/**
 * In this request (absent when removed).
 */
new: string | null, };

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
 * Outcomes of approved approvals, as their agents reported them
 * (`POST /approvals/{id}/result`).
 */
export type ExecutionTotals = { succeeded: number, failed: number, 
/**
 * Approved, no result reported yet.
 */
not_reported: number, };

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
dismissed_at: string | null, 
/**
 * Signed by this device when the approver decided; `None` when the device has no
 * registered key (the decision goes unsigned).
 */
receipt?: Receipt | null, 
/**
 * Held on this device until then (the undo window): not sent before, and until
 * it is sent [`Store::cancel_queued`] can take it back. `None`: send at once.
 */
send_after: string | null, };

/**
 * An outbox row as the approver sees it: the entry and the sentence that explains it.
 */
export type OutboxItem = { 
/**
 * [`OutboxEntry::explain`].
 */
explanation: string, seq: number, approval_id: string, kind: DecisionKind, notes: string | null, reason: string | null, 
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
dismissed_at: string | null, 
/**
 * Signed by this device when the approver decided; `None` when the device has no
 * registered key (the decision goes unsigned).
 */
receipt?: Receipt | null, 
/**
 * Held on this device until then (the undo window): not sent before, and until
 * it is sent [`Store::cancel_queued`] can take it back. `None`: send at once.
 */
send_after: string | null, };

export type OutboxState = "queued" | "sending" | "applied" | "rejected" | "expired";

/**
 * This request's parameters against the last approved request of its kind.
 */
export type ParamsComparison = { against: DiffBase, diff: ParamsDiff, };

/**
 * The diff of two parameter values; counts cover every leaf, lists stop at the limits.
 */
export type ParamsDiff = { 
/**
 * Differences in path order (keys sorted, array items by index).
 */
entries: Array<DiffEntry>, 
/**
 * Differences beyond `entries` ("+N more").
 */
more_entries: number, unchanged: Array<UnchangedEntry>, 
/**
 * Unchanged leaves beyond `unchanged`.
 */
more_unchanged: number, added: number, removed: number, changed: number, unchanged_count: number, };

/**
 * A decision of this device that has not reached the server yet.
 */
export type PendingDecision = { kind: DecisionKind, state: OutboxState, decided_at: string, };

/**
 * One line of the queue.
 */
export type QueueItem = { id: string, 
/**
 * This row's place in the query's sort order (see [`QueueQuery::after`]).
 */
key: RowKey, 
/**
 * What the user should see: server status, or the optimistic result of a queued
 * decision, or `expired` once `expires_at` passed locally.
 */
status: ApprovalStatus, 
/**
 * Pending on the server side but past `expires_at` on this clock.
 */
locally_expired: boolean, agent: string, agent_name: string | null, action: string, reason_code: string, summary: string, created_at: string, expires_at: string, pending_decision: PendingDecision | null, 
/**
 * See [`is_decidable`]: the one rule the UI and CLI use to offer Approve/Deny.
 */
decidable: boolean, 
/**
 * When a full resync found that the server no longer has it (restored from an
 * older backup, or rebuilt). Kept because the approver decided on it; it cannot
 * be decided again.
 */
gone_at: string | null, 
/**
 * What the agent reported after executing it (approved rows only); `None` while
 * it has not reported: the queue's executed ✓ / failed ✗ / not yet executed.
 */
outcome: ExecutionOutcome | null, 
/**
 * Approvals recorded so far (with this device's approve on its way, if any).
 */
approvals: number, 
/**
 * Approvals it needs (1 unless the request asked for a quorum).
 */
required_approvals: number, 
/**
 * Pending, and the approver signed in here already approved it: it waits for
 * the others' approvals and is not decidable here ("Waiting for others").
 */
waiting_for_others: boolean, 
/**
 * See [`crate::risk`]: the same chips as the detail's.
 */
risks: Array<RiskChip>, };

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
search: string | null, sort: SortOrder, limit: number, 
/**
 * Rows to skip after the key (or from the start): only for jumps, e.g. dragging
 * the scrollbar far. Scrolling pages with `after` / `before`.
 */
offset: number, 
/**
 * Only rows strictly after this key in the sort order (the next page).
 */
after: RowKey | null, 
/**
 * Only rows strictly before this key in the sort order (the previous page); the
 * page still comes in sort order, ending just before the key.
 */
before: RowKey | null, 
/**
 * Only what waits for others: pending quorum approvals that the approver signed
 * in here already approved. (The Pending status leaves them out: they are not
 * pending for me.)
 */
waiting: boolean, };

/**
 * Result of queuing decisions.
 */
export type Queued = { entries: Array<OutboxEntry>, 
/**
 * Ids not queued, with the reason (already decided, expired, unknown, ...).
 */
skipped: Array<[string, string]>, };

/**
 * A decision signed by a registered device.
 */
export type Receipt = { 
/**
 * Always `ed25519`.
 */
alg: string, 
/**
 * The device key that signed, as `POST /devices` returned it.
 */
key_id: string, signed: ReceiptSigned, 
/**
 * Hex Ed25519 signature (64 bytes) over the canonical JSON of `signed`.
 */
signature: string, };

/**
 * What the approver's device signs. The fields after `decided_at` are v2's: absent
 * (not `null`) in a v1 receipt, so a v1 receipt serializes exactly as it was signed.
 */
export type ReceiptSigned = { 
/**
 * `2` for v2; absent for v1.
 */
v?: number | null, org_id: string, approval_id: string, kind: DecisionKind, 
/**
 * Hex SHA-256 of the approval's `params` in RFC 8785 canonical JSON.
 */
params_sha256: string, notes: string | null, reason: string | null, 
/**
 * When the approver decided (not when the decision reached the server: a
 * decision queued offline is signed when it is made).
 */
decided_at: string, 
/**
 * v2: the approver, as the token subject the device key is registered to.
 */
signer?: string | null, 
/**
 * v2: the request's action, e.g. `kubernetes:deploy`.
 */
action?: string | null, 
/**
 * v2: the id of the agent that raised the request.
 */
agent_id?: string | null, 
/**
 * v2: hex SHA-256 of the request's summary (its UTF-8 bytes).
 */
summary_sha256?: string | null, 
/**
 * v2: when the request was created (server time).
 */
created_at?: string | null, 
/**
 * v2: when the request expires (server time).
 */
expires_at?: string | null, 
/**
 * v2: how many distinct approvers the request needs.
 */
required_approvals?: number | null, 
/**
 * v2: the server's epoch (`ChangesPage::epoch`) the approver synced from.
 */
epoch?: string | null, };

/**
 * Other requests from the same agent for the same action.
 */
export type RecentActivity = { agent: string, action: string, 
/**
 * Created in the last 7 days, by the status the user sees now.
 */
last_7_days: StatusTotals, 
/**
 * Created in the last 30 days (the 7 included).
 */
last_30_days: StatusTotals, 
/**
 * The newest decided ones, newest first, at most [`RECENT_DECISIONS`].
 */
recent_decisions: Array<RecentDecision>, };

/**
 * A decided request of the same agent and action.
 */
export type RecentDecision = { id: string, summary: string, status: ApprovalStatus, created_at: string, 
/**
 * Who, when, notes and reason; absent while this device's own decision on it is
 * still on its way to the server.
 */
decision: Decision | null, };

/**
 * One chip: its kind (for the colour) and the words to show.
 */
export type RiskChip = { kind: RiskKind, 
/**
 * e.g. `budget 94%`, `1 step failed`, `2 steps escalated`.
 */
label: string, };

export type RiskKind = "budget" | "failed" | "escalated";

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

/**
 * Where a row sits in the sort order: `at` is `created_at` for the newest/oldest
 * sorts and `expires_at` for expiring-first; `id` breaks ties. The UI sends it back
 * verbatim to page from that row.
 */
export type RowKey = { at: string, id: string, };

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
expiring_soon_secs: number, notifications_enabled: boolean, 
/**
 * Offer "Approve" on new-approval notifications. Off by default: the document asks
 * to review the policy trace and risk snapshot before approving.
 */
approve_from_notification: boolean, 
/**
 * Announce the pending count at [`Settings::digest_times`] each day.
 */
digest_enabled: boolean, 
/**
 * Two local times of day, "HH:MM" (see [`parse_digest_time`]).
 */
digest_times: Array<string>, 
/**
 * Seconds a decision made in the app is held before it is sent (0: at once).
 */
undo_window_secs: number, 
/**
 * The user signed in to a plain `http://` server beyond this machine, saying so
 * explicitly (`--allow-insecure-http`, or the sign-in form's checkbox). See
 * [`check_transport`].
 */
allow_insecure_http: boolean, };

export type SettingsView = { server_url: string | null, org: string | null, has_token: boolean, 
/**
 * Where the token is kept, in words ("the OS keychain", or the file and why).
 */
token_location: string | null, expiring_soon_minutes: number, notifications_enabled: boolean, start_at_login: boolean, 
/**
 * Offer "Approve" on new-approval notifications (off by default).
 */
approve_from_notification: boolean, digest_enabled: boolean, 
/**
 * Two local times of day, "HH:MM".
 */
digest_times: Array<string>, 
/**
 * Seconds a decision waits on this device, undoable, before it is sent.
 */
undo_window_secs: number, 
/**
 * The stored account was signed in with "Allow an unencrypted connection".
 */
allow_insecure_http: boolean, };

export type SortOrder = "newest_first" | "oldest_first" | "expiring_first";

/**
 * `GET /approvals/stats?from=&to=`. Counts approvals created in `[from, to)`.
 */
export type Stats = { from: string | null, to: string | null, totals: StatusTotals, average_response_secs: number | null, by_agent: Array<StatsBucket>, by_reason: Array<StatsBucket>, 
/**
 * What the agents reported after executing the approved ones. Absent from servers
 * older than this field.
 */
executions?: ExecutionTotals | null, };

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

/**
 * Connection, last sync and the outbox, as the status bar and banner show them.
 */
export type Status = { 
/**
 * Failed decisions (rejected or expired unsent) not yet dismissed.
 */
outbox_failed: number, 
/**
 * Pending approvals, as the tray shows them.
 */
pending_count: number, conn: ConnState, last_synced: string | null, 
/**
 * Decisions still to deliver.
 */
outbox_pending: number, 
/**
 * Server time minus this device's clock, in milliseconds, once measured.
 */
clock_offset_ms: number | null, 
/**
 * This device's clock is off by more than a minute: say so (times shown are
 * the server's anyway).
 */
clock_off: boolean, 
/**
 * Set when, on this start, the local store could not be read with this device's
 * key and was moved aside: what happened, where the file is, what was lost.
 */
store_notice: string | null, 
/**
 * Set when the server's audit trail no longer contains the signed head this
 * device saw (restored from an older copy, cut back, or signed with another
 * key): what happened. Stays until this device signs in to another server or org.
 */
audit_notice: string | null, };

export type StatusTotals = { pending: number, approved: number, denied: number, expired: number, };

/**
 * A snapshot for status bars.
 */
export type SyncStatus = { conn: ConnState, last_synced: string | null, 
/**
 * Decisions still to deliver.
 */
outbox_pending: number, 
/**
 * Server time minus this device's clock, in milliseconds, once measured.
 */
clock_offset_ms: number | null, 
/**
 * This device's clock is off by more than a minute: say so (times shown are
 * the server's anyway).
 */
clock_off: boolean, 
/**
 * Set when, on this start, the local store could not be read with this device's
 * key and was moved aside: what happened, where the file is, what was lost.
 */
store_notice: string | null, 
/**
 * Set when the server's audit trail no longer contains the signed head this
 * device saw (restored from an older copy, cut back, or signed with another
 * key): what happened. Stays until this device signs in to another server or org.
 */
audit_notice: string | null, };

export type TraceResult = "pass" | "escalate" | "fail";

/**
 * One step of the policy engine's evaluation (`manifest_validation: pass`).
 */
export type TraceStep = { step: string, result: TraceResult, detail: string | null, };

export type UiError = { code: string, message: string, };

/**
 * One leaf equal on both sides.
 */
export type UnchangedEntry = { path: string, value: string, };

/**
 * `GET /api/v1/me`: who the token belongs to.
 */
export type WhoAmI = { subject: string, org_id: string, role: Role, 
/**
 * See [`ChangesPage::epoch`].
 */
epoch: string | null, };
