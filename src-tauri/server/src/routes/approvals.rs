//! Read endpoints: list, detail (with the agent's long-poll), stats, changes, audit.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use countersign_api::codes;
use countersign_api::ErrorResponse;
use countersign_api::{
    Approval, ApprovalList, ApprovalStatus, AuditTrail, ChangesPage, Stats, MAX_PAGE_LIMIT,
};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use crate::auth::OrgCaller;
use crate::db::approvals::{ListCursor, ListFilter};
use crate::db::{self, rows};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::links::LinkBase;
use crate::state::AppState;
use crate::validate::{self, Bound};

/// Default page size of the list.
pub const DEFAULT_LIST_LIMIT: u32 = 50;
/// Default page size of the change feed.
pub const DEFAULT_CHANGES_LIMIT: u32 = 200;
/// Longest agent long-poll, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;
/// Longest `q=` search text, in characters.
const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// One status or a comma-separated list (`pending,expired`); `all` or absent = any.
    pub status: Option<String>,
    /// Agent id, exact.
    pub agent: Option<String>,
    /// Action, exact (e.g. `kubernetes:deploy`).
    pub action: Option<String>,
    /// Reason code, exact (e.g. `amount_threshold`).
    pub reason: Option<String>,
    /// Created at or after: RFC 3339 or YYYY-MM-DD.
    pub from: Option<String>,
    /// Created before: RFC 3339, or YYYY-MM-DD for the end of that day.
    pub to: Option<String>,
    /// Text search over id, summary, agent, action, reason and params.
    pub q: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct IdPath {
    #[allow(dead_code)] // checked by OrgCaller; named so the path deserialises
    pub org: String,
    pub id: String,
}

fn parse_statuses(v: Option<&str>) -> Result<Vec<ApprovalStatus>, ApiError> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty() && *v != "all") else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(|s| {
            ApprovalStatus::parse(s.trim()).ok_or_else(|| {
                ApiError::bad_request(
                    codes::INVALID_QUERY,
                    format!("status {s:?} is not one of pending, approved, denied, expired, all"),
                )
            })
        })
        .collect()
}

fn non_blank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/approvals", tag = "approvals",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ListQuery),
    responses((status = 200, description = "Newest first", body = ApprovalList), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: OrgCaller,
    base: LinkBase,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let from = validate::time_param("from", q.from.as_deref(), Bound::Start)?;
    let to = validate::time_param("to", q.to.as_deref(), Bound::End)?;
    validate::range(from, to)?;
    let text = non_blank(q.q);
    if text
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            format!("q must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(ListCursor::decode(c).ok_or_else(|| {
            ApiError::bad_request(
                codes::INVALID_CURSOR,
                "cursor is not one this server issued",
            )
        })?),
    };
    let filter = ListFilter {
        statuses: parse_statuses(q.status.as_deref())?,
        agent: non_blank(q.agent),
        action: non_blank(q.action),
        reason: non_blank(q.reason),
        from,
        to,
        q: text,
        limit: validate::limit(q.limit.as_deref(), DEFAULT_LIST_LIMIT, MAX_PAGE_LIMIT)?,
        cursor,
        scope: caller.agent_scope(),
    };
    state.expire_overdue().await?;
    let org = caller.org().to_string();
    let body = state
        .db
        .read(move |conn| db::approvals::list(conn, &org, &filter, &base).map_err(ApiError::from))
        .await?;
    Ok(json_body(body))
}

/// A body already serialized as JSON (pages are built by [`crate::page`]).
fn json_body(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    /// Seconds to wait for a decision (agent long-poll), capped at 60.
    pub wait: Option<String>,
}

/// The approval, if the caller may see it: an agent token's approval of an agent id
/// it is not bound to is a 404 exactly like a missing one.
async fn load(state: &AppState, caller: &OrgCaller, id: &str) -> ApiResult<Approval> {
    state.expire_overdue().await?;
    let (org, id) = (caller.org().to_string(), id.to_string());
    state
        .db
        .read(move |conn| rows::get_approval(conn, &org, &id).map_err(ApiError::from))
        .await?
        .filter(|a| caller.may_see(&a.agent.id))
        .ok_or_else(|| ApiError::not_found("no such approval"))
}

/// The approval; with `wait=N`, holds the answer until it is decided or expired or N
/// seconds pass (the agent's side of ESCALATE).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/approvals/{id}", tag = "approvals",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ("id" = String, Path, description = "Approval id: appr- then 1 to 64 of a-z 0-9 _ -"), GetQuery),
    responses((status = 200, body = Approval), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: OrgCaller,
    base: LinkBase,
    ApiPath(path): ApiPath<IdPath>,
    ApiQuery(q): ApiQuery<GetQuery>,
) -> ApiResult<Json<Approval>> {
    validate::approval_id(&path.id)?;
    let wait = match q.wait.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(w) => w.parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                codes::INVALID_QUERY,
                "wait must be a whole number of seconds",
            )
        })?,
    }
    .min(MAX_WAIT_SECS);
    // Subscribe before the first read so a change in between is not missed.
    let mut rx = state.changes.subscribe();
    let mut shutdown = state.shutdown.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let a = load(&state, &caller, &path.id).await?;
        if a.status.is_final() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(base.apply(a)));
        }
        // Wake at the deadline, at expiry, on a change to this approval, or at shutdown.
        let to_expiry = (a.expires_at - db::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let wake = deadline.min(tokio::time::Instant::now() + to_expiry);
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(c) if c.org == a.org_id && c.id == a.id => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return Ok(Json(base.apply(a))),
                },
                _ = tokio::time::sleep_until(wake) => break,
                _ = shutdown.changed() => return Ok(Json(base.apply(a))),
            }
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Created at or after: RFC 3339 or YYYY-MM-DD.
    pub from: Option<String>,
    /// Created before: RFC 3339, or YYYY-MM-DD for the end of that day.
    pub to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/approvals/stats", tag = "approvals",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), StatsQuery),
    responses((status = 200, body = Stats), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn stats(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Json<Stats>> {
    let from = validate::time_param("from", q.from.as_deref(), Bound::Start)?;
    let to = validate::time_param("to", q.to.as_deref(), Bound::End)?;
    validate::range(from, to)?;
    state.expire_overdue().await?;
    let (org, scope) = (caller.org().to_string(), caller.agent_scope());
    let stats = state
        .db
        .read(move |conn| {
            db::stats::stats_in(conn, &org, scope.as_deref(), from, to).map_err(ApiError::from)
        })
        .await?;
    Ok(Json(stats))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The `next` of the previous page, or 0 to start.
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 200).
    pub limit: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/approvals/changes", tag = "sync",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ChangesQuery),
    responses((status = 200, description = "Changed after `after`, oldest change first", body = ChangesPage), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn changes(
    State(state): State<AppState>,
    caller: OrgCaller,
    base: LinkBase,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> ApiResult<Response> {
    let after = match q.after.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(a) => match a.parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => {
                return Err(ApiError::bad_request(
                    codes::INVALID_QUERY,
                    "after must be a change_seq (a whole number, 0 or more)",
                ))
            }
        },
    };
    let limit = validate::limit(q.limit.as_deref(), DEFAULT_CHANGES_LIMIT, MAX_PAGE_LIMIT)?;
    state.expire_overdue().await?;
    let (org, scope) = (caller.org().to_string(), caller.agent_scope());
    let epoch = state.db.epoch().to_string();
    let body = state
        .db
        .read(move |conn| {
            db::approvals::changes_in(conn, &org, scope.as_deref(), after, limit, &epoch, &base)
                .map_err(ApiError::from)
        })
        .await?;
    Ok(json_body(body))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/approvals/{id}/audit", tag = "audit",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ("id" = String, Path, description = "Approval id: appr- then 1 to 64 of a-z 0-9 _ -")),
    responses((status = 200, body = AuditTrail), (status = 400, description = "Invalid input", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiPath(path): ApiPath<IdPath>,
) -> ApiResult<Json<AuditTrail>> {
    validate::approval_id(&path.id)?;
    load(&state, &caller, &path.id).await?;
    let (org, id) = (caller.org().to_string(), path.id);
    let trail = state
        .db
        .read(move |conn| crate::audit::trail(conn, &org, &id).map_err(ApiError::from))
        .await?;
    Ok(Json(trail))
}
