//! Denial reasons to offer in the deny field: the approver's own recent ones (this
//! device's outbox) first, then the org's most used (denied approvals in the cache).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::Result;

/// Most of the approver's own recent reasons offered before the org's common ones.
pub const MAX_RECENT: usize = 5;
/// Denied approvals looked at for the org's common reasons: the newest this many, so
/// the query stays quick on a long history and follows the org's current habits.
pub const COMMON_WINDOW: i64 = 5000;

/// One reason to offer, exactly as it was sent (the agent receives this text).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyReason {
    pub text: String,
    /// Denials with this reason among the cached approvals (at least 1 for a reason
    /// only this device used so far).
    pub uses: u32,
    /// The approver used it lately on this device.
    pub recent: bool,
}

impl Store {
    /// Up to `limit` reasons: this device's most recent distinct deny reasons (at most
    /// [`MAX_RECENT`]), then the most used ones among cached denied approvals.
    pub fn deny_reasons(&self, limit: usize) -> Result<Vec<DenyReason>> {
        let mut common: Vec<(String, u32)> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT r, COUNT(*) AS n FROM (
                     SELECT json_extract(json, '$.decision.reason') AS r FROM approvals
                     WHERE status = 'denied' ORDER BY created_at DESC LIMIT ?1
                 ) WHERE r IS NOT NULL AND trim(r) <> ''
                 GROUP BY r ORDER BY n DESC, r LIMIT ?2",
            )?;
            let v = stmt
                .query_map(rusqlite::params![COMMON_WINDOW, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v
        };
        let uses: HashMap<String, u32> = common.iter().cloned().collect();
        let mine: Vec<String> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT reason FROM outbox
                 WHERE kind = 'deny' AND reason IS NOT NULL AND trim(reason) <> ''
                 GROUP BY reason ORDER BY MAX(decided_at) DESC, MAX(seq) DESC LIMIT ?1",
            )?;
            let v = stmt
                .query_map([MAX_RECENT.min(limit) as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v
        };
        let mut out: Vec<DenyReason> = mine
            .into_iter()
            .map(|text| DenyReason {
                uses: uses.get(&text).copied().unwrap_or(1),
                text,
                recent: true,
            })
            .collect();
        common.retain(|(t, _)| !out.iter().any(|d| &d.text == t));
        out.extend(common.into_iter().map(|(text, uses)| DenyReason {
            text,
            uses,
            recent: false,
        }));
        out.truncate(limit);
        Ok(out)
    }
}
