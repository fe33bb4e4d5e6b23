//! State transitions: approve/deny, expiry and execution results. Each runs inside
//! the caller's transaction on the writer connection and appends its audit entry there.

use chrono::{DateTime, Utc};
use countersign_api::{
    Approval, ApprovalStatus, ApprovalVote, AuditEvent, DecisionAuditData, DecisionKind,
    ExecutionOutcome, Receipt,
};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use super::rows::{get_approval, next_change_seq, outcome_str};
use super::{to_ms, Change};
use crate::audit::{self, NewEntry, SYSTEM_ACTOR};
use crate::error::ServerError;

pub struct DecisionInput<'a> {
    pub kind: DecisionKind,
    pub by: &'a str,
    pub notes: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// The verified receipt and the name of the device that signed it; `None` is an
    /// unsigned decision (recorded as such in the audit trail).
    pub receipt: Option<(&'a Receipt, &'a str)>,
}

#[derive(Debug)]
pub enum DecideOutcome {
    Decided(Approval),
    NotFound,
    SelfApproval,
    AlreadyDecided(Approval),
    /// A quorum approval this approver already approved; it waits for others.
    AlreadyApproved(Approval),
    Expired(Approval),
}

/// Applies a decision as one compare-and-set: only a pending approval whose expiry
/// is still ahead (by the server's clock) changes. An approve of a quorum approval
/// that does not yet reach `required_approvals` is recorded and leaves it pending
/// (`Decided` with a pending approval). `changes` collects every change
/// made (an overdue approval found here is expired on the spot).
pub fn decide(
    conn: &Connection,
    org: &str,
    id: &str,
    input: &DecisionInput<'_>,
    changes: &mut Vec<Change>,
) -> Result<DecideOutcome, ServerError> {
    let Some(current) = get_approval(conn, org, id)? else {
        return Ok(DecideOutcome::NotFound);
    };
    if countersign_api::same_subject(&current.requested_by, input.by) {
        return Ok(DecideOutcome::SelfApproval);
    }
    if current.status == ApprovalStatus::Pending && current.expires_at <= input.now {
        expire_one(conn, org, id, input.now, changes)?;
        return settled(conn, org, id);
    }
    if current.status != ApprovalStatus::Pending {
        return settled(conn, org, id);
    }
    if input.kind == DecisionKind::Approve && current.approved_by(input.by) {
        return Ok(DecideOutcome::AlreadyApproved(current));
    }
    let seq = next_change_seq(conn)?;
    let now_ms = to_ms(input.now);
    // Quorum: an approve adds this approver's vote; only the vote that reaches
    // `required_approvals` decides. A deny decides at once and keeps the votes.
    let mut votes = current.approvals.clone();
    if input.kind == DecisionKind::Approve {
        votes.push(ApprovalVote {
            by: input.by.to_string(),
            at: input.now,
            notes: input.notes.map(str::to_string),
            receipt: input.receipt.map(|(r, _)| r.clone()),
        });
    }
    let complete =
        input.kind == DecisionKind::Deny || votes.len() >= usize::from(current.required_approvals);
    let status = if complete {
        input.kind.resulting_status()
    } else {
        ApprovalStatus::Pending
    };
    // Compare-and-set on the change this decision was based on: the count read above
    // is the count written, even if writes were ever not serialised.
    let updated = if complete {
        conn.prepare_cached(
            "UPDATE approvals SET status = ?1, decision_kind = ?2, decided_by = ?3, decided_at = ?4,
                 decision_notes = ?5, decision_reason = ?6, change_seq = ?7, approvals = ?8,
                 decision_receipt = ?12
             WHERE org = ?9 AND id = ?10 AND status = 'pending' AND expires_at > ?4
                 AND change_seq = ?11",
        )?
        .execute(params![
            status.as_str(),
            input.kind.as_str(),
            input.by,
            now_ms,
            input.notes,
            input.reason,
            seq,
            serde_json::to_string(&votes)?,
            org,
            id,
            current.change_seq,
            input
                .receipt
                .map(|(r, _)| serde_json::to_string(r))
                .transpose()?,
        ])?
    } else {
        conn.prepare_cached(
            "UPDATE approvals SET change_seq = ?1, approvals = ?2
             WHERE org = ?3 AND id = ?4 AND status = 'pending' AND expires_at > ?5
                 AND change_seq = ?6",
        )?
        .execute(params![
            seq,
            serde_json::to_string(&votes)?,
            org,
            id,
            now_ms,
            current.change_seq,
        ])?
    };
    if updated == 0 {
        return settled(conn, org, id);
    }
    // The receipt is part of the hashed entry, so the chain covers it too. Each approve
    // of a quorum approval is its own `approved` entry (with its own receipt); `partial`
    // tells the ones that did not decide it yet. Old readers see a known event kind.
    let (receipt, device) = match input.receipt {
        Some((receipt, device)) => (Some(receipt.clone()), Some(device.to_string())),
        None => (None, None),
    };
    let quorum = current.required_approvals > 1 && input.kind == DecisionKind::Approve;
    let audit_data = DecisionAuditData {
        unsigned: receipt.is_none(),
        receipt,
        device,
        partial: quorum.then_some(!complete),
        approvals: quorum.then(|| u32::try_from(votes.len()).unwrap_or(u32::MAX)),
        required_approvals: quorum.then_some(current.required_approvals),
    };
    audit::append(
        conn,
        NewEntry {
            org,
            approval_id: id,
            event: match input.kind {
                DecisionKind::Approve => AuditEvent::Approved,
                DecisionKind::Deny => AuditEvent::Denied,
            },
            actor: input.by,
            at: input.now,
            notes: input.notes,
            reason: input.reason,
            data: serde_json::to_value(&audit_data)?,
        },
    )?;
    changes.push(Change {
        org: org.to_string(),
        id: id.to_string(),
        seq,
    });
    let approval = get_approval(conn, org, id)?
        .ok_or_else(|| ServerError::Corrupt(format!("{id} vanished while deciding")))?;
    Ok(DecideOutcome::Decided(approval))
}

/// The answer for an approval that could not be decided because it is final.
fn settled(conn: &Connection, org: &str, id: &str) -> Result<DecideOutcome, ServerError> {
    match get_approval(conn, org, id)? {
        None => Ok(DecideOutcome::NotFound),
        Some(a) if a.status == ApprovalStatus::Expired => Ok(DecideOutcome::Expired(a)),
        Some(a) => Ok(DecideOutcome::AlreadyDecided(a)),
    }
}

/// Expires one approval if it is pending and overdue. Returns whether it changed.
pub fn expire_one(
    conn: &Connection,
    org: &str,
    id: &str,
    now: DateTime<Utc>,
    changes: &mut Vec<Change>,
) -> Result<bool, ServerError> {
    let seq = next_change_seq(conn)?;
    let updated = conn
        .prepare_cached(
            "UPDATE approvals SET status = 'expired', change_seq = ?1
             WHERE org = ?2 AND id = ?3 AND status = 'pending' AND expires_at <= ?4",
        )?
        .execute(params![seq, org, id, to_ms(now)])?;
    if updated == 0 {
        return Ok(false);
    }
    let expires_at: i64 = conn
        .prepare_cached("SELECT expires_at FROM approvals WHERE org = ?1 AND id = ?2")?
        .query_row(params![org, id], |r| r.get(0))?;
    audit::append(
        conn,
        NewEntry {
            org,
            approval_id: id,
            event: AuditEvent::Expired,
            actor: SYSTEM_ACTOR,
            at: now,
            notes: None,
            reason: Some("not decided before it expired"),
            data: json!({ "expires_at": super::from_ms(expires_at) }),
        },
    )?;
    changes.push(Change {
        org: org.to_string(),
        id: id.to_string(),
        seq,
    });
    Ok(true)
}

/// Cheap check used before reads: is anything overdue at all?
pub fn any_due(conn: &Connection, now: DateTime<Utc>) -> Result<bool, ServerError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM approvals WHERE status = 'pending' AND expires_at <= ?1)",
        )?
        .query_row([to_ms(now)], |r| r.get(0))?)
}

/// Expires every overdue approval, in one transaction.
pub fn expire_due(conn: &mut Connection, now: DateTime<Utc>) -> Result<Vec<Change>, ServerError> {
    let mut changes = Vec::new();
    if !any_due(conn, now)? {
        return Ok(changes);
    }
    let tx = conn.transaction()?;
    let due: Vec<(String, String)> = tx
        .prepare_cached(
            "SELECT org, id FROM approvals WHERE status = 'pending' AND expires_at <= ?1
             ORDER BY expires_at, org, id",
        )?
        .query_map([to_ms(now)], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (org, id) in due {
        expire_one(&tx, &org, &id, now, &mut changes)?;
    }
    tx.commit()?;
    Ok(changes)
}

#[derive(Debug)]
pub enum ResultOutcome {
    Recorded(Approval),
    NotFound,
    /// Pending, denied or expired: it must never be executed.
    NotApproved(Approval),
    AlreadyRecorded(Approval),
}

/// Records what executing an approved action did; once per approval.
/// What an agent reports after executing.
pub struct ResultInput<'a> {
    pub actor: &'a str,
    pub outcome: ExecutionOutcome,
    pub output: &'a Value,
    pub now: DateTime<Utc>,
}

pub fn record_result(
    conn: &Connection,
    org: &str,
    id: &str,
    input: &ResultInput<'_>,
    changes: &mut Vec<Change>,
) -> Result<ResultOutcome, ServerError> {
    let ResultInput {
        actor,
        outcome,
        output,
        now,
    } = *input;
    let Some(current) = get_approval(conn, org, id)? else {
        return Ok(ResultOutcome::NotFound);
    };
    if current.status == ApprovalStatus::Pending && current.expires_at <= now {
        expire_one(conn, org, id, now, changes)?;
    }
    let seq = next_change_seq(conn)?;
    let output_text = output.to_string();
    let updated = conn
        .prepare_cached(
            "UPDATE approvals SET exec_outcome = ?1, exec_output = ?2, exec_recorded_at = ?3,
                 change_seq = ?4
             WHERE org = ?5 AND id = ?6 AND status = 'approved' AND exec_outcome IS NULL",
        )?
        .execute(params![
            outcome_str(outcome),
            output_text,
            to_ms(now),
            seq,
            org,
            id
        ])?;
    let after = get_approval(conn, org, id)?
        .ok_or_else(|| ServerError::Corrupt(format!("{id} vanished while recording")))?;
    if updated == 0 {
        return Ok(if after.status != ApprovalStatus::Approved {
            ResultOutcome::NotApproved(after)
        } else {
            ResultOutcome::AlreadyRecorded(after)
        });
    }
    audit::append(
        conn,
        NewEntry {
            org,
            approval_id: id,
            event: AuditEvent::Executed,
            actor,
            at: now,
            notes: None,
            reason: None,
            data: json!({ "outcome": outcome_str(outcome), "output": output }),
        },
    )?;
    changes.push(Change {
        org: org.to_string(),
        id: id.to_string(),
        seq,
    });
    Ok(ResultOutcome::Recorded(after))
}
