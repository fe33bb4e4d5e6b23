//! The policy engine's side: raise an approval, record what execution did.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use countersign_api::codes;
use countersign_api::{
    Approval, ApprovalStatus, CreateApprovalRequest, ErrorResponse, RecordResultRequest,
    MAX_REQUIRED_APPROVALS,
};

use crate::auth::Agent;
use crate::db::approvals::{create, CreateOutcome};
use crate::db::decisions::{record_result as record, ResultInput, ResultOutcome};
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::links::LinkBase;
use crate::quorum;
use crate::routes::approvals::IdPath;
use crate::state::AppState;
use crate::validate::{self, Lines};

const MAX_AGENT_NAME: usize = 200;
const MAX_VERSION: usize = 64;
pub const MAX_SUMMARY: usize = 1000;
const MAX_REASON_TEXT: usize = 4000;
const MAX_TRACE_STEPS: usize = 100;
const MAX_TRACE_TEXT: usize = 1000;

fn check_create(req: &CreateApprovalRequest, default_expiry: chrono::Duration) -> ApiResult<()> {
    if let Some(id) = &req.id {
        validate::approval_id(id)?;
    }
    validate::identifier("agent.id", &req.agent.id)?;
    validate::optional_text(
        "agent.name",
        req.agent.name.as_deref(),
        MAX_AGENT_NAME,
        Lines::One,
    )?;
    validate::optional_text(
        "agent.version",
        req.agent.version.as_deref(),
        MAX_VERSION,
        Lines::One,
    )?;
    validate::identifier("action", &req.action)?;
    validate::text("summary", &req.summary, MAX_SUMMARY, Lines::One)?;
    validate::identifier("reason_code", &req.reason_code)?;
    validate::text(
        "reason_text",
        &req.reason_text,
        MAX_REASON_TEXT,
        Lines::Many,
    )?;
    if req.policy_trace.len() > MAX_TRACE_STEPS {
        return Err(ApiError::validation(format!(
            "policy_trace has more than {MAX_TRACE_STEPS} steps"
        )));
    }
    for (i, step) in req.policy_trace.iter().enumerate() {
        validate::text(
            &format!("policy_trace[{i}].step"),
            &step.step,
            MAX_TRACE_TEXT,
            Lines::One,
        )?;
        validate::optional_text(
            &format!("policy_trace[{i}].detail"),
            step.detail.as_deref(),
            MAX_TRACE_TEXT,
            Lines::Many,
        )?;
    }
    validate::optional_text(
        "risk.budget_unit",
        req.risk.budget_unit.as_deref(),
        MAX_TRACE_TEXT,
        Lines::One,
    )?;
    for (k, v) in &req.risk.extra {
        validate::chars(&format!("risk.{k} (the key)"), k, Lines::One)?;
        validate::json_texts(&format!("risk.{k}"), v)?;
        validate::exact_numbers(&format!("risk.{k}"), v)?;
    }
    validate::exact_numbers("params", &req.params)?;
    if let Some(n) = req.required_approvals {
        if !(1..=i64::from(MAX_REQUIRED_APPROVALS)).contains(&n) {
            return Err(ApiError::validation(format!(
                "required_approvals must be from 1 to {MAX_REQUIRED_APPROVALS}, not {n}"
            )));
        }
    }
    if let Some(secs) = req.expires_in_secs {
        let max = default_expiry.num_seconds();
        if secs == 0 || i64::try_from(secs).map_or(true, |s| s > max) {
            return Err(ApiError::validation(format!(
                "expires_in_secs must be from 1 to {max} (the server's expiry)"
            )));
        }
    }
    Ok(())
}

/// Builds the stored approval from a validated request.
pub fn new_approval(
    req: CreateApprovalRequest,
    org: &str,
    requested_by: &str,
    default_expiry: chrono::Duration,
) -> Approval {
    let created_at = now();
    // Never longer than the server's expiry, whatever the caller passed.
    let expiry = req
        .expires_in_secs
        .and_then(|s| i64::try_from(s).ok())
        .and_then(chrono::Duration::try_seconds)
        .map_or(default_expiry, |d| d.min(default_expiry));
    // Validated by `check_create`; the server's rules are applied by the caller.
    let required_approvals = req
        .required_approvals
        .and_then(|n| u8::try_from(n).ok())
        .unwrap_or(1);
    Approval {
        id: req.id.unwrap_or_else(|| {
            format!("appr-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
        }),
        org_id: org.to_string(),
        agent: req.agent,
        action: req.action,
        summary: req.summary,
        status: ApprovalStatus::Pending,
        reason_code: req.reason_code,
        reason_text: req.reason_text,
        params: req.params,
        policy_trace: req.policy_trace,
        risk: req.risk,
        created_at,
        expires_at: created_at + expiry,
        requested_by: requested_by.to_string(),
        decision: None,
        execution: None,
        required_approvals,
        approvals: Vec::new(),
        change_seq: 0,
        links: None,
    }
}

/// Validates and stores a new pending approval raised by `requested_by` (the body of
/// `POST /approvals`, also used by the demo trickle); 409 if the chosen id exists.
pub async fn raise_approval(
    state: &AppState,
    org: &str,
    requested_by: &str,
    req: CreateApprovalRequest,
) -> ApiResult<Approval> {
    check_create(&req, state.config.default_expiry)?;
    let mut approval = new_approval(req, org, requested_by, state.config.default_expiry);
    approval.required_approvals = quorum::required_for(
        &state.config.quorum,
        &approval.action,
        Some(approval.required_approvals),
    );
    let (outcome, changes) = state
        .db
        .write(move |conn| -> ApiResult<_> {
            let tx = conn.transaction()?;
            let mut changes = Vec::new();
            let outcome = create(&tx, approval, &mut changes)?;
            tx.commit()?;
            Ok((outcome, changes))
        })
        .await?;
    state.publish(changes);
    match outcome {
        CreateOutcome::Created(a) => Ok(a),
        CreateOutcome::AlreadyExists(a) => Err(ApiError::conflict(
            codes::ALREADY_EXISTS,
            format!("an approval with id {} already exists", a.id),
            a,
        )),
    }
}

#[utoipa::path(post, path = "/api/v1/orgs/{org}/approvals", tag = "agent",
    params(("org" = String, Path, description = "Org id, e.g. org-demo")),
    request_body = CreateApprovalRequest,
    responses((status = 201, description = "Created, pending", body = Approval), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 403, description = "Not an agent token (`forbidden`), or agent.id is not one this token is bound to (`agent_not_allowed`)", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse), (status = 409, description = "Already decided, expired, or not executable; carries the current approval", body = ErrorResponse), (status = 413, description = "Body too large", body = ErrorResponse), (status = 415, description = "Body is not JSON", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn create_approval(
    State(state): State<AppState>,
    Agent(caller): Agent,
    base: LinkBase,
    ApiJson(req): ApiJson<CreateApprovalRequest>,
) -> ApiResult<(StatusCode, Json<Approval>)> {
    // Validated first, so a malformed agent.id is a 400 naming the field, not a 403.
    check_create(&req, state.config.default_expiry)?;
    if !caller.may_see(&req.agent.id) {
        return Err(ApiError::forbidden(
            codes::AGENT_NOT_ALLOWED,
            format!(
                "this token may not raise approvals for agent.id {:?} (it is bound to {})",
                req.agent.id,
                caller.agent_scope().unwrap_or_default().join(", ")
            ),
        ));
    }
    let a = raise_approval(&state, caller.org(), caller.subject(), req).await?;
    Ok((StatusCode::CREATED, Json(base.apply(a))))
}

/// `POST /approvals/{id}/result`: once, and only for an approved approval.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/approvals/{id}/result", tag = "agent",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ("id" = String, Path, description = "Approval id: appr- then 1 to 64 of a-z 0-9 _ -")),
    request_body = RecordResultRequest,
    responses((status = 200, body = Approval), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 403, description = "Wrong role, or deciding one's own request", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse), (status = 409, description = "Already decided, expired, or not executable; carries the current approval", body = ErrorResponse), (status = 413, description = "Body too large", body = ErrorResponse), (status = 415, description = "Body is not JSON", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn record_result(
    State(state): State<AppState>,
    Agent(caller): Agent,
    base: LinkBase,
    ApiPath(path): ApiPath<IdPath>,
    ApiJson(req): ApiJson<RecordResultRequest>,
) -> ApiResult<Json<Approval>> {
    validate::approval_id(&path.id)?;
    validate::exact_numbers("output", &req.output)?;
    validate::json_texts("output", &req.output)?;
    let (org, actor, id) = (
        caller.org().to_string(),
        caller.subject().to_string(),
        path.id,
    );
    let scope = caller.agent_scope();
    let (outcome, changes) = state
        .db
        .write(move |conn| -> ApiResult<_> {
            let tx = conn.transaction()?;
            let mut changes = Vec::new();
            // Another agent's approval is a 404, exactly like a missing one.
            let visible = crate::db::rows::get_approval(&tx, &org, &id)?.is_some_and(|a| {
                scope.as_ref().is_none_or(|s| {
                    s.iter()
                        .any(|b| crate::db::tokens::binding_matches(b, &a.agent.id))
                })
            });
            if !visible {
                return Ok((ResultOutcome::NotFound, changes));
            }
            let input = ResultInput {
                actor: &actor,
                outcome: req.outcome,
                output: &req.output,
                now: now(),
            };
            let outcome = record(&tx, &org, &id, &input, &mut changes)?;
            tx.commit()?;
            Ok((outcome, changes))
        })
        .await?;
    state.publish(changes);
    match outcome {
        ResultOutcome::Recorded(a) => Ok(Json(base.apply(a))),
        ResultOutcome::NotFound => Err(ApiError::not_found("no such approval")),
        ResultOutcome::NotApproved(a) => Err(ApiError::conflict(
            codes::NOT_APPROVED,
            format!(
                "{} is {}; only an approved action may be executed",
                a.id, a.status
            ),
            a,
        )),
        ResultOutcome::AlreadyRecorded(a) => Err(ApiError::conflict(
            codes::ALREADY_EXECUTED,
            format!("the result of {} was already recorded", a.id),
            a,
        )),
    }
}
