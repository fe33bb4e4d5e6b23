//! Full resync: the server's history is not the one this device followed (a new
//! epoch, a cursor past the server's latest change, or a change number that now
//! names another approval), so everything is pulled again from 0 and then compared.
//!
//! What the server no longer has is removed when the approver never touched it, and
//! kept, marked `gone_at`, when they decided on it: nothing the approver decided is
//! deleted. Decisions still queued for such approvals are rejected with that reason
//! instead of being sent to a server that would answer 404. Decisions applied earlier
//! that the (restored) server no longer shows are reported, not resent: the
//! approver may decide differently today.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{to_ms, Store};
use crate::error::Result;

/// Why an approval cannot be decided, and why a queued decision on it was not sent.
pub const GONE: &str = "the server no longer has this approval (it was restored from an older \
     backup or rebuilt); nothing was sent";

/// What a full resync found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResyncReport {
    /// Why the resync happened.
    pub reason: String,
    /// Approvals the server no longer has that stay here, marked (the approver decided on them).
    pub gone: Vec<String>,
    /// Approvals the server no longer has that were removed (never touched here).
    pub removed: usize,
    /// Queued decisions rejected because their approval is gone.
    pub rejected: Vec<String>,
    /// Approvals this device's decision was applied to, which the server now shows
    /// undecided (its database went back to before the decision). Decide again.
    pub undone: Vec<String>,
}

impl Store {
    /// The epoch of the server this cache follows, once seen.
    pub fn server_epoch(&self) -> Result<Option<String>> {
        self.meta_get("server_epoch")
    }

    pub fn set_server_epoch(&self, epoch: &str) -> Result<()> {
        self.meta_set("server_epoch", epoch)
    }

    /// Whether a full resync started and has not finished (it restarts from 0).
    pub fn resync_pending(&self) -> Result<bool> {
        Ok(self.meta_get("resync")?.is_some())
    }

    /// Starts a full resync: remembered until finished, so a crash resumes it.
    pub fn resync_begin(&mut self, reason: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('resync', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [reason],
        )?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('change_cursor', '0')
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The local `change_seq` of `id`, if cached.
    pub fn change_seq_of(&self, id: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT change_seq FROM approvals WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Ends a full resync that received every approval in `seen`: settles what the
    /// server no longer has, records the epoch, and clears the resync mark. One
    /// transaction.
    pub fn resync_finish(
        &mut self,
        seen: &HashSet<String>,
        epoch: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ResyncReport> {
        let tx = self.conn.transaction()?;
        let reason: String = tx
            .query_row("SELECT value FROM meta WHERE key = 'resync'", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or_default();
        let mut report = ResyncReport {
            reason,
            ..ResyncReport::default()
        };
        let local: Vec<(String, i64, bool)> = {
            let mut stmt = tx.prepare(
                "SELECT a.id, a.rowid, EXISTS (SELECT 1 FROM outbox o WHERE o.approval_id = a.id)
                 FROM approvals a ORDER BY a.id",
            )?;
            let v = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v
        };
        for (id, rowid, decided_here) in local {
            if seen.contains(&id) {
                continue;
            }
            if decided_here {
                let active: Option<i64> = tx
                    .query_row(
                        "UPDATE outbox SET state = 'rejected', last_error = ?2, finished_at = ?3
                         WHERE approval_id = ?1 AND state IN ('queued', 'sending')
                         RETURNING seq",
                        params![id, GONE, to_ms(now)],
                        |r| r.get(0),
                    )
                    .optional()?;
                if active.is_some() {
                    report.rejected.push(id.clone());
                }
                // The optimistic status of a decision that will never be sent goes.
                tx.execute(
                    "UPDATE approvals SET gone_at = COALESCE(gone_at, ?2), status = server_status
                     WHERE id = ?1",
                    params![id, to_ms(now)],
                )?;
                report.gone.push(id);
            } else {
                tx.execute("DELETE FROM approvals_fts WHERE rowid = ?1", [rowid])?;
                tx.execute("DELETE FROM approvals WHERE id = ?1", [&id])?;
                tx.execute("DELETE FROM audit_cache WHERE approval_id = ?1", [&id])?;
                report.removed += 1;
            }
        }
        {
            let mut stmt = tx.prepare(
                "SELECT DISTINCT a.id FROM approvals a JOIN outbox o ON o.approval_id = a.id
                 WHERE o.state = 'applied' AND a.server_status = 'pending' AND a.gone_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM outbox x WHERE x.approval_id = a.id
                                   AND x.state IN ('queued', 'sending'))
                 ORDER BY a.id",
            )?;
            report.undone = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
        }
        if let Some(e) = epoch {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES ('server_epoch', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [e],
            )?;
        }
        tx.execute("DELETE FROM meta WHERE key = 'resync'", [])?;
        tx.commit()?;
        Ok(report)
    }
}
