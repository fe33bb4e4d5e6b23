//! Health, identity and the OpenAPI document.

use axum::extract::State;
use axum::Json;
use countersign_api::{ErrorResponse, WhoAmI};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "Ready", body = Object)))]
/// Answers once the server is ready (database open, listener bound).
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    state
        .db
        .read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(crate::error::ApiError::from)
        })
        .await?;
    Ok(Json(serde_json::json!({ "status": "ok" })))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "meta",
    responses((status = 200, body = WhoAmI), (status = 401, description = "Missing or unknown token", body = ErrorResponse)),
    security(("bearer" = [])))]
/// Who the bearer token belongs to.
pub async fn me(State(state): State<AppState>, Caller(owner, _): Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        subject: owner.subject,
        org_id: owner.org,
        role: owner.role,
        epoch: Some(state.db.epoch().to_string()),
    })
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}
