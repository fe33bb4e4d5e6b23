//! The append-only, hash-chained audit trail.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and this entry's
//! fields exactly as stored, so editing, deleting or reordering any row breaks every
//! hash after it. `verify` walks the chain from the start.

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
            at: &e.at,
            notes: e.notes.as_deref(),
            reason: e.reason.as_deref(),
            data: &e.data,
        };
        if let Some(problem) = crate::receipts::verify_entry(conn, &decision)? {
            return Ok(broken(&problem));
        }
        expected_prev = e.hash;
        expected_seq += 1;
        count += 1;
    }
    Ok(Verification::Ok { entries: count })
}
