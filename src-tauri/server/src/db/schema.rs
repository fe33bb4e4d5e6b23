//! Table definitions. `CREATE ... IF NOT EXISTS` keeps opening an existing file a no-op.

use rusqlite::Connection;

use crate::error::ServerError;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Only the SHA-256 of a token is stored.
CREATE TABLE IF NOT EXISTS tokens (
    hash       TEXT PRIMARY KEY,
    org        TEXT NOT NULL,
    subject    TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('approver', 'agent')),
    created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS approvals (
    org              TEXT NOT NULL,
    id               TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    agent_name       TEXT,
    agent_version    TEXT,
    action           TEXT NOT NULL,
    summary          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    reason_code      TEXT NOT NULL,
    reason_text      TEXT NOT NULL,
    params           TEXT NOT NULL,
    policy_trace     TEXT NOT NULL,
    risk             TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    requested_by     TEXT NOT NULL,
    decision_kind    TEXT CHECK (decision_kind IN ('approve', 'deny')),
    decided_by       TEXT,
    decided_at       INTEGER,
    decision_notes   TEXT,
    decision_reason  TEXT,
    exec_outcome     TEXT CHECK (exec_outcome IN ('succeeded', 'failed')),
    exec_output      TEXT,
    exec_recorded_at INTEGER,
    change_seq       INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (org, id)
);
CREATE INDEX IF NOT EXISTS approvals_newest ON approvals (org, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS approvals_changes ON approvals (org, change_seq);
CREATE INDEX IF NOT EXISTS approvals_due ON approvals (status, expires_at);

-- Append-only, hash-chained. The triggers stop accidental rewrites through SQL;
-- the chain catches deliberate ones (see audit::verify).
CREATE TABLE IF NOT EXISTS audit (
    seq         INTEGER PRIMARY KEY,
    org         TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          TEXT NOT NULL,
    notes       TEXT,
    reason      TEXT,
    data        TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_approval ON audit (org, approval_id, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;

-- First answer to each (org, subject, key), replayed on retries.
CREATE TABLE IF NOT EXISTS idempotency (
    org          TEXT NOT NULL,
    subject      TEXT NOT NULL,
    key          TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (org, subject, key)
);
CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency (created_at);
"#;

pub fn migrate(conn: &Connection) -> Result<(), ServerError> {
    conn.execute_batch(SCHEMA)?;
    super::devices::migrate(conn)?;
    super::tokens::migrate(conn)?;
    add_quorum_columns(conn)?;
    // The epoch is born with the database and never changes: a client that synced
    // from another database (a rebuilt server) sees a different one and resyncs.
    // A file predating this key gets one on its first open, which costs its clients
    // one full resync.
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?1)",
        [uuid::Uuid::new_v4().to_string()],
    )?;
    Ok(())
}

/// Quorum (issue 8 §4): how many approvals an approval needs and the ones recorded
/// so far (a JSON array of `ApprovalVote`). Added to files made before quorum; their
/// rows get 1 and none, which is what they were.
fn add_quorum_columns(conn: &Connection) -> Result<(), ServerError> {
    add_missing_columns(
        conn,
        "approvals",
        &[
            (
                "required_approvals",
                "ALTER TABLE approvals ADD COLUMN required_approvals INTEGER NOT NULL DEFAULT 1",
            ),
            (
                "approvals",
                "ALTER TABLE approvals ADD COLUMN approvals TEXT NOT NULL DEFAULT '[]'",
            ),
        ],
    )
}

/// Runs each `(column, ddl)`'s `ALTER TABLE … ADD COLUMN` when `table` lacks that
/// column: how a file made by an older server is upgraded in place, idempotently.
pub(crate) fn add_missing_columns(
    conn: &Connection,
    table: &str,
    columns: &[(&str, &str)],
) -> Result<(), ServerError> {
    for (column, ddl) in columns {
        let present: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            [table, column],
            |r| r.get(0),
        )?;
        if !present {
            conn.execute_batch(ddl)?;
        }
    }
    Ok(())
}

/// This database's epoch (see `ChangesPage::epoch`).
pub fn epoch(conn: &Connection) -> Result<String, ServerError> {
    meta_get(conn, "epoch")?.ok_or_else(|| ServerError::Corrupt("the database has no epoch".into()))
}

pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>, ServerError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<(), ServerError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}
