//! Device keys: the Ed25519 public keys approvers' devices sign decisions with, and
//! the receipt each signed decision stored on its approval.

use chrono::{DateTime, Utc};
use countersign_api::{Device, Receipt};
use rusqlite::{params, Connection, OptionalExtension, Row};
use sha2::{Digest, Sha256};

use super::{from_ms, to_ms};
use crate::error::ServerError;

const SCHEMA: &str = r#"
-- Registered device keys (issue 10, receipts). Never deleted: a revoked key still
-- verifies the receipts it made before its revocation.
CREATE TABLE IF NOT EXISTS devices (
    org        TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    public_key TEXT NOT NULL,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    PRIMARY KEY (org, key_id)
);
"#;

/// Creates the devices table and the approvals' `decision_receipt` column; both
/// idempotent, so opening an older file upgrades it.
pub fn migrate(conn: &Connection) -> Result<(), ServerError> {
    conn.execute_batch(SCHEMA)?;
    // `token_hash`: the token that registered the key, so revoking the device revokes
    // that token too. Rows registered before this column have NULL: the token is
    // unknown, and revoking such a device leaves every token alone.
    super::schema::add_missing_columns(
        conn,
        "approvals",
        &[(
            "decision_receipt",
            "ALTER TABLE approvals ADD COLUMN decision_receipt TEXT",
        )],
    )?;
    super::schema::add_missing_columns(
        conn,
        "devices",
        &[(
            "token_hash",
            "ALTER TABLE devices ADD COLUMN token_hash TEXT",
        )],
    )
}

/// A key's id: `dev-` and the first 16 hex digits of SHA-256 of the key's bytes, so
/// registering the same key twice names it alike.
pub fn key_id_for(public_key: &[u8]) -> String {
    format!("dev-{}", &hex::encode(Sha256::digest(public_key))[..16])
}

const DEVICE_COLUMNS: &str = "key_id, public_key, owner, name, created_at, revoked_at";

fn device_from_row(r: &Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        key_id: r.get(0)?,
        public_key: r.get(1)?,
        owner: r.get(2)?,
        name: r.get(3)?,
        created_at: from_ms(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
    })
}

pub fn get(conn: &Connection, org: &str, key_id: &str) -> Result<Option<Device>, ServerError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE org = ?1 AND key_id = ?2"
        ))?
        .query_row(params![org, key_id], device_from_row)
        .optional()?)
}

pub fn list(conn: &Connection, org: &str) -> Result<Vec<Device>, ServerError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE org = ?1 ORDER BY created_at, key_id"
    ))?;
    let rows = stmt.query_map([org], device_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// What registering a key did.
pub enum Registered {
    /// New, or the same owner registering it again.
    Ok(String),
    /// The key is registered to another approver, or was revoked.
    Taken(String),
}

pub fn register(
    conn: &Connection,
    org: &str,
    owner: &str,
    public_key: &[u8],
    name: &str,
    now: DateTime<Utc>,
) -> Result<Registered, ServerError> {
    register_with_token(conn, org, owner, public_key, name, None, now)
}

/// [`register`], recording the hash of the token that registered the key.
pub fn register_with_token(
    conn: &Connection,
    org: &str,
    owner: &str,
    public_key: &[u8],
    name: &str,
    token_hash: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Registered, ServerError> {
    let key_id = key_id_for(public_key);
    if let Some(existing) = get(conn, org, &key_id)? {
        if existing.owner != owner || existing.revoked_at.is_some() {
            return Ok(Registered::Taken(key_id));
        }
        // A key registered before tokens were recorded learns its token on the next
        // registration (the app registers at every sign-in); a recorded one is kept.
        if let Some(hash) = token_hash {
            conn.prepare_cached(
                "UPDATE devices SET token_hash = ?3
                 WHERE org = ?1 AND key_id = ?2 AND token_hash IS NULL",
            )?
            .execute(params![org, key_id, hash])?;
        }
        return Ok(Registered::Ok(key_id));
    }
    conn.prepare_cached(
        "INSERT INTO devices (org, key_id, public_key, owner, name, created_at, token_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        org,
        key_id,
        hex::encode(public_key),
        owner,
        name,
        to_ms(now),
        token_hash
    ])?;
    Ok(Registered::Ok(key_id))
}

/// Marks a key revoked (once: a second revocation keeps the first time).
pub fn revoke(
    conn: &Connection,
    org: &str,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ServerError> {
    conn.prepare_cached(
        "UPDATE devices SET revoked_at = ?3 WHERE org = ?1 AND key_id = ?2 AND revoked_at IS NULL",
    )?
    .execute(params![org, key_id, to_ms(now)])?;
    Ok(())
}

/// The hash of the token that registered a key (None: registered before this was
/// recorded, or no such key).
pub fn registering_token(
    conn: &Connection,
    org: &str,
    key_id: &str,
) -> Result<Option<String>, ServerError> {
    Ok(conn
        .prepare_cached("SELECT token_hash FROM devices WHERE org = ?1 AND key_id = ?2")?
        .query_row(params![org, key_id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// Key ids registered with the token of hash `hash`, oldest first.
pub fn registered_by(conn: &Connection, hash: &str) -> Result<Vec<String>, ServerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key_id FROM devices WHERE token_hash = ?1 ORDER BY created_at, key_id",
    )?;
    let rows = stmt.query_map([hash], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Revokes every unrevoked key of `owner` in `org` (matched ignoring case); returns
/// how many.
pub fn revoke_all_of(
    conn: &Connection,
    org: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<usize, ServerError> {
    Ok(conn
        .prepare_cached(
            "UPDATE devices SET revoked_at = ?3
             WHERE org = ?1 AND lower(owner) = lower(?2) AND revoked_at IS NULL",
        )?
        .execute(params![org, owner, to_ms(now)])?)
}

/// The receipt stored with an approval's decision, if any.
pub fn stored_receipt(text: Option<String>) -> Option<Receipt> {
    // The server wrote it from a verified receipt; an unreadable one is reported as
    // absent rather than failing every read of the approval.
    text.and_then(|t| serde_json::from_str(&t).ok())
}
