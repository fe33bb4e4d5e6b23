//! Mapping between the `approvals` table and the wire `Approval`.

use countersign_api::{
    AgentRef, Approval, ApprovalStatus, ApprovalVote, Decision, DecisionKind, ExecutionOutcome,
    ExecutionResult,
};
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::de::DeserializeOwned;

use super::{from_ms, to_ms};
use crate::error::ServerError;

/// Column list matching `approval_from_row`, for `SELECT {COLUMNS} FROM approvals`.
pub const COLUMNS: &str = "org, id, agent_id, agent_name, agent_version, action, summary, status, \
     reason_code, reason_text, params, policy_trace, risk, created_at, expires_at, requested_by, \
     decision_kind, decided_by, decided_at, decision_notes, decision_reason, \
     exec_outcome, exec_output, exec_recorded_at, change_seq, required_approvals, approvals, \
     decision_receipt";

fn bad(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Text, msg.into())
}

fn json_col<T: DeserializeOwned>(row: &Row<'_>, col: usize) -> rusqlite::Result<T> {
    let text: String = row.get(col)?;
    serde_json::from_str(&text).map_err(|e| bad(col, e.to_string()))
}

pub fn approval_from_row(row: &Row<'_>) -> rusqlite::Result<Approval> {
    let status: String = row.get(7)?;
    let status =
        ApprovalStatus::parse(&status).ok_or_else(|| bad(7, format!("status {status}")))?;
    let decision_kind: Option<String> = row.get(16)?;
    let decision = match decision_kind.as_deref() {
        None => None,
        Some(kind) => Some(Decision {
            kind: match kind {
                "approve" => DecisionKind::Approve,
                "deny" => DecisionKind::Deny,
                other => return Err(bad(16, format!("decision kind {other}"))),
            },
            by: row.get::<_, Option<String>>(17)?.unwrap_or_default(),
            at: from_ms(row.get::<_, Option<i64>>(18)?.unwrap_or_default()),
            notes: row.get(19)?,
            reason: row.get(20)?,
            receipt: super::devices::stored_receipt(row.get(27)?),
        }),
    };
    let exec_outcome: Option<String> = row.get(21)?;
    let execution = match exec_outcome.as_deref() {
        None => None,
        Some(outcome) => Some(ExecutionResult {
            outcome: match outcome {
                "succeeded" => ExecutionOutcome::Succeeded,
                "failed" => ExecutionOutcome::Failed,
                other => return Err(bad(21, format!("outcome {other}"))),
            },
            output: match row.get::<_, Option<String>>(22)? {
                Some(text) => serde_json::from_str(&text).map_err(|e| bad(22, e.to_string()))?,
                None => serde_json::Value::Null,
            },
            recorded_at: from_ms(row.get::<_, Option<i64>>(23)?.unwrap_or_default()),
        }),
    };
    let mut approvals: Vec<ApprovalVote> = json_col(row, 26)?;
    if approvals.is_empty() {
        // Approved before quorum existed: its one approval is the decision.
        if let Some(d) = decision
            .as_ref()
            .filter(|d| d.kind == DecisionKind::Approve)
        {
            approvals.push(ApprovalVote {
                by: d.by.clone(),
                at: d.at,
                notes: d.notes.clone(),
                receipt: d.receipt.clone(),
            });
        }
    }
    let required_approvals: i64 = row.get(25)?;
    Ok(Approval {
        org_id: row.get(0)?,
        id: row.get(1)?,
        agent: AgentRef {
            id: row.get(2)?,
            name: row.get(3)?,
            version: row.get(4)?,
        },
        action: row.get(5)?,
        summary: row.get(6)?,
        status,
        reason_code: row.get(8)?,
        reason_text: row.get(9)?,
        params: json_col(row, 10)?,
        policy_trace: json_col(row, 11)?,
        risk: json_col(row, 12)?,
        created_at: from_ms(row.get(13)?),
        expires_at: from_ms(row.get(14)?),
        requested_by: row.get(15)?,
        decision,
        execution,
        change_seq: row.get(24)?,
        required_approvals: u8::try_from(required_approvals)
            .map_err(|_| bad(25, format!("required_approvals {required_approvals}")))?,
        approvals,
        links: None,
    })
}

pub fn get_approval(
    conn: &Connection,
    org: &str,
    id: &str,
) -> Result<Option<Approval>, ServerError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE org = ?1 AND id = ?2"
    ))?;
    Ok(stmt
        .query_row(params![org, id], approval_from_row)
        .optional()?)
}

/// Inserts a complete approval (any status); used by create and by the demo seed.
pub fn insert_approval(conn: &Connection, a: &Approval) -> Result<(), ServerError> {
    let d = a.decision.as_ref();
    let e = a.execution.as_ref();
    let exec_output = e.map(|e| serde_json::to_string(&e.output)).transpose()?;
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO approvals ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
         ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)"
    ))?;
    stmt.execute(params![
        a.org_id,
        a.id,
        a.agent.id,
        a.agent.name,
        a.agent.version,
        a.action,
        a.summary,
        a.status.as_str(),
        a.reason_code,
        a.reason_text,
        serde_json::to_string(&a.params)?,
        serde_json::to_string(&a.policy_trace)?,
        serde_json::to_string(&a.risk)?,
        to_ms(a.created_at),
        to_ms(a.expires_at),
        a.requested_by,
        d.map(|d| d.kind.as_str()),
        d.map(|d| d.by.as_str()),
        d.map(|d| to_ms(d.at)),
        d.and_then(|d| d.notes.as_deref()),
        d.and_then(|d| d.reason.as_deref()),
        e.map(|e| outcome_str(e.outcome)),
        exec_output,
        e.map(|e| to_ms(e.recorded_at)),
        a.change_seq,
        a.required_approvals,
        serde_json::to_string(&a.approvals)?,
        d.and_then(|d| d.receipt.as_ref())
            .map(serde_json::to_string)
            .transpose()?,
    ])?;
    Ok(())
}

pub fn outcome_str(o: ExecutionOutcome) -> &'static str {
    match o {
        ExecutionOutcome::Succeeded => "succeeded",
        ExecutionOutcome::Failed => "failed",
    }
}

/// The next change sequence number. Every change stores its number on the approval,
/// so the table's maximum is always the latest change.
pub fn next_change_seq(conn: &Connection) -> Result<i64, ServerError> {
    let max: Option<i64> = conn
        .prepare_cached("SELECT MAX(change_seq) FROM approvals")?
        .query_row([], |r| r.get(0))?;
    Ok(max.unwrap_or(0) + 1)
}

/// Latest change in one org (0 when it has none).
pub fn latest_change_seq(conn: &Connection, org: &str) -> Result<i64, ServerError> {
    let max: Option<i64> = conn
        .prepare_cached("SELECT MAX(change_seq) FROM approvals WHERE org = ?1")?
        .query_row([org], |r| r.get(0))?;
    Ok(max.unwrap_or(0))
}
