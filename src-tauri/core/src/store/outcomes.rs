//! Outcomes agents reported after executing approved actions, as the notification
//! planner needs them.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::{to_ms, Store};
use crate::error::Result;
use crate::notify_plan::{FailedInfo, KEY_FAILED};

/// Approvals older than this are not looked at for failures to announce: an action is
/// executed soon after its approval, and approvals expire long before.
const FAILED_LOOKBACK: Duration = Duration::days(7);

impl Store {
    /// Approved actions that failed and were not announced yet, created within
    /// [`FAILED_LOOKBACK`] of `now`, oldest first. Reads the (few) failed rows through
    /// their partial index.
    pub fn unannounced_failures(&self, now: DateTime<Utc>) -> Result<Vec<FailedInfo>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, agent, action, summary, json_extract(json, '$.execution.recorded_at')
             FROM approvals INDEXED BY approvals_failed
             WHERE outcome = 'failed' AND created_at >= ?1
                   AND NOT EXISTS (SELECT 1 FROM announced WHERE kind = ?2 AND key = approvals.id)
             ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![to_ms(now - FAILED_LOOKBACK), KEY_FAILED],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, agent, action, summary, at) = row?;
            // What the server sent was checked when it was cached; a time that does not
            // parse now leaves this one unannounced rather than failing the plan.
            let Some(recorded_at) =
                at.and_then(|s| serde_json::from_value::<DateTime<Utc>>(Value::String(s)).ok())
            else {
                tracing::warn!(%id, "cached execution result has no readable time");
                continue;
            };
            out.push(FailedInfo {
                id,
                agent,
                action,
                summary,
                recorded_at,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApprovalStatus, ExecutionOutcome, ExecutionResult};
    use crate::store::approvals::tests::approval;
    use crate::store::approvals::QueueQuery;

    #[test]
    fn outcomes_reach_the_queue_the_stats_and_the_planner_once() {
        let now = Utc::now();
        let mut store = Store::open_in_memory().unwrap();
        let result = |outcome| {
            Some(ExecutionResult {
                outcome,
                output: serde_json::json!({"error": "quota"}),
                recorded_at: now,
            })
        };
        let mut ok = approval("appr-ok", "bot", 1, now);
        ok.status = ApprovalStatus::Approved;
        ok.execution = result(ExecutionOutcome::Succeeded);
        let mut bad = approval("appr-bad", "bot", 2, now);
        bad.status = ApprovalStatus::Approved;
        let mut waiting = approval("appr-wait", "bot", 3, now);
        waiting.status = ApprovalStatus::Approved;
        store
            .upsert_approvals(&[ok, bad.clone(), waiting, approval("appr-p", "bot", 4, now)])
            .unwrap();
        assert!(store.unannounced_failures(now).unwrap().is_empty());

        // The result arrives as a later change of the same row.
        bad.execution = result(ExecutionOutcome::Failed);
        bad.change_seq = 10;
        assert_eq!(store.upsert_approvals(&[bad]).unwrap(), vec!["appr-bad"]);
        let rows = store.list(&QueueQuery::default(), now).unwrap().items;
        let outcome = |id: &str| rows.iter().find(|r| r.id == id).unwrap().outcome;
        assert_eq!(outcome("appr-ok"), Some(ExecutionOutcome::Succeeded));
        assert_eq!(outcome("appr-bad"), Some(ExecutionOutcome::Failed));
        assert_eq!(outcome("appr-wait"), None);

        let stats = store.local_stats(None, None, now).unwrap();
        let ex = stats.executions.unwrap();
        assert_eq!((ex.succeeded, ex.failed, ex.not_reported), (1, 1, 1));
        assert_eq!(ex.failed_share(), Some(1.0 / 3.0));

        let failed = store.unannounced_failures(now).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].id, "appr-bad");
        assert_eq!(
            failed[0].recorded_at.timestamp_millis(),
            now.timestamp_millis()
        );
        store
            .mark_announced(&[(KEY_FAILED, "appr-bad")], now)
            .unwrap();
        assert!(store.unannounced_failures(now).unwrap().is_empty());
    }
}
