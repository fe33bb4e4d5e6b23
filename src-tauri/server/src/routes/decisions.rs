//! Approve and deny, single and bulk, with `Idempotency-Key` replay.
//!
//! All of a request's work (replay lookup, compare-and-set, audit entry, stored
//! answer) happens in one transaction on the writer connection, so a retry either
//! sees the stored answer or finds nothing was written.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_api::codes;
use countersign_api::{
    Approval, ApproveRequest, BulkApproveRequest, BulkDenyRequest, BulkItemResult, BulkResponse,
    DecisionKind, DecisionResponse, DenyRequest, ErrorDetail, ErrorResponse, Receipt, MAX_BULK_IDS,
};
use rusqlite::Connection;

use crate::auth::{Approver, OrgCaller};
use crate::db::decisions::{decide, DecideOutcome, DecisionInput};
use crate::db::idempotency::{self, Scope, StoredAnswer};
use crate::db::{now, Change};
use crate::error::{ApiError, ApiResult, ServerError};
use crate::extract::{ApiJson, ApiPath, IdempotencyKey};
use crate::receipts::{self, Claim};
use crate::routes::approvals::IdPath;
use crate::state::AppState;
use crate::validate;

/// A decision to apply, already validated.
#[derive(Clone)]
struct Request {
    kind: DecisionKind,
    notes: Option<String>,
    reason: Option<String>,
    /// The org requires a v2 receipt on every decision (`--require-receipts`).
    receipt_required: bool,
}

impl Request {
    /// Canonical form for the idempotency hash: same fields, same text.
    fn canonical(&self, id: &str) -> String {
        serde_json::json!([self.kind.as_str(), id, self.notes, self.reason]).to_string()
    }
}

/// Outcome of one decision attempt as an HTTP status and error (or the approval).
enum Answer {
    Ok(Box<Approval>),
    Err(ApiError),
}

fn decide_item(
    conn: &Connection,
    org: &str,
    subject: &str,
    id: &str,
    req: &Request,
    receipt: Option<&Receipt>,
    changes: &mut Vec<Change>,
) -> Result<Answer, ServerError> {
    // A signed decision is verified before anything is applied.
    if req.receipt_required {
        match receipt.map(|r| r.signed.version()) {
            None => {
                return Ok(Answer::Err(receipts::required_error(
                    "this one carries no receipt",
                )))
            }
            Some(Ok(1)) => {
                return Ok(Answer::Err(receipts::required_error(
                    "this one carries a v1 receipt, which does not name the signer or the whole request",
                )))
            }
            // A v2, or a malformed version the check below refuses as such.
            Some(_) => {}
        }
    }
    let device = match receipt {
        Some(receipt) => {
            let claim = Claim {
                org,
                id,
                subject,
                kind: req.kind,
                notes: req.notes.as_deref(),
                reason: req.reason.as_deref(),
            };
            match receipts::check(conn, &claim, receipt)? {
                Ok(name) => Some(name),
                Err(e) => return Ok(Answer::Err(e)),
            }
        }
        None => None,
    };
    let input = DecisionInput {
        kind: req.kind,
        by: subject,
        notes: req.notes.as_deref(),
        reason: req.reason.as_deref(),
        now: now(),
        receipt: receipt.zip(device.as_deref()),
    };
    Ok(match decide(conn, org, id, &input, changes)? {
        DecideOutcome::Decided(a) => Answer::Ok(Box::new(a)),
        DecideOutcome::NotFound => Answer::Err(ApiError::not_found("no such approval")),
        DecideOutcome::SelfApproval => Answer::Err(ApiError::forbidden(
            codes::SELF_APPROVAL,
            "you cannot decide a request raised under your own identity",
        )),
        DecideOutcome::AlreadyDecided(a) => Answer::Err(ApiError::conflict(
            codes::ALREADY_DECIDED,
            format!("{id} was already {} by {}", a.status, decided_by(&a)),
            a,
        )),
        DecideOutcome::AlreadyApproved(a) => Answer::Err(ApiError::conflict(
            codes::ALREADY_APPROVED,
            format!(
                "you already approved {id}; it waits for {} more approval(s)",
                a.approvals_missing()
            ),
            a,
        )),
        DecideOutcome::Expired(a) => Answer::Err(ApiError::conflict(
            codes::EXPIRED,
            format!(
                "{id} expired at {} and can no longer be decided",
                a.expires_at
            ),
            a,
        )),
    })
}

fn decided_by(a: &Approval) -> &str {
    a.decision
        .as_ref()
        .map_or("someone else", |d| d.by.as_str())
}

fn mismatch() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::IDEMPOTENCY_MISMATCH,
        "this Idempotency-Key was already used with a different request",
    )
}

/// Stores only answers that reflect the approval's state (a decision or a 409), so a
/// retry after a transient failure is evaluated afresh.
fn worth_storing(status: u16) -> bool {
    status == 200 || status == 409
}

fn json_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// What one keyed decision answered.
enum Keyed {
    /// HTTP status and JSON body exactly as the single endpoint sends them: a
    /// `DecisionResponse` (200) or an `ErrorResponse`.
    Answer(u16, String),
    /// The key was used before with a different request.
    Mismatch,
}

/// What came with one decision besides the shared request: its idempotency key and
/// its receipt, either of which may be absent.
#[derive(Clone, Copy)]
struct Sent<'a> {
    key: Option<&'a str>,
    receipt: Option<&'a Receipt>,
}

/// One decision under an optional idempotency key, as `POST /{id}/approve|deny`
/// answers it. A bulk item carrying its own key goes through here too, with the same
/// request hash and the same stored form, so the single and bulk endpoints replay each
/// other's answers: a decision may be retried alone or in any regrouped bulk.
fn decide_keyed(
    tx: &Connection,
    org: &str,
    subject: &str,
    id: &str,
    req: &Request,
    sent: Sent<'_>,
    changes: &mut Vec<Change>,
) -> Result<Keyed, ServerError> {
    let Sent { key, receipt } = sent;
    let endpoint = format!("{}:{id}", req.kind.as_str());
    let hash = idempotency::request_hash(&endpoint, &req.canonical(id));
    let scope = key.map(|key| Scope { org, subject, key });
    if let Some(scope) = &scope {
        if let Some(stored) = idempotency::lookup(tx, scope)? {
            if stored.request_hash != hash {
                return Ok(Keyed::Mismatch);
            }
            return Ok(Keyed::Answer(stored.status, stored.body));
        }
    }
    let (status, body) = match decide_item(tx, org, subject, id, req, receipt, changes)? {
        Answer::Ok(approval) => {
            let approval = *approval;
            let change_seq = approval.change_seq;
            let body = serde_json::to_string(&DecisionResponse {
                approval,
                change_seq,
            })?;
            (200, body)
        }
        Answer::Err(e) => (e.status.as_u16(), serde_json::to_string(&e.body())?),
    };
    if let Some(scope) = &scope {
        if worth_storing(status) {
            let answer = StoredAnswer {
                request_hash: hash,
                status,
                body: body.clone(),
            };
            idempotency::store(tx, scope, &endpoint, &answer, now())?;
        }
    }
    Ok(Keyed::Answer(status, body))
}

async fn single(
    state: AppState,
    caller: OrgCaller,
    id: String,
    key: Option<String>,
    mut req: Request,
    receipt: Option<Receipt>,
) -> ApiResult<Response> {
    validate::approval_id(&id)?;
    req.receipt_required = receipts::required_in(&state.config.require_receipts, caller.org());
    let (org, subject) = (caller.org().to_string(), caller.subject().to_string());
    let (status, body, changes) = state
        .db
        .write(move |conn| -> Result<_, ApiError> {
            let tx = conn.transaction().map_err(ServerError::from)?;
            let mut changes = Vec::new();
            let keyed = decide_keyed(
                &tx,
                &org,
                &subject,
                &id,
                &req,
                Sent {
                    key: key.as_deref(),
                    receipt: receipt.as_ref(),
                },
                &mut changes,
            )?;
            let Keyed::Answer(status, body) = keyed else {
                return Err(mismatch());
            };
            tx.commit().map_err(ServerError::from)?;
            Ok((status, body, changes))
        })
        .await?;
    state.publish(changes);
    Ok(json_response(status, body))
}

#[utoipa::path(post, path = "/api/v1/orgs/{org}/approvals/{id}/approve", tag = "decisions",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ("id" = String, Path, description = "Approval id: appr- then 1 to 64 of a-z 0-9 _ -"), ("Idempotency-Key" = Option<String>, Header, description = "Retry key: a repeat with the same key and body replays the first answer; a different body is a 422. Kept 7 days.")),
    request_body(content = ApproveRequest, description = "Optional notes; an empty body is allowed"),
    responses((status = 200, description = "Approved, or for a quorum approval this approve recorded while it still waits for others (status pending, listed in approvals)", body = DecisionResponse), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 403, description = "Wrong role, or deciding one's own request", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse), (status = 409, description = "Already decided, expired, or (already_approved) this approver already approved a quorum approval; carries the current approval", body = ErrorResponse), (status = 413, description = "Body too large", body = ErrorResponse), (status = 415, description = "Body is not JSON", body = ErrorResponse), (status = 422, description = "Idempotency-Key reused with a different request (idempotency_mismatch), or a receipt refused: unknown_device, bad_signature, receipt_mismatch (also: the device is another approver's, or a v2 receipt names another request or server epoch), receipt_required (the org requires a v2 receipt: --require-receipts); nothing applied", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    Approver(caller): Approver,
    ApiPath(path): ApiPath<IdPath>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<ApproveRequest>,
) -> ApiResult<Response> {
    let req = Request {
        kind: DecisionKind::Approve,
        notes: validate::notes(body.notes)?,
        reason: None,
        receipt_required: false,
    };
    single(state, caller, path.id, key, req, body.receipt).await
}

#[utoipa::path(post, path = "/api/v1/orgs/{org}/approvals/{id}/deny", tag = "decisions",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ("id" = String, Path, description = "Approval id: appr- then 1 to 64 of a-z 0-9 _ -"), ("Idempotency-Key" = Option<String>, Header, description = "Retry key: a repeat with the same key and body replays the first answer; a different body is a 422. Kept 7 days.")),
    request_body = DenyRequest,
    responses((status = 200, body = DecisionResponse), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 403, description = "Wrong role, or deciding one's own request", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse), (status = 409, description = "Already decided, expired, or not executable; carries the current approval", body = ErrorResponse), (status = 413, description = "Body too large", body = ErrorResponse), (status = 415, description = "Body is not JSON", body = ErrorResponse), (status = 422, description = "Idempotency-Key reused with a different request (idempotency_mismatch), or a receipt refused: unknown_device, bad_signature, receipt_mismatch (also: the device is another approver's, or a v2 receipt names another request or server epoch), receipt_required (the org requires a v2 receipt: --require-receipts); nothing applied", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn deny(
    State(state): State<AppState>,
    Approver(caller): Approver,
    ApiPath(path): ApiPath<IdPath>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<DenyRequest>,
) -> ApiResult<Response> {
    let req = Request {
        kind: DecisionKind::Deny,
        notes: validate::notes(body.notes)?,
        reason: Some(validate::deny_reason(body.reason)?),
        receipt_required: false,
    };
    single(state, caller, path.id, key, req, body.receipt).await
}

/// Per-item keys from the body: one per id, each a valid key, no key twice, and not
/// together with the header (which key would win would be a guess).
fn check_item_keys(
    ids: &[String],
    keys: Option<&[String]>,
    header: Option<&str>,
) -> Result<(), ApiError> {
    let Some(keys) = keys else {
        return Ok(());
    };
    if header.is_some() {
        return Err(ApiError::validation(
            "send either the Idempotency-Key header or idempotency_keys, not both",
        ));
    }
    if keys.len() != ids.len() {
        return Err(ApiError::validation(format!(
            "idempotency_keys holds {} keys for {} approval_ids; one key per id",
            keys.len(),
            ids.len()
        )));
    }
    if let Some(bad) = keys.iter().find(|k| !idempotency::is_valid_key(k)) {
        return Err(ApiError::bad_request(
            codes::INVALID_IDEMPOTENCY_KEY,
            format!(
                "idempotency key {bad:?} is not 1 to {} visible ASCII characters",
                idempotency::MAX_KEY_LEN
            ),
        ));
    }
    let mut seen = HashSet::with_capacity(keys.len());
    if let Some(dup) = keys.iter().find(|k| !seen.insert(k.as_str())) {
        return Err(ApiError::validation(format!(
            "idempotency_keys lists {dup:?} more than once"
        )));
    }
    Ok(())
}

fn check_ids(ids: &[String]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Err(ApiError::validation("approval_ids must not be empty"));
    }
    if ids.len() > MAX_BULK_IDS {
        return Err(ApiError::validation(format!(
            "approval_ids holds {} ids; at most {MAX_BULK_IDS} per request",
            ids.len()
        )));
    }
    let mut seen = HashSet::with_capacity(ids.len());
    if let Some(dup) = ids.iter().find(|id| !seen.insert(id.as_str())) {
        return Err(ApiError::validation(format!(
            "approval_ids lists {dup:?} more than once"
        )));
    }
    Ok(())
}

fn item_result(id: &str, answer: Answer) -> BulkItemResult {
    match answer {
        Answer::Ok(a) => BulkItemResult {
            id: id.to_string(),
            ok: true,
            status: 200,
            approval: Some(*a),
            error: None,
        },
        Answer::Err(e) => BulkItemResult {
            id: id.to_string(),
            ok: false,
            status: e.status.as_u16(),
            error: Some(ErrorDetail {
                code: e.code.to_string(),
                message: e.message,
            }),
            approval: e.approval.map(|a| *a),
        },
    }
}

/// A single-endpoint answer (status and body) as a bulk item.
fn item_from_answer(id: &str, status: u16, body: &str) -> Result<BulkItemResult, ServerError> {
    Ok(if status == 200 {
        let r: DecisionResponse = serde_json::from_str(body)?;
        BulkItemResult {
            id: id.to_string(),
            ok: true,
            status,
            approval: Some(r.approval),
            error: None,
        }
    } else {
        let e: ErrorResponse = serde_json::from_str(body)?;
        BulkItemResult {
            id: id.to_string(),
            ok: false,
            status,
            approval: e.approval,
            error: Some(e.error),
        }
    })
}

/// Each id is decided on its own (one bad id does not sink the rest) and each is
/// idempotent on its own: under its key from `idempotency_keys`, exactly like a single
/// decision with that key, or else under `<Idempotency-Key>/<id>`.
async fn bulk(
    state: AppState,
    caller: OrgCaller,
    ids: Vec<String>,
    key: Option<String>,
    item_keys: Option<Vec<String>>,
    mut req: Request,
    item_receipts: Option<Vec<Option<Receipt>>>,
) -> ApiResult<Response> {
    check_ids(&ids)?;
    req.receipt_required = receipts::required_in(&state.config.require_receipts, caller.org());
    check_item_keys(&ids, item_keys.as_deref(), key.as_deref())?;
    if let Some(r) = &item_receipts {
        if r.len() != ids.len() {
            return Err(ApiError::validation(format!(
                "receipts holds {} receipts for {} approval_ids; one receipt per id",
                r.len(),
                ids.len()
            )));
        }
    }
    let (org, subject) = (caller.org().to_string(), caller.subject().to_string());
    let (response, changes) = state
        .db
        .write(move |conn| -> Result<_, ApiError> {
            let tx = conn.transaction().map_err(ServerError::from)?;
            let mut changes = Vec::new();
            let mut results = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                let receipt = item_receipts.as_ref().and_then(|r| r[i].as_ref());
                if let Err(e) = validate::approval_id(id) {
                    results.push(item_result(id, Answer::Err(e)));
                    continue;
                }
                if let Some(keys) = &item_keys {
                    let item = match decide_keyed(
                        &tx,
                        &org,
                        &subject,
                        id,
                        &req,
                        Sent {
                            key: Some(&keys[i]),
                            receipt,
                        },
                        &mut changes,
                    )? {
                        Keyed::Answer(status, body) => item_from_answer(id, status, &body)?,
                        Keyed::Mismatch => item_result(id, Answer::Err(mismatch())),
                    };
                    results.push(item);
                    continue;
                }
                let endpoint = format!("bulk-{}:{id}", req.kind.as_str());
                let hash = idempotency::request_hash(&endpoint, &req.canonical(id));
                let item_key = key.as_ref().map(|k| format!("{k}/{id}"));
                let scope = item_key.as_deref().map(|key| Scope {
                    org: &org,
                    subject: &subject,
                    key,
                });
                if let Some(scope) = &scope {
                    if let Some(stored) = idempotency::lookup(&tx, scope)? {
                        let item = if stored.request_hash == hash {
                            serde_json::from_str(&stored.body).map_err(ServerError::from)?
                        } else {
                            item_result(id, Answer::Err(mismatch()))
                        };
                        results.push(item);
                        continue;
                    }
                }
                let item = item_result(
                    id,
                    decide_item(&tx, &org, &subject, id, &req, receipt, &mut changes)?,
                );
                if let Some(scope) = &scope {
                    if worth_storing(item.status) {
                        let answer = StoredAnswer {
                            request_hash: hash,
                            status: item.status,
                            body: serde_json::to_string(&item).map_err(ServerError::from)?,
                        };
                        idempotency::store(&tx, scope, &endpoint, &answer, now())?;
                    }
                }
                results.push(item);
            }
            tx.commit().map_err(ServerError::from)?;
            let succeeded = results.iter().filter(|r| r.ok).count();
            let response = BulkResponse {
                failed: results.len() - succeeded,
                succeeded,
                results,
            };
            Ok((response, changes))
        })
        .await?;
    state.publish(changes);
    Ok(axum::Json(response).into_response())
}

#[utoipa::path(post, path = "/api/v1/orgs/{org}/approvals/bulk-approve", tag = "decisions",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ("Idempotency-Key" = Option<String>, Header, description = "Retry key: a repeat with the same key and body replays the first answer; a different body is a 422. Kept 7 days.")),
    request_body = BulkApproveRequest,
    responses((status = 200, description = "Per-id results", body = BulkResponse), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 403, description = "Wrong role, or deciding one's own request", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse), (status = 413, description = "Body too large", body = ErrorResponse), (status = 415, description = "Body is not JSON", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn bulk_approve(
    State(state): State<AppState>,
    Approver(caller): Approver,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<BulkApproveRequest>,
) -> ApiResult<Response> {
    let req = Request {
        kind: DecisionKind::Approve,
        notes: validate::notes(body.notes)?,
        reason: None,
        receipt_required: false,
    };
    bulk(
        state,
        caller,
        body.approval_ids,
        key,
        body.idempotency_keys,
        req,
        body.receipts,
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/orgs/{org}/approvals/bulk-deny", tag = "decisions",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ("Idempotency-Key" = Option<String>, Header, description = "Retry key: a repeat with the same key and body replays the first answer; a different body is a 422. Kept 7 days.")),
    request_body = BulkDenyRequest,
    responses((status = 200, description = "Per-id results", body = BulkResponse), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 403, description = "Wrong role, or deciding one's own request", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse), (status = 413, description = "Body too large", body = ErrorResponse), (status = 415, description = "Body is not JSON", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn bulk_deny(
    State(state): State<AppState>,
    Approver(caller): Approver,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<BulkDenyRequest>,
) -> ApiResult<Response> {
    let req = Request {
        kind: DecisionKind::Deny,
        notes: validate::notes(body.notes)?,
        reason: Some(validate::deny_reason(body.reason)?),
        receipt_required: false,
    };
    bulk(
        state,
        caller,
        body.approval_ids,
        key,
        body.idempotency_keys,
        req,
        body.receipts,
    )
    .await
}
