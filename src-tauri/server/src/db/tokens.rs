//! Bearer tokens, stored only as their SHA-256.

use countersign_api::Role;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{now, to_ms};
use crate::error::ServerError;

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub org: String,
    pub subject: String,
    pub role: Role,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn role_str(role: Role) -> &'static str {
    match role {
        Role::Approver => "approver",
        Role::Agent => "agent",
    }
}

pub fn parse_role(s: &str) -> Option<Role> {
    match s {
        "approver" => Some(Role::Approver),
        "agent" => Some(Role::Agent),
        _ => None,
    }
}

/// A fresh random token: `cs_` and 64 hex characters (256 bits).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("cs_{}", hex::encode(bytes))
}

/// Stores a token; returns false when it was already present (left unchanged).
pub fn insert_token(
    conn: &Connection,
    token: &str,
    owner: &TokenOwner,
) -> Result<bool, ServerError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO tokens (hash, org, subject, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            hash_token(token),
            owner.org,
            owner.subject,
            role_str(owner.role),
            to_ms(now())
        ],
    )?;
    Ok(n == 1)
}

pub fn lookup_token(conn: &Connection, token: &str) -> Result<Option<TokenOwner>, ServerError> {
    let row: Option<(String, String, String)> = conn
        .prepare_cached("SELECT org, subject, role FROM tokens WHERE hash = ?1")?
        .query_row([hash_token(token)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((org, subject, role)) => {
            let role = parse_role(&role)
                .ok_or_else(|| ServerError::Corrupt(format!("token role {role:?}")))?;
            Ok(Some(TokenOwner { org, subject, role }))
        }
    }
}
