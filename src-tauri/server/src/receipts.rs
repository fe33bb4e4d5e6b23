//! Receipt checks: a signed decision is verified against the device keys before it
//! is applied, and `verify-audit` re-verifies every receipt in the chain.
//!
//! Besides the signature and the request it binds, the device must belong to the
//! approver who decides: a receipt is one person's signature, and another approver
//! who read it (the audit trail shows it to the org) must not be able to post it as
//! their own decision or count it as a second vote.

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use countersign_api::receipt::{Expected, ReceiptError};
use countersign_api::{codes, DecisionAuditData, DecisionKind, Receipt};
use rusqlite::Connection;

use crate::db::devices;
use crate::db::rows::get_approval;
use crate::db::schema;
use crate::error::{ApiError, ServerError};

fn refuse(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// What a decision request says, for matching against its receipt.
pub struct Claim<'a> {
    pub org: &'a str,
    pub id: &'a str,
    /// The caller: the approver the receipt's device must belong to.
    pub subject: &'a str,
    pub kind: DecisionKind,
    pub notes: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// Whether `org` requires every approver decision to carry a valid v2 receipt
/// (`--require-receipts`: `*` for every org, or the org's id).
pub fn required_in(rules: &[String], org: &str) -> bool {
    rules.iter().any(|r| r == "*" || r == org)
}

/// The 422 for a decision without the receipt its org requires.
pub fn required_error(why: &str) -> ApiError {
    refuse(
        codes::RECEIPT_REQUIRED,
        format!(
            "this org requires every decision to be signed by the approver's device \
             with a v2 receipt; {why}"
        ),
    )
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
    if device.owner != claim.subject {
        return Ok(Err(refuse(
            codes::RECEIPT_MISMATCH,
            format!(
                "the receipt was signed by device key {} of another approver; \
                 a decision carries the decider's own receipt",
                receipt.key_id
            ),
        )));
    }
    let epoch = schema::epoch(conn)?;
    let expected = Expected::for_approval(
        &approval,
        claim.kind,
        claim.notes,
        claim.reason,
        claim.subject,
        Some(&epoch),
    );
    let checked = receipt
        .verify_signature(&device.public_key)
        .and_then(|()| receipt.check_matches(&expected));
    Ok(match checked {
        Ok(()) => Ok(device.name),
        Err(ReceiptError::BadSignature(m)) => Err(refuse(codes::BAD_SIGNATURE, m)),
        Err(ReceiptError::Mismatch(m)) => Err(refuse(codes::RECEIPT_MISMATCH, m)),
    })
}

/// What `verify-audit` remembers across entries: the signers of each approval's
/// approves, so one person's receipt never stands for two votes.
#[derive(Default)]
pub struct Signers {
    by_approval: HashMap<(String, String), HashSet<String>>,
}

/// Re-verifies the receipt recorded in one audit entry of a decision (`verify-audit`).
/// `None` when it holds (or the entry records no receipt), else what is wrong.
///
/// The key is looked up in the devices table whether or not it was revoked since:
/// a revocation stops the key signing new decisions, it does not undo the decisions
/// it signed before. A receipt dated after its key's revocation is reported. The
/// device's owner must be the entry's actor (signer = decider), for v1 receipts too.
pub fn verify_entry(
    conn: &Connection,
    entry: &AuditedDecision<'_>,
    signers: &mut Signers,
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
    if device.owner != entry.actor {
        return Ok(Some(format!(
            "receipt signed with device key {} of {:?}, but the decision is {:?}'s",
            receipt.key_id, device.owner, entry.actor
        )));
    }
    let at = DateTime::parse_from_rfc3339(entry.at).map(|t| t.with_timezone(&Utc));
    if let (Some(revoked), Ok(at)) = (device.revoked_at, at) {
        if revoked < at {
            return Ok(Some(format!(
                "receipt applied at {at} with device key {} revoked at {revoked}",
                receipt.key_id
            )));
        }
    }
    let Some(approval) = get_approval(conn, entry.org, entry.approval_id)? else {
        return Ok(Some(format!(
            "receipt for {} which is not in the approvals table",
            entry.approval_id
        )));
    };
    if kind == DecisionKind::Approve {
        let seen = signers
            .by_approval
            .entry((entry.org.to_string(), entry.approval_id.to_string()))
            .or_default();
        if !seen.insert(device.owner.clone()) {
            return Ok(Some(format!(
                "{:?} signed two approves of {}: one signer counts once",
                device.owner, entry.approval_id
            )));
        }
    }
    let epoch = schema::epoch(conn)?;
    let expected = Expected::for_approval(
        &approval,
        kind,
        entry.notes,
        entry.reason,
        entry.actor,
        Some(&epoch),
    );
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
    pub actor: &'a str,
    pub at: &'a str,
    pub notes: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub data: &'a str,
}
