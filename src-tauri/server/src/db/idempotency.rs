//! Stored first answers for `Idempotency-Key` retries.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::to_ms;
use crate::error::ServerError;

/// How long keys are kept: a week, far longer than any expiry, so a client that was
/// offline for a day can still retry safely.
pub const RETENTION: chrono::Duration = chrono::Duration::days(7);

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 200;

/// A key is 1 to [`MAX_KEY_LEN`] visible ASCII characters (header or bulk body alike).
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

pub struct Scope<'a> {
    pub org: &'a str,
    pub subject: &'a str,
    pub key: &'a str,
}

#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// Hash identifying "the same request": endpoint plus the canonical body.
pub fn request_hash(endpoint: &str, canonical_body: &str) -> String {
    let mut h = Sha256::new();
    h.update(endpoint.as_bytes());
    h.update(b"\n");
    h.update(canonical_body.as_bytes());
    hex::encode(h.finalize())
}

pub fn lookup(conn: &Connection, scope: &Scope<'_>) -> Result<Option<StoredAnswer>, ServerError> {
    Ok(conn
        .prepare_cached(
            "SELECT request_hash, status, body FROM idempotency
             WHERE org = ?1 AND subject = ?2 AND key = ?3",
        )?
        .query_row(params![scope.org, scope.subject, scope.key], |r| {
            Ok(StoredAnswer {
                request_hash: r.get(0)?,
                status: r.get(1)?,
                body: r.get(2)?,
            })
        })
        .optional()?)
}

pub fn store(
    conn: &Connection,
    scope: &Scope<'_>,
    endpoint: &str,
    answer: &StoredAnswer,
    now: DateTime<Utc>,
) -> Result<(), ServerError> {
    conn.prepare_cached(
        "INSERT INTO idempotency (org, subject, key, endpoint, request_hash, status, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        scope.org,
        scope.subject,
        scope.key,
        endpoint,
        answer.request_hash,
        answer.status,
        answer.body,
        to_ms(now)
    ])?;
    Ok(())
}

/// Drops keys older than the retention (and older than twice the default expiry).
pub fn purge(
    conn: &Connection,
    now: DateTime<Utc>,
    default_expiry: chrono::Duration,
) -> Result<usize, ServerError> {
    let keep = std::cmp::max(RETENTION, default_expiry * 2);
    Ok(conn.execute(
        "DELETE FROM idempotency WHERE created_at < ?1",
        [to_ms(now - keep)],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn keys_are_kept_for_the_retention_then_purged() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("i.db")).unwrap();
        let now = crate::db::now();
        db.with_writer(|conn| {
            let answer = |h: &str| StoredAnswer {
                request_hash: h.to_string(),
                status: 200,
                body: "{}".to_string(),
            };
            let scope = |key| Scope {
                org: "o",
                subject: "s",
                key,
            };
            store(
                conn,
                &scope("old"),
                "e",
                &answer("a"),
                now - chrono::Duration::days(8),
            )?;
            store(
                conn,
                &scope("day"),
                "e",
                &answer("b"),
                now - chrono::Duration::days(1),
            )?;
            // The default expiry is 24 h: a week's retention applies.
            assert_eq!(purge(conn, now, chrono::Duration::hours(24))?, 1);
            assert!(lookup(conn, &scope("old"))?.is_none());
            assert_eq!(lookup(conn, &scope("day"))?.unwrap().request_hash, "b");
            // A server with a 30-day expiry keeps keys for twice that.
            store(
                conn,
                &scope("old2"),
                "e",
                &answer("c"),
                now - chrono::Duration::days(20),
            )?;
            assert_eq!(purge(conn, now, chrono::Duration::days(30))?, 0);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn request_hash_separates_endpoint_and_body() {
        assert_ne!(
            request_hash("approve:a", "x"),
            request_hash("approve:ax", "")
        );
        assert_eq!(request_hash("e", "b"), request_hash("e", "b"));
    }
}
