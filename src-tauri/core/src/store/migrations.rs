//! Versioned schema migrations, tracked in `PRAGMA user_version`. Each step runs in
//! its own transaction; a step is never edited once released, only new ones added.

use rusqlite::Connection;

use crate::error::{CoreError, Result};

/// Index `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // v1: settings/cursor, cached approvals with indexed columns + full JSON, outbox.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE approvals (
        id            TEXT PRIMARY KEY,
        status        TEXT NOT NULL,
        server_status TEXT NOT NULL,
        agent         TEXT NOT NULL,
        action        TEXT NOT NULL,
        reason_code   TEXT NOT NULL,
        summary       TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        decided_at    INTEGER,
        change_seq    INTEGER NOT NULL,
        json          TEXT NOT NULL
    );
    CREATE INDEX approvals_status  ON approvals(status, created_at);
    CREATE INDEX approvals_agent   ON approvals(agent, created_at);
    CREATE INDEX approvals_action  ON approvals(action, created_at);
    CREATE INDEX approvals_reason  ON approvals(reason_code, created_at);
    CREATE INDEX approvals_created ON approvals(created_at);
    CREATE INDEX approvals_expires ON approvals(expires_at);
    CREATE TABLE outbox (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        approval_id     TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('approve', 'deny')),
        notes           TEXT,
        reason          TEXT,
        batch_id        TEXT,
        decided_at      INTEGER NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        state           TEXT NOT NULL
            CHECK (state IN ('queued', 'sending', 'applied', 'rejected', 'expired')),
        result_json     TEXT,
        finished_at     INTEGER
    );
    CREATE INDEX outbox_state ON outbox(state, seq);
    -- At most one decision in flight per approval: deciding twice is refused by the store.
    CREATE UNIQUE INDEX outbox_one_active ON outbox(approval_id)
        WHERE state IN ('queued', 'sending');
    "#,
    // v2: full-text search over summary, agent, action and params (rowid = approvals.rowid).
    r#"
    CREATE VIRTUAL TABLE approvals_fts USING fts5(
        summary, agent, action, params,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO approvals_fts(rowid, summary, agent, action, params)
        SELECT rowid, summary, agent, action,
               COALESCE(json_extract(json, '$.params'), '')
        FROM approvals;
    "#,
    // v3: audit trails cached for offline detail, and what was already announced.
    r#"
    CREATE TABLE audit_cache (
        approval_id TEXT PRIMARY KEY,
        json        TEXT NOT NULL,
        fetched_at  INTEGER NOT NULL
    );
    CREATE TABLE announced (
        kind TEXT NOT NULL,
        key  TEXT NOT NULL,
        at   INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
    );
    "#,
    // v4: the pending/expired split of the queue filters on status and expires_at
    // together; this index answers counts without touching the rows.
    r#"
    CREATE INDEX approvals_status_expires ON approvals(status, expires_at);
    "#,
    // v5: the approver acknowledged a rejected/expired decision ("Dismiss"): it leaves
    // the outbox view and the attention counts but the row is kept for the record.
    r#"
    ALTER TABLE outbox ADD COLUMN dismissed_at INTEGER;
    "#,
    // v6: the queue pages by key, not OFFSET, over the whole history.
    // - The sort keys with their tie-breaker (`id`), and the filter indexes with the
    //   key and the status columns, so keyset pages seek straight to the key and jumps,
    //   counts and positions never read the (wide, JSON-carrying) table rows.
    // - FTS prefix indexes for 1 and 2 characters: a short prefix typed in the search box
    //   reads one doclist instead of merging every term it starts.
    // - A change stamp bumped by every change to a cached approval, from any connection
    //   or process, so memoised counts know when they are stale.
    r#"
    CREATE INDEX approvals_created_key
        ON approvals(created_at, id, status, expires_at, agent, action, reason_code);
    CREATE INDEX approvals_expires_key
        ON approvals(expires_at, id, status, created_at, agent, action, reason_code);
    DROP INDEX approvals_created;
    DROP INDEX approvals_expires;
    CREATE INDEX approvals_status_key ON approvals(status, created_at, id, expires_at);
    CREATE INDEX approvals_agent_key
        ON approvals(agent, created_at, id, status, expires_at);
    CREATE INDEX approvals_action_key
        ON approvals(action, created_at, id, status, expires_at);
    CREATE INDEX approvals_reason_key
        ON approvals(reason_code, created_at, id, status, expires_at);
    DROP INDEX approvals_status;
    CREATE INDEX approvals_status_expires_key ON approvals(status, expires_at, id, created_at);
    DROP INDEX approvals_status_expires;
    DROP INDEX approvals_agent;
    DROP INDEX approvals_action;
    DROP INDEX approvals_reason;
    CREATE VIRTUAL TABLE approvals_fts_v6 USING fts5(
        summary, agent, action, params,
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '1 2'
    );
    INSERT INTO approvals_fts_v6(rowid, summary, agent, action, params)
        SELECT rowid, summary, agent, action, params FROM approvals_fts;
    DROP TABLE approvals_fts;
    ALTER TABLE approvals_fts_v6 RENAME TO approvals_fts;
    CREATE TABLE change_stamp (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        n  INTEGER NOT NULL
    );
    INSERT INTO change_stamp(id, n) VALUES (1, 0);
    CREATE TRIGGER approvals_stamp_insert AFTER INSERT ON approvals
        BEGIN UPDATE change_stamp SET n = n + 1 WHERE id = 1; END;
    CREATE TRIGGER approvals_stamp_update AFTER UPDATE ON approvals
        BEGIN UPDATE change_stamp SET n = n + 1 WHERE id = 1; END;
    CREATE TRIGGER approvals_stamp_delete AFTER DELETE ON approvals
        BEGIN UPDATE change_stamp SET n = n + 1 WHERE id = 1; END;
    "#,
    // v7: approvals the server no longer has (restored from an older backup, or
    // rebuilt) but that this device keeps because the approver decided on them. The
    // Pending filter leaves them out, so the status key covers the column too.
    r#"
    ALTER TABLE approvals ADD COLUMN gone_at INTEGER;
    DROP INDEX approvals_status_key;
    CREATE INDEX approvals_status_key ON approvals(status, created_at, id, expires_at, gone_at);
    "#,
    // (issue 8 §3, notification actions) v8: "Remind me in 1 h" from a notification: the
    // approval is announced again at `until` (a snooze that fired is remembered in
    // `announced` as kind `snooze`, key `<id>@<until ms>`, so a restart does not repeat it).
    r#"
    CREATE TABLE snoozes (
        approval_id TEXT PRIMARY KEY,
        until       INTEGER NOT NULL,
        at          INTEGER NOT NULL
    );
    "#,
    // v9 (issue 8 §1–2, the approver's desk): the agent's reported outcome as a column,
    // so the queue's glyph and the stats read no JSON; the agent+action history key that
    // answers the detail's recent-activity counts and "last approved" lookup from the
    // index alone; and the (few) failed outcomes the notification planner looks for.
    r#"
    ALTER TABLE approvals ADD COLUMN outcome TEXT;
    UPDATE approvals SET outcome = json_extract(json, '$.execution.outcome')
        WHERE json_extract(json, '$.execution.outcome') IS NOT NULL;
    CREATE INDEX approvals_agent_action_key
        ON approvals(agent, action, created_at, status, expires_at);
    CREATE INDEX approvals_failed ON approvals(id) WHERE outcome = 'failed';
    "#,
    // v10 (issue 10 §2, receipts): the decision's receipt, signed by this device when
    // the approver decided, sent with every attempt.
    r#"
    ALTER TABLE outbox ADD COLUMN receipt_json TEXT;
    "#,
    // v11 (quorum, issue 8 §4): who approved so far, as "\nalice\nbob\n" (NULL when
    // nobody), so "waiting for others" (pending, and I approved) is a test on an
    // indexed column, not a JSON parse per row. The status key covers it: the Pending
    // count leaves out what waits for others.
    r#"
    ALTER TABLE approvals ADD COLUMN approvers TEXT;
    UPDATE approvals SET approvers = (
        SELECT char(10) || group_concat(json_extract(value, '$.by'), char(10)) || char(10)
        FROM json_each(approvals.json, '$.approvals'));
    DROP INDEX approvals_status_key;
    CREATE INDEX approvals_status_key
        ON approvals(status, created_at, id, expires_at, gone_at, approvers);
    "#,
    // v12 (triage, issue 12 §3, undo): a decision made in the app waits out the undo window
    // before the push loop sends it; NULL = send at once (the CLI, older rows).
    r#"
    ALTER TABLE outbox ADD COLUMN send_after INTEGER;
    "#,
];

pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn current_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema to the latest version.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, latest_version())
}

/// Brings the schema to `target` (used by tests to build every earlier version).
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    let current = current_version(conn)?;
    if current > latest_version() {
        return Err(CoreError::Invalid(format!(
            "the local database is from a newer Countersign (schema {current}, this build knows {}); update the app",
            latest_version()
        )));
    }
    for version in current..target {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::debug!(version = version + 1, "migrated local database");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inserts one approval row the way each schema version allows.
    fn seed(conn: &Connection, id: &str) {
        conn.execute(
            "INSERT INTO approvals(id, status, server_status, agent, action, reason_code, summary,
                 created_at, expires_at, change_seq, json)
             VALUES (?1, 'pending', 'pending', 'deployment-bot', 'k8s:deploy', 'REQUIRES_APPROVAL',
                 'Deploy app:v2.0.0 to production', 1, 9999999999999, 1,
                 '{\"params\":{\"namespace\":\"production\"}}')",
            [id],
        )
        .unwrap();
        let has_fts: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'approvals_fts')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if has_fts {
            // From v2 on, the app writes the index alongside the row.
            conn.execute(
                "INSERT INTO approvals_fts(rowid, summary, agent, action, params)
                 SELECT rowid, summary, agent, action, json_extract(json, '$.params')
                 FROM approvals WHERE id = ?1",
                [id],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO outbox(approval_id, kind, decided_at, idempotency_key, next_attempt_at, state)
             VALUES (?1, 'approve', 1, ?1, 0, 'queued')",
            [id],
        )
        .unwrap();
    }

    #[test]
    fn applies_from_empty() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), latest_version());
        // Idempotent: a second run is a no-op.
        migrate(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), latest_version());
    }

    #[test]
    fn applies_from_every_earlier_version_keeping_data() {
        for start in 1..latest_version() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db");
            {
                let mut conn = Connection::open(&path).unwrap();
                migrate_to(&mut conn, start).unwrap();
                assert_eq!(current_version(&conn).unwrap(), start);
                seed(&conn, "appr-old");
            }
            // Reopen through the normal path, as an upgraded app would.
            let store = crate::store::Store::open(&path, None).unwrap();
            assert_eq!(current_version(store.conn()).unwrap(), latest_version());
            let n: i64 = store
                .conn()
                .query_row(
                    "SELECT count(*) FROM outbox WHERE approval_id='appr-old'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "outbox kept when migrating from v{start}");
            // Rows written before v5 come out not dismissed.
            let dismissed: Option<i64> = store
                .conn()
                .query_row(
                    "SELECT dismissed_at FROM outbox WHERE approval_id='appr-old'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(
                dismissed, None,
                "not dismissed after migrating from v{start}"
            );
            // The FTS index covers rows written before it existed.
            let hits: i64 = store
                .conn()
                .query_row(
                    "SELECT count(*) FROM approvals_fts WHERE approvals_fts MATCH 'production'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(hits, 1, "fts populated when migrating from v{start}");
            // v6: short prefixes answer from the prefix index, the queue pages and
            // counts through the store's API, and changes move the stamp.
            let now = chrono::Utc::now();
            let q = crate::store::approvals::QueueQuery {
                search: Some("p".into()),
                ..Default::default()
            };
            assert_eq!(store.count(&q, now).unwrap(), 1, "from v{start}");
            let page = store.page(&q, now).unwrap();
            assert_eq!(page[0].id, "appr-old");
            assert_eq!(
                store.position(&q, "appr-old", now).unwrap(),
                Some(0),
                "from v{start}"
            );
            let stamp = store.change_stamp().unwrap();
            store
                .conn()
                .execute(
                    "UPDATE approvals SET summary = 'x' WHERE id = 'appr-old'",
                    [],
                )
                .unwrap();
            assert_ne!(store.change_stamp().unwrap(), stamp, "from v{start}");
            let plan: String = store
                .conn()
                .query_row(
                    "EXPLAIN QUERY PLAN SELECT id FROM approvals ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET 10",
                    [],
                    |r| r.get(3),
                )
                .unwrap();
            assert!(
                plan.contains("COVERING INDEX approvals_created_key"),
                "{plan}"
            );
        }
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert_eq!(err.code(), "invalid_input");
    }
}
