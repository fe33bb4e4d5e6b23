//! The audit chain's signed head (`GET …/audit/head`) and the key it is signed with
//! (`GET /api/v1/server-key`). See [`countersign_api::audit_head`].

use axum::extract::State;
use axum::Json;
use countersign_api::receipt::RECEIPT_ALG;
use countersign_api::{AuditHead, AuditHeadSigned, ErrorResponse, ServerKey};
use serde::Deserialize;

use crate::audit;
use crate::auth::OrgCaller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HeadQuery {
    /// Instead of the latest entry, the org's entry at this seq (a client checking
    /// that the head it remembers is still in the chain). 404 when that seq is not
    /// one of the org's entries.
    #[param(minimum = 0)]
    pub seq: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit/head", tag = "audit",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), HeadQuery),
    responses((status = 200, description = "The org's latest entry in the server-wide chain (seq 0 and an all-zero hash when it has none), signed with the server key", body = AuditHead), (status = 400, description = "Invalid query", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 404, description = "No such org (for this token), or no entry of the org at that seq", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn head(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiQuery(q): ApiQuery<HeadQuery>,
) -> ApiResult<Json<AuditHead>> {
    if q.seq.is_some_and(|s| s < 0) {
        return Err(ApiError::bad_request(
            countersign_api::codes::INVALID_QUERY,
            "seq must be 0 or more",
        ));
    }
    let org = caller.org().to_string();
    let found = {
        let org = org.clone();
        state
            .db
            .read(move |conn| audit::org_entry(conn, &org, q.seq).map_err(ApiError::from))
            .await?
    };
    let Some((seq, hash)) = found else {
        return Err(ApiError::not_found(
            "no audit entry of this org at that seq",
        ));
    };
    let head = state.audit_key.sign(AuditHeadSigned {
        org_id: org,
        seq,
        hash,
        signed_at: crate::db::now(),
    })?;
    Ok(Json(head))
}

#[utoipa::path(get, path = "/api/v1/server-key", tag = "audit",
    responses((status = 200, description = "The Ed25519 public key that signs audit heads", body = ServerKey)))]
/// Public: it is a public key, and a client pins it on first sight.
pub async fn server_key(State(state): State<AppState>) -> Json<ServerKey> {
    Json(ServerKey {
        alg: RECEIPT_ALG.to_string(),
        public_key: state.audit_key.public_key().to_string(),
    })
}
