//! Receipt checks: a signed decision is verified against the device keys before it
//! is applied, and `verify-audit` re-verifies every receipt in the chain.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use countersign_api::receipt::{Expected, ReceiptError};
use countersign_api::{codes, DecisionAuditData, DecisionKind, Receipt};
use rusqlite::Connection;
use serde_json::Value;

use crate::db::devices;
use crate::db::rows::get_approval;
use crate::error::{ApiError, ServerError};

fn refuse(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// What a decision request says, for matching against its receipt.
pub struct Claim<'a> {
    pub org: &'a str,
    pub id: &'a str,
    pub kind: DecisionKind,
    pub notes: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// Checks `receipt` for the decision `claim` on a live request. `Ok(Ok(name))` is the
/// signing device's name; `Ok(Err(_))` the 4xx to answer (nothing applied).
pub fn check(
    conn: &Connection,
    claim: &Claim<'_>,
    receipt: &Receipt,
) -> Result<Result<String, ApiError>, ServerError> {
    let Some(approval) = get_approval(conn, claim.org, claim.id)? else {
        return Ok(Err(ApiError::not_found("no such approval")));
    };
    let device = match devices::get(conn, claim.org, &receipt.key_id)? {
        Some(d) if d.revoked_at.is_none() => d,
        Some(_) => {
            return Ok(Err(refuse(
                codes::UNKNOWN_DEVICE,
                format!(
                    "device key {} was revoked; sign in again on that device",
                    receipt.key_id
                ),
            )))
        }
        None => {
            return Ok(Err(refuse(
                codes::UNKNOWN_DEVICE,
                format!(
                    "device key {} is not registered in this org",
                    receipt.key_id
                ),
            )))
        }
    };
    let expected = Expected {
        org_id: claim.org,
        approval_id: claim.id,
        kind: claim.kind,
        params: &approval.params,
        notes: claim.notes,
        reason: claim.reason,
    };
    let checked = receipt
        .verify_signature(&device.public_key)
        .and_then(|()| receipt.check_matches(&expected));
    Ok(match checked {
        Ok(()) => Ok(device.name),
        Err(ReceiptError::BadSignature(m)) => Err(refuse(codes::BAD_SIGNATURE, m)),
        Err(ReceiptError::Mismatch(m)) => Err(refuse(codes::RECEIPT_MISMATCH, m)),
    })
}

/// Re-verifies the receipt recorded in one audit entry of a decision (`verify-audit`).
/// `None` when it holds (or the entry records no receipt), else what is wrong.
///
/// The key is looked up in the devices table whether or not it was revoked since:
/// a revocation stops the key signing new decisions, it does not undo the decisions
/// it signed before. A receipt dated after its key's revocation is reported.
pub fn verify_entry(
    conn: &Connection,
    entry: &AuditedDecision<'_>,
) -> Result<Option<String>, ServerError> {
    let kind = match entry.event {
        "approved" => DecisionKind::Approve,
        "denied" => DecisionKind::Deny,
        _ => return Ok(None),
    };
    // Entries written before receipts existed hold `null`: unsigned, nothing to check.
    let Ok(data) = serde_json::from_str::<DecisionAuditData>(entry.data) else {
        return Ok(None);
    };
    let Some(receipt) = data.receipt else {
        return Ok(None);
    };
    let Some(device) = devices::get(conn, entry.org, &receipt.key_id)? else {
        return Ok(Some(format!(
            "receipt signed by device key {} which is not registered",
            receipt.key_id
        )));
    };
    let at = DateTime::parse_from_rfc3339(entry.at).map(|t| t.with_timezone(&Utc));
    if let (Some(revoked), Ok(at)) = (device.revoked_at, at) {
        if revoked < at {
            return Ok(Some(format!(
                "receipt applied at {at} with device key {} revoked at {revoked}",
                receipt.key_id
            )));
        }
    }
    let params = get_approval(conn, entry.org, entry.approval_id)?
        .map(|a| a.params)
        .unwrap_or(Value::Null);
    let expected = Expected {
        org_id: entry.org,
        approval_id: entry.approval_id,
        kind,
        params: &params,
        notes: entry.notes,
        reason: entry.reason,
    };
    Ok(receipt
        .verify_signature(&device.public_key)
        .and_then(|()| receipt.check_matches(&expected))
        .err()
        .map(|e| format!("receipt does not verify: {e}")))
}

/// The fields of a stored audit entry that a receipt is checked against.
pub struct AuditedDecision<'a> {
    pub org: &'a str,
    pub approval_id: &'a str,
    pub event: &'a str,
    pub at: &'a str,
    pub notes: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub data: &'a str,
}
