//! Health, identity and the OpenAPI document.

use axum::extract::State;
use axum::Json;
use countersign_api::WhoAmI;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

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

/// Who the bearer token belongs to.
pub async fn me(Caller(owner): Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        subject: owner.subject,
        org_id: owner.org,
        role: owner.role,
    })
}

pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}
