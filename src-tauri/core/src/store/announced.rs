//! What has already been announced to the user, so a restart does not repeat it.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{to_ms, Store};
use crate::error::Result;

impl Store {
    pub fn is_announced(&self, kind: &str, key: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM announced WHERE kind = ?1 AND key = ?2)",
            params![kind, key],
            |r| r.get(0),
        )?)
    }

    /// All announced keys of one kind.
    pub fn announced_keys(&self, kind: &str) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key FROM announced WHERE kind = ?1")?;
        let v = stmt
            .query_map([kind], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    pub fn mark_announced(&mut self, items: &[(&str, &str)], now: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO announced(kind, key, at) VALUES (?1, ?2, ?3)",
            )?;
            for (kind, key) in items {
                stmt.execute(params![kind, key, to_ms(now)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
