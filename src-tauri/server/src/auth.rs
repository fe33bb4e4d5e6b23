//! Bearer-token authentication and the org/role checks every request goes through.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use countersign_api::codes;
use countersign_api::Role;

use crate::db::tokens::{self, TokenOwner, TokenRecord, TokenState};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;

/// The authenticated caller (any org): the owner of a known token that is neither
/// revoked nor expired.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenOwner, pub TokenRecord);

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
        let record = state
            .db
            .read(move |conn| tokens::lookup(conn, &token).map_err(ApiError::from))
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
        // Checked on every request: a revocation or an expiry takes effect at once.
        // Revoked and expired get their own codes so a client can say "sign in again"
        // rather than "wrong token"; an unknown token learns nothing.
        match record.state_at(crate::db::now()) {
            TokenState::Valid => Ok(Caller(record.owner.clone(), record)),
            TokenState::Revoked => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                codes::TOKEN_REVOKED,
                "this token was revoked; sign in again with a new one",
            )),
            TokenState::Expired => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                codes::TOKEN_EXPIRED,
                "this token has expired; sign in again with a new one",
            )),
        }
    }
}

/// A caller authorised for the `{org}` in the path. A token of another org gets a
/// 404, exactly as if the org did not exist, so nothing leaks about other orgs.
#[derive(Debug, Clone)]
pub struct OrgCaller(pub TokenOwner, pub TokenRecord);

impl FromRequestParts<AppState> for OrgCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(owner, record) = Caller::from_request_parts(parts, state).await?;
        let ApiPath(params) =
            ApiPath::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        match params.get("org") {
            Some(org) if *org == owner.org => Ok(OrgCaller(owner, record)),
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

    /// The hash of the caller's token (recorded on the devices it registers).
    pub fn token_hash(&self) -> &str {
        &self.1.hash
    }

    /// The agent ids an agent token may speak for and read; None for an approver,
    /// who reads everything in the org.
    pub fn agent_scope(&self) -> Option<Vec<String>> {
        match self.0.role {
            Role::Agent => Some(self.1.agents()),
            Role::Approver => None,
        }
    }

    /// Whether this caller may see approvals raised for `agent_id`.
    pub fn may_see(&self, agent_id: &str) -> bool {
        match self.0.role {
            Role::Agent => self
                .1
                .agents()
                .iter()
                .any(|b| tokens::binding_matches(b, agent_id)),
            Role::Approver => true,
        }
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
