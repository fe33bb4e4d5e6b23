//! Device keys: `POST|GET /api/v1/orgs/{org}/devices`, `DELETE …/devices/{key_id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use countersign_api::{
    codes, DeviceList, ErrorResponse, RegisterDeviceRequest, RegisterDeviceResponse, Role,
};
use serde::Deserialize;

use crate::auth::OrgCaller;
use crate::db::devices::{self, Registered};
use crate::db::now;
use crate::db::tokens;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::validate;

/// Longest device name accepted, in characters.
const MAX_NAME_CHARS: usize = 200;

#[derive(Deserialize)]
pub struct KeyPath {
    #[allow(dead_code)] // checked by OrgCaller; named so the path deserialises
    pub org: String,
    pub key_id: String,
}

#[utoipa::path(post, path = "/api/v1/orgs/{org}/devices", tag = "devices",
    params(("org" = String, Path, description = "Org id, e.g. org-demo")),
    request_body = RegisterDeviceRequest,
    responses((status = 200, description = "Registered (the same key again answers the same id)", body = RegisterDeviceResponse), (status = 400, description = "Invalid input (not a 32-byte hex Ed25519 key, blank name)", body = ErrorResponse), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 403, description = "Not an approver token", body = ErrorResponse), (status = 404, description = "No such org (for this token)", body = ErrorResponse), (status = 409, description = "The key belongs to another approver or was revoked", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiJson(body): ApiJson<RegisterDeviceRequest>,
) -> ApiResult<Json<RegisterDeviceResponse>> {
    caller.require(Role::Approver, "registering a device")?;
    let key = hex::decode(&body.public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .filter(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_ok())
        .ok_or_else(|| {
            ApiError::validation("public_key must be a hex Ed25519 public key (64 hex digits)")
        })?;
    let name = body.name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::validation("name must not be blank"));
    }
    validate::text("name", &name, MAX_NAME_CHARS, validate::Lines::One)?;
    let (org, owner) = (caller.org().to_string(), caller.subject().to_string());
    let token_hash = caller.token_hash().to_string();
    let registered = state
        .db
        .write(move |conn| {
            devices::register_with_token(conn, &org, &owner, &key, &name, Some(&token_hash), now())
                .map_err(ApiError::from)
        })
        .await?;
    match registered {
        Registered::Ok(key_id) => Ok(Json(RegisterDeviceResponse { key_id })),
        Registered::Taken(key_id) => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::ALREADY_EXISTS,
            format!("device key {key_id} belongs to another approver or was revoked"),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/devices", tag = "devices",
    params(("org" = String, Path, description = "Org id, e.g. org-demo")),
    responses((status = 200, description = "Every device key of the org, revoked ones included (they verify the receipts they made before revocation)", body = DeviceList), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 404, description = "No such org (for this token)", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, caller: OrgCaller) -> ApiResult<Json<DeviceList>> {
    // Agents read this too: an executor verifies receipts with these keys.
    let org = caller.org().to_string();
    let items = state
        .db
        .read(move |conn| devices::list(conn, &org).map_err(ApiError::from))
        .await?;
    Ok(Json(DeviceList { items }))
}

#[utoipa::path(delete, path = "/api/v1/orgs/{org}/devices/{key_id}", tag = "devices",
    params(("org" = String, Path, description = "Org id, e.g. org-demo"), ("key_id" = String, Path, description = "Device key id, e.g. dev-1f2e3d4c5b6a7980")),
    responses((status = 204, description = "Revoked (revoking again is a no-op), together with the token that registered the key (its next request gets 401 token_revoked)"), (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 403, description = "Not an approver token, or someone else's device", body = ErrorResponse), (status = 404, description = "No such org (for this token) or device", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiPath(path): ApiPath<KeyPath>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Approver, "revoking a device")?;
    let (org, subject) = (caller.org().to_string(), caller.subject().to_string());
    state
        .db
        .write(move |conn| {
            let Some(device) = devices::get(conn, &org, &path.key_id)? else {
                return Err(ApiError::not_found("no such device"));
            };
            if device.owner != subject {
                return Err(ApiError::forbidden(
                    codes::FORBIDDEN,
                    "you can revoke only your own devices",
                ));
            }
            let tx = conn.transaction()?;
            let at = now();
            devices::revoke(&tx, &org, &path.key_id, at)?;
            // A lost laptop's key and its bearer token go together: revoke the token
            // that registered the key. Keys registered before this was recorded name
            // no token, and then no token is touched.
            if let Some(hash) = devices::registering_token(&tx, &org, &path.key_id)? {
                if tokens::revoke_hash(&tx, &hash, at)? {
                    tracing::info!(
                        org = %org,
                        token = %tokens::public_id(&hash),
                        device = %path.key_id,
                        by = %subject,
                        "token revoked with the device it registered"
                    );
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
