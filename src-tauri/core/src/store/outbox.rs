//! The outbox of decisions. A decision is written here together with the optimistic
//! local status change in ONE transaction; the push loop delivers rows in `seq` order.
//!
//! States: `queued` → `sending` (committed before the request goes out, so a crash
//! mid-request is retried with the same idempotency key) → `applied` | `rejected`;
//! `queued` → `expired` when the approval expired locally before the first attempt.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use super::approvals::{approver_count, approver_listed, APPROVERS_FROM_JSON};
use super::{from_ms, to_ms, Store};
use crate::api::{Approval, ApprovalStatus, DecisionKind, Receipt};
use crate::error::{CoreError, Result};
use crate::receipt::DeviceKey;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    Queued,
    Sending,
    Applied,
    Rejected,
    Expired,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sending => "sending",
            OutboxState::Applied => "applied",
            OutboxState::Rejected => "rejected",
            OutboxState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            OutboxState::Queued,
            OutboxState::Sending,
            OutboxState::Applied,
            OutboxState::Rejected,
            OutboxState::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Still to be delivered.
    pub fn is_active(self) -> bool {
        matches!(self, OutboxState::Queued | OutboxState::Sending)
    }

    /// Finished without being applied: the approver may acknowledge (dismiss) it.
    pub fn is_failed(self) -> bool {
        matches!(self, OutboxState::Rejected | OutboxState::Expired)
    }
}

/// Reason recorded on a decision that expired locally before it could be sent.
pub const EXPIRED_BEFORE_SENT: &str = "the approval expired before the decision could be sent";

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub seq: i64,
    pub approval_id: String,
    pub kind: DecisionKind,
    pub notes: Option<String>,
    pub reason: Option<String>,
    /// Shared by the rows of one bulk decision.
    pub batch_id: Option<String>,
    /// When the approver decided (not when it was sent).
    pub decided_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub state: OutboxState,
    /// The approval as the server reported it when it answered (applied or rejected).
    pub server_approval: Option<Approval>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When the approver acknowledged this failed decision; kept, never deleted.
    #[serde(default)]
    pub dismissed_at: Option<DateTime<Utc>>,
    /// Signed by this device when the approver decided; `None` when the device has no
    /// registered key (the decision goes unsigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// Held on this device until then (the undo window): not sent before, and until
    /// it is sent [`Store::cancel_queued`] can take it back. `None`: send at once.
    #[serde(default)]
    pub send_after: Option<DateTime<Utc>>,
}

/// An outbox row as the approver sees it: the entry and the sentence that explains it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    #[serde(flatten)]
    pub entry: OutboxEntry,
    /// [`OutboxEntry::explain`].
    pub explanation: String,
}

impl From<OutboxEntry> for OutboxItem {
    fn from(entry: OutboxEntry) -> Self {
        OutboxItem {
            explanation: entry.explain(),
            entry,
        }
    }
}

impl OutboxEntry {
    /// When the push loop may next send it: after its backoff and its undo window.
    pub fn due_at(&self) -> DateTime<Utc> {
        match self.send_after {
            Some(t) if t > self.next_attempt_at => t,
            _ => self.next_attempt_at,
        }
    }

    /// One sentence for the approver about a decision that was not applied, e.g.
    /// "approved by bob@demo at 14:02; your deny, queued at 13:55, was not applied".
    pub fn explain(&self) -> String {
        self.explain_for(None)
    }

    /// [`OutboxEntry::explain`], naming a decision made under `me` (the identity
    /// signed in here) as "by you on another device".
    pub fn explain_for(&self, me: Option<&str>) -> String {
        let mine = format!(
            "your {}, queued at {}",
            self.kind.as_str(),
            self.decided_at.format("%Y-%m-%d %H:%M UTC")
        );
        match self.state {
            OutboxState::Applied => match self.server_approval.as_ref() {
                // A quorum approval my approve did not complete: say how far it is.
                Some(a) if a.status == ApprovalStatus::Pending && a.required_approvals > 1 => {
                    format!(
                        "{mine}, was applied: {} of {} approvals, waiting for others",
                        a.approvals.len(),
                        a.required_approvals
                    )
                }
                _ => format!("{mine}, was applied"),
            },
            OutboxState::Queued | OutboxState::Sending => {
                format!("{mine}, will be sent when online")
            }
            OutboxState::Expired => format!("{mine}, was not sent: {EXPIRED_BEFORE_SENT}"),
            OutboxState::Rejected => {
                let known = self.server_approval.as_ref().and_then(|a| {
                    let at = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
                    match (&a.decision, a.status) {
                        (Some(d), _) => {
                            let who = if Some(d.by.as_str()) == me {
                                "you".to_string()
                            } else {
                                d.by.clone()
                            };
                            let elsewhere = if who == "you" {
                                " on another device"
                            } else {
                                ""
                            };
                            // What they wrote is why they decided: the approver reads it
                            // instead of a status code.
                            let said = d
                                .reason
                                .as_deref()
                                .into_iter()
                                .chain(d.notes.as_deref())
                                .filter(|t| !t.trim().is_empty())
                                .map(|t| format!("'{}'", t.trim()))
                                .collect::<Vec<_>>()
                                .join(", ");
                            let said = if said.is_empty() {
                                String::new()
                            } else {
                                format!(": {said}")
                            };
                            Some(format!(
                                "{who} {} it{elsewhere} at {}{said}",
                                d.kind.resulting_status(),
                                at(d.at)
                            ))
                        }
                        // A quorum approval I approved elsewhere: my approve is there.
                        (None, ApprovalStatus::Pending)
                            if me.is_some_and(|me| a.approved_by(me)) =>
                        {
                            let when = a
                                .approvals
                                .iter()
                                .find(|v| Some(v.by.as_str()) == me)
                                .map(|v| at(v.at))
                                .unwrap_or_default();
                            Some(format!(
                                "you already approved it on another device at {when} ({} of {} approvals, waiting for others)",
                                a.approvals.len(),
                                a.required_approvals
                            ))
                        }
                        (None, ApprovalStatus::Pending) if a.required_approvals > 1 => {
                            Some(format!(
                                "it is still pending: {} of {} approvals",
                                a.approvals.len(),
                                a.required_approvals
                            ))
                        }
                        (None, ApprovalStatus::Expired) => {
                            Some(format!("it expired at {}", at(a.expires_at)))
                        }
                        (None, _) => None,
                    }
                });
                let why = self.last_error.as_deref().unwrap_or("");
                match known {
                    // The server's own account replaces its raw error (`409 already_decided`).
                    Some(theirs) => format!("{theirs}; {mine}, was not applied"),
                    None if why.is_empty() => {
                        format!("refused by the server; {mine}, was not applied")
                    }
                    None => format!("{why}; {mine}, was not applied"),
                }
            }
        }
    }
}

/// Ids that were not queued, each with the reason.
pub type Skipped = Vec<(String, String)>;

/// How one delivery attempt of a queued decision ended, as the push loop records it.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The server applied it; the approval as it now stands.
    Applied(Approval),
    /// Refused for good, with the server's reason and, when known, the current approval.
    Rejected {
        reason: String,
        approval: Option<Approval>,
    },
    /// Not delivered (network, 5xx, 401): queued again, not before `at`.
    Retry { at: DateTime<Utc>, error: String },
}

/// A decision to queue.
#[derive(Debug, Clone)]
pub struct NewDecision<'a> {
    pub kind: DecisionKind,
    pub notes: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub batch_id: Option<&'a str>,
    /// This device's signing key: each queued row gets its receipt now, at decide time.
    pub signer: Option<&'a DeviceKey>,
}

const COLUMNS: &str =
    "seq, approval_id, kind, notes, reason, batch_id, decided_at, idempotency_key,
     attempts, next_attempt_at, last_error, state, result_json, finished_at, dismissed_at,
     receipt_json, send_after";

fn entry(r: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let kind: String = r.get(2)?;
    let state: String = r.get(11)?;
    let result_json: Option<String> = r.get(12)?;
    Ok(OutboxEntry {
        seq: r.get(0)?,
        approval_id: r.get(1)?,
        kind: if kind == "deny" {
            DecisionKind::Deny
        } else {
            DecisionKind::Approve
        },
        notes: r.get(3)?,
        reason: r.get(4)?,
        batch_id: r.get(5)?,
        decided_at: from_ms(r.get(6)?),
        idempotency_key: r.get(7)?,
        attempts: r.get::<_, i64>(8)?.max(0) as u32,
        next_attempt_at: from_ms(r.get(9)?),
        last_error: r.get(10)?,
        state: OutboxState::parse(&state).unwrap_or(OutboxState::Rejected),
        server_approval: result_json.and_then(|j| serde_json::from_str(&j).ok()),
        finished_at: r.get::<_, Option<i64>>(13)?.map(from_ms),
        dismissed_at: r.get::<_, Option<i64>>(14)?.map(from_ms),
        receipt: r
            .get::<_, Option<String>>(15)?
            .and_then(|j| serde_json::from_str(&j).ok()),
        send_after: r.get::<_, Option<i64>>(16)?.map(from_ms),
    })
}

/// The receipt (as JSON) for deciding cached approval `id` now, signed over the
/// parameters this device holds: what the approver saw.
fn sign_cached(
    tx: &Transaction<'_>,
    id: &str,
    d: &NewDecision<'_>,
    signer: &DeviceKey,
    me: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String> {
    let json: String = tx.query_row("SELECT json FROM approvals WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    let approval: Approval = serde_json::from_str(&json)
        .map_err(|e| CoreError::Protocol(format!("cached approval {id} is unreadable: {e}")))?;
    // v2 names the approver and the server's epoch; without either (signed in to a
    // server older than epochs) the receipt falls back to v1.
    let epoch: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'server_epoch'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let epoch = epoch.as_deref().filter(|_| me.is_some());
    let receipt = signer.sign(
        &approval,
        d.kind,
        d.notes,
        d.reason,
        me.unwrap_or_default(),
        epoch,
        now,
    )?;
    serde_json::to_string(&receipt).map_err(|e| CoreError::Protocol(e.to_string()))
}

/// Why an approval cannot be decided from this device right now, if it cannot.
fn refusal(
    tx: &Transaction<'_>,
    id: &str,
    me: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let row: Option<(String, i64, Option<i64>, Quorum)> = tx
        .query_row(
            "SELECT status, expires_at, gone_at, approvers,
                 coalesce(json_extract(json, '$.required_approvals'), 1)
             FROM approvals WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    Quorum {
                        approvers: r.get(3)?,
                        required: r.get(4)?,
                    },
                ))
            },
        )
        .optional()?;
    let Some((status, expires_at, gone_at, quorum)) = row else {
        return Ok(Some("not in the local cache (run sync first)".into()));
    };
    if gone_at.is_some() {
        return Ok(Some(super::resync::GONE.into()));
    }
    let active: Option<String> = tx
        .query_row(
            "SELECT kind FROM outbox WHERE approval_id = ?1 AND state IN ('queued', 'sending')",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(kind) = active {
        return Ok(Some(format!("your {kind} is already queued")));
    }
    if status != "pending" {
        return Ok(Some(format!("already {status}")));
    }
    if me.is_some_and(|me| quorum.has(me)) {
        return Ok(Some(format!(
            "you already approved it; waiting for others ({} of {} approvals)",
            quorum.count(),
            quorum.required
        )));
    }
    if expires_at <= to_ms(now) {
        return Ok(Some("expired".into()));
    }
    Ok(None)
}

/// The quorum columns of a cached approval: who approved so far
/// (`approvals.approvers`) and how many approvals it needs.
struct Quorum {
    approvers: Option<String>,
    required: i64,
}

impl Quorum {
    fn has(&self, who: &str) -> bool {
        approver_listed(self.approvers.as_deref(), who)
    }

    fn count(&self) -> u8 {
        approver_count(self.approvers.as_deref())
    }
}

fn retry_in(
    conn: &rusqlite::Connection,
    seq: i64,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, last_error = ?3
         WHERE seq = ?1 AND state IN ('queued', 'sending')",
    )?
    .execute(params![seq, to_ms(next_attempt_at), error])?;
    Ok(())
}

/// Ends an active row and puts the local approval back to the server's status, inside
/// the caller's transaction.
fn finish_in(
    tx: &Transaction<'_>,
    seq: i64,
    state: OutboxState,
    error: Option<&str>,
    approval: Option<&Approval>,
    now: DateTime<Utc>,
) -> Result<()> {
    let result_json = approval
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| CoreError::Protocol(e.to_string()))?;
    let id: Option<String> = tx
        .prepare_cached(
            "UPDATE outbox SET state = ?2, last_error = COALESCE(?3, last_error),
                 result_json = COALESCE(?4, result_json), finished_at = ?5
             WHERE seq = ?1 AND state IN ('queued', 'sending')
             RETURNING approval_id",
        )?
        .query_row(
            params![seq, state.as_str(), error, result_json, to_ms(now)],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = &id {
        // No decision in flight any more: the local row shows the server's status.
        // Same transaction as the outbox row: one fsync for both.
        if let Some(a) = approval {
            super::approvals::upsert_in(tx, std::slice::from_ref(a), None)?;
        }
        back_to_server_state(tx, id)?;
    }
    Ok(())
}

/// Puts a cached approval back to what the server said (no decision of this device
/// on its way any more): its status, who approved, when it was decided.
fn back_to_server_state(tx: &Transaction<'_>, id: &str) -> Result<()> {
    tx.prepare_cached(&format!(
        "UPDATE approvals SET status = server_status,
             approvers = {APPROVERS_FROM_JSON},
             decided_at = CAST(ROUND((julianday(json_extract(json, '$.decision.at'))
                                      - 2440587.5) * 86400000.0) AS INTEGER)
         WHERE id = ?1"
    ))?
    .execute([id])?;
    Ok(())
}

impl Store {
    /// Queues decisions on `ids` and marks them decided locally, atomically. Ids that
    /// cannot be decided are skipped with the reason; nothing is written if all are
    /// skipped.
    pub fn enqueue_decisions(
        &mut self,
        ids: &[String],
        d: &NewDecision<'_>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<OutboxEntry>, Skipped)> {
        self.enqueue_decisions_held(ids, d, now, None)
    }

    /// [`Store::enqueue_decisions`], held on this device until `send_after` (the undo
    /// window) when given.
    pub fn enqueue_decisions_held(
        &mut self,
        ids: &[String],
        d: &NewDecision<'_>,
        now: DateTime<Utc>,
        send_after: Option<DateTime<Utc>>,
    ) -> Result<(Vec<OutboxEntry>, Skipped)> {
        let me = self.load_settings()?.subject;
        let tx = self.conn.transaction()?;
        let mut queued_seqs = Vec::new();
        let mut skipped = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if !seen.insert(id.as_str()) {
                skipped.push((id.clone(), "listed twice".to_string()));
                continue;
            }
            if let Some(why) = refusal(&tx, id, me.as_deref(), now)? {
                skipped.push((id.clone(), why));
                continue;
            }
            // The key is made now, at queue time, so every retry of this decision
            // (across crashes and restarts) carries the same key.
            let key = uuid::Uuid::new_v4().to_string();
            let receipt = match d.signer {
                Some(signer) => Some(sign_cached(&tx, id, d, signer, me.as_deref(), now)?),
                None => None,
            };
            tx.execute(
                "INSERT INTO outbox(approval_id, kind, notes, reason, batch_id, decided_at,
                     idempotency_key, attempts, next_attempt_at, state, receipt_json, send_after)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?6, 'queued', ?8, ?9)",
                params![
                    id,
                    d.kind.as_str(),
                    d.notes,
                    d.reason,
                    d.batch_id,
                    to_ms(now),
                    key,
                    receipt,
                    send_after.map(to_ms)
                ],
            )?;
            queued_seqs.push(tx.last_insert_rowid());
            // Optimistic: decided, or for an approve that does not complete a quorum,
            // still pending with my name among the approvers (waiting for others).
            let partial = d.kind == DecisionKind::Approve
                && me.is_some()
                && tx.query_row(
                    "SELECT coalesce(json_extract(json, '$.required_approvals'), 1)
                         > coalesce(json_array_length(json, '$.approvals'), 0) + 1
                     FROM approvals WHERE id = ?1",
                    [id],
                    |r| r.get::<_, bool>(0),
                )?;
            if !partial {
                tx.execute(
                    "UPDATE approvals SET status = ?2, decided_at = ?3 WHERE id = ?1",
                    params![id, d.kind.resulting_status().as_str(), to_ms(now)],
                )?;
            }
            if let (DecisionKind::Approve, Some(me)) = (d.kind, me.as_deref()) {
                tx.execute(
                    "UPDATE approvals SET approvers = coalesce(approvers, char(10)) || ?2 || char(10)
                     WHERE id = ?1",
                    params![id, me],
                )?;
            }
        }
        tx.commit()?;
        self.note_queued_count();
        let mut queued = Vec::with_capacity(queued_seqs.len());
        for seq in queued_seqs {
            if let Some(e) = self.outbox_entry(seq)? {
                queued.push(e);
            }
        }
        Ok((queued, skipped))
    }

    pub fn outbox_entry(&self, seq: i64) -> Result<Option<OutboxEntry>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM outbox WHERE seq = ?1"),
                [seq],
                entry,
            )
            .optional()?)
    }

    pub fn latest_outbox_for(&self, approval_id: &str) -> Result<Option<OutboxEntry>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE approval_id = ?1 ORDER BY seq DESC LIMIT 1"
                ),
                [approval_id],
                entry,
            )
            .optional()?)
    }

    /// The head of the queue: the oldest decision still to deliver. In-order delivery
    /// means later rows wait behind it while it backs off.
    pub fn outbox_head(&self) -> Result<Option<OutboxEntry>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE state IN ('queued', 'sending')
                     ORDER BY seq LIMIT 1"
                ),
                [],
                entry,
            )
            .optional()?)
    }

    /// The head of the queue and the decisions right behind it that can share its
    /// request: the consecutive run, in `seq` order, with the head's kind, notes and
    /// reason (a bulk selection, or single decisions made alike), distinct approvals,
    /// at most `max`. Order is kept: a different decision in between ends the run.
    pub fn outbox_batch(&self, max: usize) -> Result<Vec<OutboxEntry>> {
        self.outbox_batch_due(max, None)
    }

    /// [`Store::outbox_batch`] without the rows still held in their undo window at
    /// `now`: the run ends before the first of them (order is kept), so a decision the
    /// approver may still take back never rides along with an earlier one.
    pub fn outbox_batch_due(
        &self,
        max: usize,
        now: Option<DateTime<Utc>>,
    ) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE state IN ('queued', 'sending')
             ORDER BY seq LIMIT ?1"
        ))?;
        let rows = stmt.query_map([max.max(1) as i64], entry)?;
        let mut batch: Vec<OutboxEntry> = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for row in rows {
            let row = row?;
            if now.is_some_and(|now| row.send_after.is_some_and(|t| t > now)) {
                break;
            }
            if let Some(head) = batch.first() {
                let alike =
                    row.kind == head.kind && row.notes == head.notes && row.reason == head.reason;
                if !alike || ids.contains(&row.approval_id) {
                    break;
                }
            }
            ids.insert(row.approval_id.clone());
            batch.push(row);
        }
        Ok(batch)
    }

    /// Rows in the given states (all when empty), oldest first; dismissed rows only
    /// when `include_dismissed`.
    pub fn outbox_list(
        &self,
        states: &[OutboxState],
        include_dismissed: bool,
    ) -> Result<Vec<OutboxEntry>> {
        let mut conds = Vec::new();
        if !states.is_empty() {
            let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
            conds.push(format!("state IN ({})", list.join(",")));
        }
        if !include_dismissed {
            conds.push("dismissed_at IS NULL".to_string());
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM outbox {filter} ORDER BY seq"
        ))?;
        let v = stmt
            .query_map([], entry)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// Writes how many decisions wait to be sent next to the store file (`<db>.queued`,
    /// a bare number). It is the one fact about an encrypted store that must outlive
    /// its key: a store whose key is lost can then say how many decisions were lost
    /// with it ([`super::cipher::StoreRecovery`]). Only the count, no ids: nothing of
    /// the approvals leaves the encrypted pages. Best effort: a failure is logged.
    fn note_queued_count(&self) {
        let Some(db) = self.conn.path().filter(|p| !p.is_empty()) else {
            return; // in memory
        };
        let file = super::cipher::queued_count_file(std::path::Path::new(db));
        let written = self
            .outbox_active_count()
            .and_then(|n| Ok(std::fs::write(&file, n.to_string())?));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), "could not note the queued count: {e}");
        }
    }

    pub fn outbox_active_count(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending')",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Acknowledges a rejected/expired decision. Idempotent: a row already dismissed
    /// keeps its first `dismissed_at`. Anything not failed is refused.
    pub fn outbox_dismiss(&self, seq: i64, now: DateTime<Utc>) -> Result<OutboxEntry> {
        let Some(e) = self.outbox_entry(seq)? else {
            return Err(CoreError::Invalid(format!(
                "there is no outbox entry {seq} on this device"
            )));
        };
        if !e.state.is_failed() {
            return Err(CoreError::Invalid(format!(
                "outbox entry {seq} ({} of {}) is {}; only rejected or expired decisions can be dismissed",
                e.kind.as_str(),
                e.approval_id,
                e.state.as_str()
            )));
        }
        if e.dismissed_at.is_some() {
            return Ok(e);
        }
        self.conn.execute(
            "UPDATE outbox SET dismissed_at = ?2
             WHERE seq = ?1 AND state IN ('rejected', 'expired') AND dismissed_at IS NULL",
            params![seq, to_ms(now)],
        )?;
        self.outbox_entry(seq)?
            .ok_or_else(|| CoreError::Invalid(format!("outbox entry {seq} vanished")))
    }

    /// Committed before the request leaves, so a crash mid-request is visible on restart.
    pub fn outbox_mark_sending(&self, seq: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1
             WHERE seq = ?1 AND state IN ('queued', 'sending')",
            [seq],
        )?;
        Ok(())
    }

    /// [`Store::outbox_mark_sending`] for a whole request's rows, in one commit.
    /// Marks rows as being sent; returns those it marked. A row taken back meanwhile
    /// ([`Store::cancel_queued`]) is no longer there and is not returned: the caller
    /// sends only what this returns.
    pub fn outbox_mark_sending_all(&self, seqs: &[i64]) -> Result<Vec<i64>> {
        let tx = self.conn.unchecked_transaction()?;
        let mut marked = Vec::with_capacity(seqs.len());
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1
                 WHERE seq = ?1 AND state IN ('queued', 'sending')",
            )?;
            for seq in seqs {
                if stmt.execute([seq])? > 0 {
                    marked.push(*seq);
                }
            }
        }
        tx.commit()?;
        Ok(marked)
    }

    /// Takes back a decision that has not left the device (Undo): deletes its row only
    /// while it is still `queued`, and puts the approval back to the server's status, in
    /// one transaction. Returns the approval's id. Once the push loop has started
    /// sending it, it refuses: the server may already have it.
    pub fn cancel_queued(&mut self, seq: i64) -> Result<String> {
        let tx = self.conn.transaction()?;
        let id: Option<String> = tx
            .prepare_cached(
                "DELETE FROM outbox WHERE seq = ?1 AND state = 'queued' RETURNING approval_id",
            )?
            .query_row([seq], |r| r.get(0))
            .optional()?;
        let Some(id) = id else {
            let state: Option<String> = tx
                .query_row("SELECT state FROM outbox WHERE seq = ?1", [seq], |r| {
                    r.get(0)
                })
                .optional()?;
            return Err(CoreError::Invalid(match state.as_deref() {
                Some("sending") => {
                    "this decision is being sent to the server; it can no longer be undone".into()
                }
                Some(other) => format!("this decision was already {other}; it cannot be undone"),
                None => "no such queued decision".into(),
            }));
        };
        back_to_server_state(&tx, &id)?;
        tx.commit()?;
        self.note_queued_count();
        Ok(id)
    }

    /// Records how each row of one request ended, in one commit (one fsync per request,
    /// not per decision).
    pub fn outbox_record(&mut self, results: &[(i64, Delivery)], now: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        for (seq, d) in results {
            match d {
                Delivery::Applied(a) => {
                    finish_in(&tx, *seq, OutboxState::Applied, None, Some(a), now)?
                }
                Delivery::Rejected { reason, approval } => finish_in(
                    &tx,
                    *seq,
                    OutboxState::Rejected,
                    Some(reason),
                    approval.as_ref(),
                    now,
                )?,
                Delivery::Retry { at, error } => retry_in(&tx, *seq, *at, error)?,
            }
        }
        tx.commit()?;
        self.note_queued_count();
        Ok(())
    }

    /// Transient failure: back in the queue, not before `next_attempt_at`.
    pub fn outbox_mark_retry(
        &self,
        seq: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        retry_in(&self.conn, seq, next_attempt_at, error)
    }

    /// The server applied the decision; the approval as it now stands is cached.
    pub fn outbox_mark_applied(
        &mut self,
        seq: i64,
        approval: &Approval,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.finish(seq, OutboxState::Applied, None, Some(approval), now)
    }

    /// Refused for good (409 or other 4xx), or expired locally before the first send.
    /// The local view goes back to what the server says.
    pub fn outbox_mark_failed(
        &mut self,
        seq: i64,
        state: OutboxState,
        reason: &str,
        approval: Option<&Approval>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.finish(seq, state, Some(reason), approval, now)
    }

    fn finish(
        &mut self,
        seq: i64,
        state: OutboxState,
        error: Option<&str>,
        approval: Option<&Approval>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        finish_in(&tx, seq, state, error, approval, now)?;
        tx.commit()?;
        self.note_queued_count();
        Ok(())
    }

    /// Whether [`Store::outbox_expire_unsent`] would find anything (a read).
    pub fn outbox_has_expired_unsent(&self, now: DateTime<Utc>) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox o JOIN approvals a ON a.id = o.approval_id
                 WHERE o.state = 'queued' AND o.attempts = 0 AND a.expires_at <= ?1)",
            [to_ms(now)],
            |r| r.get(0),
        )?)
    }

    /// Decisions still queued (never attempted) whose approval expired locally: they
    /// are marked expired and never sent. Returns the affected outbox rows.
    ///
    /// Rows that were attempted before are left alone: the earlier attempt may have
    /// been applied before expiry (response lost), and only the server can tell; it
    /// answers a retry with the same idempotency key.
    pub fn outbox_expire_unsent(&mut self, now: DateTime<Utc>) -> Result<Vec<OutboxEntry>> {
        let seqs: Vec<i64> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT o.seq FROM outbox o JOIN approvals a ON a.id = o.approval_id
                 WHERE o.state = 'queued' AND o.attempts = 0 AND a.expires_at <= ?1
                 ORDER BY o.seq",
            )?;
            let v = stmt
                .query_map([to_ms(now)], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            v
        };
        let mut out = Vec::new();
        for seq in seqs {
            self.finish(
                seq,
                OutboxState::Expired,
                Some(EXPIRED_BEFORE_SENT),
                None,
                now,
            )?;
            if let Some(e) = self.outbox_entry(seq)? {
                out.push(e);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::approvals::tests::approval;

    fn queue(
        s: &mut Store,
        ids: &[&str],
        kind: DecisionKind,
        notes: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let reason = (kind == DecisionKind::Deny).then_some("r");
        let d = NewDecision {
            kind,
            notes,
            reason,
            batch_id: (ids.len() > 1).then_some("batch"),
            signer: None,
        };
        let (q, skipped) = s.enqueue_decisions(&ids, &d, now).unwrap();
        assert_eq!((q.len(), skipped.len()), (ids.len(), 0), "{skipped:?}");
    }

    fn ids(batch: &[OutboxEntry]) -> Vec<&str> {
        batch.iter().map(|e| e.approval_id.as_str()).collect()
    }

    fn held(s: &mut Store, id: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> i64 {
        let d = NewDecision {
            kind: DecisionKind::Approve,
            notes: None,
            reason: None,
            batch_id: None,
            signer: None,
        };
        let (q, skipped) = s
            .enqueue_decisions_held(&[id.to_string()], &d, now, Some(until))
            .unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        q[0].seq
    }

    fn local_status(s: &Store, id: &str) -> String {
        s.conn()
            .query_row("SELECT status FROM approvals WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
    }

    #[test]
    fn undo_takes_back_a_queued_decision_but_not_one_being_sent() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        let all: Vec<Approval> = (1..=2)
            .map(|i| approval(&format!("appr-{i}"), "bot", i, now))
            .collect();
        s.upsert_approvals(&all).unwrap();
        let until = now + chrono::Duration::seconds(5);

        let seq = held(&mut s, "appr-1", now, until);
        assert_eq!(local_status(&s, "appr-1"), "approved");
        assert_eq!(s.cancel_queued(seq).unwrap(), "appr-1");
        // Gone from the outbox, pending again here, and decidable again.
        assert!(s.outbox_entry(seq).unwrap().is_none());
        assert_eq!(local_status(&s, "appr-1"), "pending");
        assert!(s.detail("appr-1", now).unwrap().unwrap().decidable);
        // A second Undo of the same decision says so, and changes nothing.
        let again = s.cancel_queued(seq).unwrap_err().to_string();
        assert!(again.contains("no such queued decision"), "{again}");

        // Once the push loop marked it as being sent, Undo refuses: the server may have it.
        let seq = held(&mut s, "appr-2", now, now);
        assert_eq!(s.outbox_mark_sending_all(&[seq]).unwrap(), vec![seq]);
        let refused = s.cancel_queued(seq).unwrap_err().to_string();
        assert!(refused.contains("can no longer be undone"), "{refused}");
        assert_eq!(
            s.outbox_entry(seq).unwrap().unwrap().state,
            OutboxState::Sending
        );
        assert_eq!(local_status(&s, "appr-2"), "approved");
    }

    #[test]
    fn held_rows_wait_out_their_window_and_an_undo_before_sending_wins() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        let all: Vec<Approval> = (1..=3)
            .map(|i| approval(&format!("appr-{i}"), "bot", i, now))
            .collect();
        s.upsert_approvals(&all).unwrap();
        queue(&mut s, &["appr-1"], DecisionKind::Approve, None, now);
        let later = now + chrono::Duration::seconds(5);
        let seq2 = held(&mut s, "appr-2", now, later);
        queue(&mut s, &["appr-3"], DecisionKind::Approve, None, now);
        // Alike rows would share a request, but the held one ends the run (order kept).
        assert_eq!(ids(&s.outbox_batch_due(10, Some(now)).unwrap()), ["appr-1"]);
        assert_eq!(
            ids(&s.outbox_batch_due(10, Some(later)).unwrap()),
            ["appr-1", "appr-2", "appr-3"]
        );
        let head2 = s.outbox_entry(seq2).unwrap().unwrap();
        assert_eq!(to_ms(head2.due_at()), to_ms(later));
        // The loop read the batch; the approver pressed Undo before it marked the rows:
        // only the rows still there are marked, so only those are sent.
        let batch = s.outbox_batch_due(10, Some(later)).unwrap();
        s.cancel_queued(seq2).unwrap();
        let seqs: Vec<i64> = batch.iter().map(|e| e.seq).collect();
        let marked = s.outbox_mark_sending_all(&seqs).unwrap();
        assert_eq!(marked.len(), 2);
        assert!(!marked.contains(&seq2));
    }

    #[test]
    fn a_batch_is_the_run_alike_with_the_head_in_queue_order() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        let all: Vec<Approval> = (1..=8)
            .map(|i| approval(&format!("appr-{i}"), "bot", i, now))
            .collect();
        s.upsert_approvals(&all).unwrap();
        let approve = DecisionKind::Approve;
        queue(
            &mut s,
            &["appr-1", "appr-2", "appr-3"],
            approve,
            Some("a"),
            now,
        );
        // A single decision made the same way joins the bulk selection before it...
        queue(&mut s, &["appr-4"], approve, Some("a"), now);
        // ...a different one ends the run, and what follows it waits its turn.
        queue(&mut s, &["appr-5"], DecisionKind::Deny, None, now);
        queue(&mut s, &["appr-6", "appr-7"], approve, Some("a"), now);
        queue(&mut s, &["appr-8"], approve, Some("other notes"), now);

        let b = s.outbox_batch(10).unwrap();
        assert_eq!(ids(&b), ["appr-1", "appr-2", "appr-3", "appr-4"]);
        assert_eq!(ids(&s.outbox_batch(2).unwrap()), ["appr-1", "appr-2"]);
        assert_eq!(ids(&s.outbox_batch(0).unwrap()), ["appr-1"]);

        // One request's outcomes are recorded together.
        let seqs: Vec<i64> = b.iter().map(|e| e.seq).collect();
        s.outbox_mark_sending_all(&seqs).unwrap();
        let mut done = all[0].clone();
        done.status = ApprovalStatus::Approved;
        let later = now + chrono::Duration::seconds(30);
        let results = vec![
            (seqs[0], Delivery::Applied(done)),
            (
                seqs[1],
                Delivery::Rejected {
                    reason: "already denied (409 already_decided)".into(),
                    approval: None,
                },
            ),
            (
                seqs[2],
                Delivery::Retry {
                    at: later,
                    error: "cut off".into(),
                },
            ),
            (
                seqs[3],
                Delivery::Retry {
                    at: later,
                    error: "cut off".into(),
                },
            ),
        ];
        s.outbox_record(&results, now).unwrap();
        let states: Vec<OutboxState> = seqs
            .iter()
            .map(|q| s.outbox_entry(*q).unwrap().unwrap().state)
            .collect();
        use OutboxState::*;
        assert_eq!(states, [Applied, Rejected, Queued, Queued]);
        let retried = s.outbox_entry(seqs[2]).unwrap().unwrap();
        assert_eq!(retried.attempts, 1);
        assert_eq!(to_ms(retried.next_attempt_at), to_ms(later));
        assert_eq!(
            s.approval("appr-1").unwrap().unwrap().status,
            ApprovalStatus::Approved
        );
        // The retried pair is the head again, with the same keys.
        let again = s.outbox_batch(10).unwrap();
        assert_eq!(ids(&again), ["appr-3", "appr-4"]);
        assert_eq!(again[0].idempotency_key, b[2].idempotency_key);
    }
}
