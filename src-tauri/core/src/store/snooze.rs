//! Snoozed approvals ("Remind me in 1 h" on a notification): when to announce them again.
//! Persisted, so a reminder survives a restart of the app.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{from_ms, to_ms, Store};
use crate::error::Result;

/// One snoozed approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snooze {
    pub approval_id: String,
    /// When to announce it again.
    pub until: DateTime<Utc>,
}

impl Snooze {
    /// The key under which this snooze, once it fired, is remembered in `announced`:
    /// a later snooze of the same approval has another `until`, hence another key.
    pub fn key(&self) -> String {
        format!("{}@{}", self.approval_id, to_ms(self.until))
    }
}

impl Store {
    /// Snoozes `approval_id` until `until`, replacing an earlier snooze of it.
    pub fn snooze(
        &self,
        approval_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO snoozes(approval_id, until, at) VALUES (?1, ?2, ?3)
             ON CONFLICT(approval_id) DO UPDATE SET until = excluded.until, at = excluded.at",
            params![approval_id, to_ms(until), to_ms(now)],
        )?;
        Ok(())
    }

    /// Snoozes of approvals still pending in the cache (a decided or expired approval is
    /// never announced again, whatever its snooze said).
    pub fn live_snoozes(&self, now: DateTime<Utc>) -> Result<Vec<Snooze>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.approval_id, s.until FROM snoozes s
             JOIN approvals a ON a.id = s.approval_id
             WHERE a.status = 'pending' AND a.expires_at > ?1 AND a.gone_at IS NULL
             ORDER BY s.until, s.approval_id",
        )?;
        let v = stmt
            .query_map([to_ms(now)], |r| {
                Ok(Snooze {
                    approval_id: r.get(0)?,
                    until: from_ms(r.get(1)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }
}
