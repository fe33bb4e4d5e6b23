//! The append-only, hash-chained audit trail.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and this entry's
//! fields exactly as stored, so editing, deleting or reordering any row breaks every
//! hash after it. `verify` walks the chain from the start, then holds the approvals
//! table against it: each approval must have its `created` entry, say what that entry
//! recorded, and stand where the chain's last decision left it. What the chain alone
//! cannot show (its tail cut off) the signed head shows to clients that saw it.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use countersign_api::{AuditEntry, AuditEvent, AuditTrail};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ServerError;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Actor recorded for events the server causes itself (expiry).
pub const SYSTEM_ACTOR: &str = "system";

pub fn event_str(e: AuditEvent) -> &'static str {
    match e {
        AuditEvent::Created => "created",
        AuditEvent::Approved => "approved",
        AuditEvent::Denied => "denied",
        AuditEvent::Expired => "expired",
        AuditEvent::Executed => "executed",
    }
}

fn parse_event(s: &str) -> Option<AuditEvent> {
    Some(match s {
        "created" => AuditEvent::Created,
        "approved" => AuditEvent::Approved,
        "denied" => AuditEvent::Denied,
        "expired" => AuditEvent::Expired,
        "executed" => AuditEvent::Executed,
        _ => return None,
    })
}

/// The stored form of one entry, which is what gets hashed.
struct StoredEntry {
    seq: i64,
    org: String,
    approval_id: String,
    event: String,
    actor: String,
    at: String,
    notes: Option<String>,
    reason: Option<String>,
    data: String,
    prev_hash: String,
    hash: String,
}

impl StoredEntry {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredEntry {
            seq: r.get(0)?,
            org: r.get(1)?,
            approval_id: r.get(2)?,
            event: r.get(3)?,
            actor: r.get(4)?,
            at: r.get(5)?,
            notes: r.get(6)?,
            reason: r.get(7)?,
            data: r.get(8)?,
            prev_hash: r.get(9)?,
            hash: r.get(10)?,
        })
    }

    fn compute_hash(&self) -> String {
        // A JSON array is an unambiguous encoding of the fields (no separator games).
        let canonical = serde_json::json!([
            self.seq,
            self.org,
            self.approval_id,
            self.event,
            self.actor,
            self.at,
            self.notes,
            self.reason,
            self.data,
        ])
        .to_string();
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(b"\n");
        h.update(canonical.as_bytes());
        hex::encode(h.finalize())
    }

    fn into_entry(self) -> Result<AuditEntry, ServerError> {
        let event = parse_event(&self.event)
            .ok_or_else(|| ServerError::Corrupt(format!("audit event {:?}", self.event)))?;
        let at = DateTime::parse_from_rfc3339(&self.at)
            .map_err(|e| ServerError::Corrupt(format!("audit time {:?}: {e}", self.at)))?
            .with_timezone(&Utc);
        Ok(AuditEntry {
            seq: self.seq,
            approval_id: self.approval_id,
            event,
            actor: self.actor,
            at,
            notes: self.notes,
            reason: self.reason,
            data: serde_json::from_str(&self.data)?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

const ENTRY_COLUMNS: &str =
    "seq, org, approval_id, event, actor, at, notes, reason, data, prev_hash, hash";

/// What to append; the chain position and hashes are filled in by `append`.
pub struct NewEntry<'a> {
    pub org: &'a str,
    pub approval_id: &'a str,
    pub event: AuditEvent,
    pub actor: &'a str,
    pub at: DateTime<Utc>,
    pub notes: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub data: Value,
}

/// Appends one entry at the end of the chain. Call inside the transaction that makes
/// the change it records, so the two commit or roll back together.
pub fn append(conn: &Connection, e: NewEntry<'_>) -> Result<i64, ServerError> {
    let last: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS_HASH.to_string()));
    let mut entry = StoredEntry {
        seq: prev_seq + 1,
        org: e.org.to_string(),
        approval_id: e.approval_id.to_string(),
        event: event_str(e.event).to_string(),
        actor: e.actor.to_string(),
        at: e.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        notes: e.notes.map(str::to_string),
        reason: e.reason.map(str::to_string),
        data: e.data.to_string(),
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    conn.prepare_cached(&format!(
        "INSERT INTO audit ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        entry.seq,
        entry.org,
        entry.approval_id,
        entry.event,
        entry.actor,
        entry.at,
        entry.notes,
        entry.reason,
        entry.data,
        entry.prev_hash,
        entry.hash,
    ])?;
    Ok(entry.seq)
}

/// One approval's entries, oldest first.
pub fn trail(conn: &Connection, org: &str, approval_id: &str) -> Result<AuditTrail, ServerError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM audit WHERE org = ?1 AND approval_id = ?2 ORDER BY seq"
    ))?;
    let stored = stmt
        .query_map(params![org, approval_id], StoredEntry::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let entries = stored
        .into_iter()
        .map(StoredEntry::into_entry)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AuditTrail {
        approval_id: approval_id.to_string(),
        entries,
    })
}

/// Outcome of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Ok { entries: u64 },
    Broken { seq: i64, problem: String },
}

pub fn verify(conn: &Connection) -> Result<Verification, ServerError> {
    let mut stmt = conn.prepare(&format!("SELECT {ENTRY_COLUMNS} FROM audit ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    let mut expected_prev = GENESIS_HASH.to_string();
    let mut expected_seq = 1;
    let mut count = 0u64;
    let mut signers = crate::receipts::Signers::default();
    let mut seen: HashMap<(String, String), Chained> = HashMap::new();
    while let Some(row) = rows.next()? {
        let e = StoredEntry::from_row(row)?;
        let broken = |problem: &str| Verification::Broken {
            seq: e.seq,
            problem: problem.to_string(),
        };
        if e.seq != expected_seq {
            return Ok(Verification::Broken {
                seq: expected_seq,
                problem: format!("entry missing (next stored entry is {})", e.seq),
            });
        }
        if e.prev_hash != expected_prev {
            return Ok(broken("prev_hash does not match the previous entry's hash"));
        }
        if e.compute_hash() != e.hash {
            return Ok(broken("hash does not match the entry's contents"));
        }
        let decision = crate::receipts::AuditedDecision {
            org: &e.org,
            approval_id: &e.approval_id,
            event: &e.event,
            actor: &e.actor,
            at: &e.at,
            notes: e.notes.as_deref(),
            reason: e.reason.as_deref(),
            data: &e.data,
        };
        if let Some(problem) = crate::receipts::verify_entry(conn, &decision, &mut signers)? {
            return Ok(broken(&problem));
        }
        let chained = seen
            .entry((e.org.clone(), e.approval_id.clone()))
            .or_default();
        if let Some(problem) = chained.record(&e) {
            return Ok(broken(&problem));
        }
        expected_prev = e.hash;
        expected_seq += 1;
        count += 1;
    }
    if let Some((seq, problem)) = cross_check(conn, &seen)? {
        return Ok(Verification::Broken { seq, problem });
    }
    Ok(Verification::Ok { entries: count })
}

/// What the chain says about one approval, gathered while walking it.
#[derive(Default)]
struct Chained {
    /// Seq and data of its `created` entry.
    created: Option<(i64, Value)>,
    /// The last entry that settled it (approved in full, denied or expired).
    settled: Option<Settled>,
    /// Seq of its last entry of any kind.
    last_seq: i64,
    executed: Option<(i64, Option<String>)>,
}

struct Settled {
    seq: i64,
    event: String,
    actor: String,
    notes: Option<String>,
    reason: Option<String>,
}

impl Chained {
    fn record(&mut self, e: &StoredEntry) -> Option<String> {
        self.last_seq = e.seq;
        match e.event.as_str() {
            "created" => {
                if self.created.is_some() {
                    return Some(format!("{} is created twice", e.approval_id));
                }
                self.created = Some((e.seq, serde_json::from_str(&e.data).unwrap_or(Value::Null)));
            }
            "approved" | "denied" | "expired" => {
                if self.created.is_none() {
                    return Some(format!(
                        "{} is decided before its created entry",
                        e.approval_id
                    ));
                }
                // A quorum approve that left it waiting for others does not settle it.
                let partial = e.event == "approved"
                    && serde_json::from_str::<Value>(&e.data)
                        .ok()
                        .and_then(|d| d.get("partial").and_then(Value::as_bool))
                        .unwrap_or(false);
                if !partial {
                    self.settled = Some(Settled {
                        seq: e.seq,
                        event: e.event.clone(),
                        actor: e.actor.clone(),
                        notes: e.notes.clone(),
                        reason: e.reason.clone(),
                    });
                }
            }
            "executed" => {
                let outcome = serde_json::from_str::<Value>(&e.data)
                    .ok()
                    .and_then(|d| d.get("outcome").and_then(Value::as_str).map(str::to_string));
                self.executed = Some((e.seq, outcome));
            }
            _ => {}
        }
        None
    }
}

/// Holds every row of the approvals table against what the chain recorded for it.
/// `Some((seq, problem))` names the first disagreement (seq: the approval's last
/// entry, or 0 when it has none).
fn cross_check(
    conn: &Connection,
    seen: &HashMap<(String, String), Chained>,
) -> Result<Option<(i64, String)>, ServerError> {
    let mut stmt = conn.prepare(
        "SELECT org, id, status, decided_by, decision_notes, decision_reason, params, summary,
             required_approvals, exec_outcome
         FROM approvals ORDER BY org, id",
    )?;
    let mut rows = stmt.query([])?;
    let mut in_table = 0usize;
    while let Some(r) = rows.next()? {
        in_table += 1;
        let org: String = r.get(0)?;
        let id: String = r.get(1)?;
        let status: String = r.get(2)?;
        let decided_by: Option<String> = r.get(3)?;
        let notes: Option<String> = r.get(4)?;
        let reason: Option<String> = r.get(5)?;
        let params: Value = serde_json::from_str(&r.get::<_, String>(6)?)?;
        let summary: String = r.get(7)?;
        let required: i64 = r.get(8)?;
        let exec_outcome: Option<String> = r.get(9)?;
        let Some(chain) = seen.get(&(org.clone(), id.clone())) else {
            return Ok(Some((
                0,
                format!("approval {id} of {org} has no entry in the audit chain"),
            )));
        };
        let at = chain.last_seq;
        let Some((created_seq, data)) = &chain.created else {
            return Ok(Some((at, format!("approval {id} has no created entry"))));
        };
        // Entries written before these fields were recorded hold none: nothing to hold
        // the row against there.
        let recorded = |key: &str| data.get(key).filter(|v| !v.is_null());
        if let Some(h) = recorded("params_sha256") {
            if h.as_str() != Some(countersign_api::receipt::params_sha256(&params).as_str()) {
                return Ok(Some((
                    *created_seq,
                    format!(
                        "approval {id}: its params are not the ones its created entry recorded"
                    ),
                )));
            }
        }
        if let Some(s) = recorded("summary") {
            if s.as_str() != Some(summary.as_str()) {
                return Ok(Some((
                    *created_seq,
                    format!("approval {id}: its summary is not the one its created entry recorded"),
                )));
            }
        }
        if let Some(n) = recorded("required_approvals") {
            if n.as_i64() != Some(required) {
                return Ok(Some((
                    *created_seq,
                    format!(
                        "approval {id}: it requires {required} approvals, its created entry recorded {n}"
                    ),
                )));
            }
        }
        let chain_status = match &chain.settled {
            None => "pending",
            Some(s) => s.event.as_str(),
        };
        if chain_status != status {
            return Ok(Some((
                at,
                format!(
                    "approval {id} is {status} in the approvals table but {chain_status} in the                      audit chain (its last decision entry is missing or the row was changed)"
                ),
            )));
        }
        if let Some(s) = &chain.settled {
            if s.event != "expired"
                && (decided_by.as_deref() != Some(s.actor.as_str())
                    || notes != s.notes
                    || reason != s.reason)
            {
                return Ok(Some((
                    s.seq,
                    format!(
                        "approval {id}: its decision (by, notes, reason) is not the one the audit chain recorded"
                    ),
                )));
            }
        }
        if exec_outcome != chain.executed.as_ref().and_then(|(_, o)| o.clone()) {
            return Ok(Some((
                at,
                format!(
                    "approval {id}: its execution result is not the one the audit chain recorded"
                ),
            )));
        }
    }
    if in_table < seen.len() {
        let missing = seen.iter().find(|((org, id), _)| {
            conn.query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM approvals WHERE org = ?1 AND id = ?2)",
                params![org, id],
                |r| r.get::<_, bool>(0),
            )
            .unwrap_or(true)
        });
        if let Some(((org, id), chain)) = missing {
            return Ok(Some((
                chain.last_seq,
                format!(
                    "approval {id} of {org} is in the audit chain but not in the approvals table"
                ),
            )));
        }
    }
    Ok(None)
}

/// The latest entry of `org` (seq and hash), or with `at` the entry at that seq if it
/// is the org's; `None` when there is none. With no entries at all the org's head is
/// seq 0 and the genesis hash.
pub fn org_entry(
    conn: &Connection,
    org: &str,
    at: Option<i64>,
) -> Result<Option<(i64, String)>, ServerError> {
    let found = match at {
        Some(seq) => conn
            .prepare_cached("SELECT seq, hash FROM audit WHERE org = ?1 AND seq = ?2")?
            .query_row(params![org, seq], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
        None => conn
            .prepare_cached("SELECT seq, hash FROM audit WHERE org = ?1 ORDER BY seq DESC LIMIT 1")?
            .query_row(params![org], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
    };
    Ok(match (found, at) {
        (Some(f), _) => Some(f),
        (None, None) | (None, Some(0)) => Some((0, GENESIS_HASH.to_string())),
        (None, Some(_)) => None,
    })
}
