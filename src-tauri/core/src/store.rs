//! The local SQLite store: cached approvals (indexed columns + the full JSON the
//! server sent, FTS5 over summary/agent/action/params), the outbox of decisions,
//! settings, sync cursor, audit cache and the set of announced notifications.
//!
//! WAL with `synchronous=FULL`: decisions are made at human pace and must survive a
//! power cut, so every commit is fsynced.

pub mod activity;
pub mod announced;
pub mod approvals;
pub mod cipher;
pub mod count_memo;
pub mod match_set;
pub mod migrations;
pub mod outbox;
pub mod outcomes;
pub mod reasons;
pub mod resync;
pub mod snooze;
pub mod stats;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{CoreError, Result};
use crate::settings::Settings;

/// Pages are read through a memory map instead of a copy per read call: a query that
/// visits thousands of rows spent more time in `read(2)` than in SQLite. Costs address
/// space only; untouched pages are never loaded.
const MMAP_BYTES: i64 = 256 << 20;

pub struct Store {
    conn: Connection,
    /// The current search's matches, probed by SQL on this connection.
    matches: Arc<Mutex<match_set::MatchSet>>,
}

/// Milliseconds since the epoch: how times are stored, so comparisons are integer ones.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings it to the latest
    /// schema. With `key` the file is SQLCipher-encrypted (a wrong key fails here, as
    /// `SQLITE_NOTADB`); without, plain SQLite (benchmarks' baseline, tests). The app's
    /// store is opened through [`cipher::open_encrypted`].
    pub fn open(path: &Path, key: Option<&cipher::StoreKey>) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        if let Some(key) = key {
            cipher::apply_key(&conn, key)?;
        }
        Self::setup(conn)
    }

    /// A read-only connection to an existing store (the engine's reader pool). In WAL
    /// mode readers never wait for the writer, so a query answers at once even while a
    /// sync commits a large page.
    pub fn open_reader(path: &Path, key: Option<&cipher::StoreKey>) -> Result<Store> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        if let Some(key) = key {
            cipher::apply_key(&conn, key)?;
        }
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "query_only", "ON")?;
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        Self::wrap(conn)
    }

    fn wrap(conn: Connection) -> Result<Store> {
        let matches = Arc::default();
        match_set::register(&conn, Arc::clone(&matches))?;
        Ok(Store { conn, matches })
    }

    pub fn open_in_memory() -> Result<Store> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store> {
        // Several processes (the app and the CLI) may share the file: wait for locks
        // instead of failing at once.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        migrations::migrate(&mut conn)?;
        Self::wrap(conn)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn meta_delete(&self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    pub fn load_settings(&self) -> Result<Settings> {
        match self.meta_get("settings")? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| CoreError::Settings(format!("stored settings unreadable: {e}"))),
            None => Ok(Settings::default()),
        }
    }

    pub fn save_settings(&self, s: &Settings) -> Result<()> {
        let json = serde_json::to_string(s).map_err(|e| CoreError::Settings(e.to_string()))?;
        self.meta_set("settings", &json)
    }

    /// Highest `change_seq` pulled so far (0 for an empty store).
    pub fn cursor(&self) -> Result<i64> {
        Ok(self
            .meta_get("change_cursor")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub fn set_cursor(&self, seq: i64) -> Result<()> {
        self.meta_set("change_cursor", &seq.to_string())
    }

    pub fn last_synced(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .meta_get("last_synced")?
            .and_then(|v| v.parse::<i64>().ok())
            .map(from_ms))
    }

    pub fn set_last_synced(&self, at: DateTime<Utc>) -> Result<()> {
        self.meta_set("last_synced", &to_ms(at).to_string())
    }

    /// Server minus device time, as last measured (see [`crate::server_clock`]).
    pub fn clock_offset_ms(&self) -> Result<Option<i64>> {
        Ok(self
            .meta_get("clock_offset_ms")?
            .and_then(|v| v.parse().ok()))
    }

    pub fn set_clock_offset_ms(&self, ms: i64) -> Result<()> {
        self.meta_set("clock_offset_ms", &ms.to_string())
    }

    /// Token accounts (`org@server`, names only) this device stored a token for.
    pub fn token_accounts(&self) -> Result<Vec<String>> {
        Ok(self
            .meta_get("token_accounts")?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default())
    }

    pub fn remember_token_account(&self, account: &str) -> Result<()> {
        let mut all = self.token_accounts()?;
        if !all.iter().any(|a| a == account) {
            all.push(account.to_string());
            self.save_token_accounts(&all)?;
        }
        Ok(())
    }

    pub fn forget_token_accounts(&self, accounts: &[String]) -> Result<()> {
        let all: Vec<String> = self
            .token_accounts()?
            .into_iter()
            .filter(|a| !accounts.contains(a))
            .collect();
        self.save_token_accounts(&all)
    }

    fn save_token_accounts(&self, all: &[String]) -> Result<()> {
        let json = serde_json::to_string(all).map_err(|e| CoreError::Token(e.to_string()))?;
        self.meta_set("token_accounts", &json)
    }

    /// Drops the cached approvals and sync position (used when switching server or org),
    /// keeping nothing that belonged to the previous account.
    pub fn reset_cache(&mut self) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(
            "DELETE FROM approvals_fts; DELETE FROM approvals; DELETE FROM audit_cache;
             DELETE FROM outbox; DELETE FROM announced;
             DELETE FROM meta WHERE key IN ('change_cursor', 'last_synced', 'server_epoch', 'resync',
                 'audit_key', 'audit_head', 'audit_notice');",
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_with_wal_and_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("x.db"), None).unwrap();
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
    }

    #[test]
    fn settings_and_cursor_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        {
            let store = Store::open(&path, None).unwrap();
            let mut s = store.load_settings().unwrap();
            assert_eq!(s, Settings::default());
            s.org = Some("org-demo".into());
            s.expiring_soon_secs = 120;
            store.save_settings(&s).unwrap();
            store.set_cursor(42).unwrap();
        }
        let store = Store::open(&path, None).unwrap();
        assert_eq!(
            store.load_settings().unwrap().org.as_deref(),
            Some("org-demo")
        );
        assert_eq!(store.load_settings().unwrap().expiring_soon_secs, 120);
        assert_eq!(store.cursor().unwrap(), 42);
    }
}
