//! The HTTP surface: route table, fallbacks and layers.

pub mod agent;
pub mod approvals;
pub mod audit_head;
pub mod decisions;
pub mod devices;
pub mod events;
pub mod meta;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Router;
use countersign_api::codes;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

/// Largest request body accepted (params of a new approval can be sizeable JSON).
pub const BODY_LIMIT: usize = countersign_api::MAX_BODY_BYTES;

/// Where every approval endpoint lives.
pub const APPROVALS: &str = "/api/v1/orgs/{org}/approvals";

pub fn router(state: AppState) -> Router {
    let p = |suffix: &str| format!("{APPROVALS}{suffix}");
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/api/v1/openapi.json", get(meta::openapi))
        .route("/api/v1/me", get(meta::me))
        .route("/api/v1/server-key", get(audit_head::server_key))
        .route("/api/v1/orgs/{org}/audit/head", get(audit_head::head))
        .route(APPROVALS, get(approvals::list).post(agent::create_approval))
        .route(&p("/stats"), get(approvals::stats))
        .route(&p("/changes"), get(approvals::changes))
        .route(&p("/events"), get(events::events))
        .route(&p("/bulk-approve"), post(decisions::bulk_approve))
        .route(&p("/bulk-deny"), post(decisions::bulk_deny))
        .route(&p("/{id}"), get(approvals::get_one))
        .route(&p("/{id}/audit"), get(approvals::audit))
        .route(&p("/{id}/approve"), post(decisions::approve))
        .route(&p("/{id}/deny"), post(decisions::deny))
        .route(&p("/{id}/result"), post(agent::record_result))
        .route(
            "/api/v1/orgs/{org}/devices",
            get(devices::list).post(devices::register),
        )
        .route(
            "/api/v1/orgs/{org}/devices/{key_id}",
            delete(devices::revoke),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::rate_limit,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
