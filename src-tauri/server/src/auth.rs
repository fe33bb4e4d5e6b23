//! Bearer-token authentication and the org/role checks every request goes through.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use countersign_api::codes;
use countersign_api::Role;

use crate::db::tokens::{lookup_token, TokenOwner};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;

/// The authenticated caller (any org).
#[derive(Debug, Clone)]
pub struct Caller(pub TokenOwner);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(ApiError::unauthorized(
                    "expected Authorization: Bearer <token>",
                ))
            }
        };
        if token.is_empty() {
            return Err(ApiError::unauthorized("empty bearer token"));
        }
        let token = token.to_string();
        let owner = state
            .db
            .read(move |conn| lookup_token(conn, &token).map_err(ApiError::from))
            .await?;
        owner
            .map(Caller)
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))
    }
}

/// A caller authorised for the `{org}` in the path. A token of another org gets a
/// 404, exactly as if the org did not exist, so nothing leaks about other orgs.
#[derive(Debug, Clone)]
pub struct OrgCaller(pub TokenOwner);

impl FromRequestParts<AppState> for OrgCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(owner) = Caller::from_request_parts(parts, state).await?;
        let ApiPath(params) =
            ApiPath::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        match params.get("org") {
            Some(org) if *org == owner.org => Ok(OrgCaller(owner)),
            _ => Err(ApiError::not_found("no such org or approval")),
        }
    }
}

impl OrgCaller {
    pub fn org(&self) -> &str {
        &self.0.org
    }

    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    pub fn require(&self, role: Role, what: &str) -> Result<(), ApiError> {
        if self.0.role == role {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                codes::FORBIDDEN,
                format!(
                    "{what} needs an {} token",
                    crate::db::tokens::role_str(role)
                ),
            ))
        }
    }
}

/// An org caller holding an approver token (403 otherwise). Checked before the body
/// is read, so an agent gets its 403 whatever it sent.
#[derive(Debug, Clone)]
pub struct Approver(pub OrgCaller);

impl FromRequestParts<AppState> for Approver {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = OrgCaller::from_request_parts(parts, state).await?;
        caller.require(Role::Approver, "deciding approvals")?;
        Ok(Approver(caller))
    }
}

/// An org caller holding an agent token (403 otherwise).
#[derive(Debug, Clone)]
pub struct Agent(pub OrgCaller);

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = OrgCaller::from_request_parts(parts, state).await?;
        caller.require(Role::Agent, "this endpoint (the policy engine's side)")?;
        Ok(Agent(caller))
    }
}
