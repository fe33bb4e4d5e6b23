//! The context to decide well, from the cache (so it works offline): this agent's
//! recent activity for the same action, and what changed in the parameters since the
//! last approved request of its kind.
//!
//! Both read the `(agent, action, created_at, status, expires_at)` index (migration v8):
//! the counts never touch the table rows, and the few rows shown are found by walking
//! the index backwards from the newest.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{named_params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{from_ms, to_ms, Store};
use crate::api::{ApprovalStatus, Decision, StatusTotals};
use crate::error::{CoreError, Result};
use crate::params_diff::{self, ParamsDiff};

/// Decisions listed under "recent activity".
pub const RECENT_DECISIONS: u32 = 5;

/// A decided request of the same agent and action.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentDecision {
    pub id: String,
    pub summary: String,
    pub status: ApprovalStatus,
    pub created_at: DateTime<Utc>,
    /// Who, when, notes and reason; absent while this device's own decision on it is
    /// still on its way to the server.
    pub decision: Option<Decision>,
}

/// Other requests from the same agent for the same action.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentActivity {
    pub agent: String,
    pub action: String,
    /// Created in the last 7 days, by the status the user sees now.
    pub last_7_days: StatusTotals,
    /// Created in the last 30 days (the 7 included).
    pub last_30_days: StatusTotals,
    /// The newest decided ones, newest first, at most [`RECENT_DECISIONS`].
    pub recent_decisions: Vec<RecentDecision>,
}

/// The request the parameters are compared with.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffBase {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub decision: Option<Decision>,
}

/// This request's parameters against the last approved request of its kind.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamsComparison {
    pub against: DiffBase,
    pub diff: ParamsDiff,
}

/// What the detail shows next to the request to decide well.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalContext {
    pub approval_id: String,
    pub recent_activity: RecentActivity,
    /// `None`: the first request of its kind (no earlier approved one with the same
    /// agent and action).
    pub params_diff: Option<ParamsComparison>,
}

/// The effective status (a pending approval past its expiry is expired).
const STATUS_NOW: &str =
    "CASE WHEN status = 'pending' AND expires_at <= :now THEN 'expired' ELSE status END";

impl Store {
    /// The context of approval `id` at `now`; `None` when it is not cached.
    pub fn approval_context(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApprovalContext>> {
        let row: Option<(i64, String, String, i64, String)> = self
            .conn
            .query_row(
                "SELECT rowid, agent, action, created_at, json FROM approvals WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((rowid, agent, action, created_at, json)) = row else {
            return Ok(None);
        };
        let recent_activity = self.recent_activity(rowid, &agent, &action, now)?;
        let params_diff = match self.last_approved_before(rowid, &agent, &action, created_at)? {
            Some((against, old_params)) => {
                let (new_params, _) = params_and_decision(id, &json)?;
                Some(ParamsComparison {
                    against,
                    diff: params_diff::diff(&old_params, &new_params),
                })
            }
            None => None,
        };
        Ok(Some(ApprovalContext {
            approval_id: id.to_string(),
            recent_activity,
            params_diff,
        }))
    }

    /// Counts over 7 and 30 days and the last decisions, leaving out the row `rowid`
    /// (the request being looked at).
    fn recent_activity(
        &self,
        rowid: i64,
        agent: &str,
        action: &str,
        now: DateTime<Utc>,
    ) -> Result<RecentActivity> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {STATUS_NOW} AS st, SUM(created_at >= :d7), COUNT(*)
             FROM approvals INDEXED BY approvals_agent_action_key
             WHERE agent = :agent AND action = :action AND created_at >= :d30 AND rowid != :me
             GROUP BY st"
        ))?;
        let rows = stmt.query_map(
            named_params! {
                ":now": to_ms(now),
                ":d7": to_ms(now - Duration::days(7)),
                ":d30": to_ms(now - Duration::days(30)),
                ":agent": agent,
                ":action": action,
                ":me": rowid,
            },
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )?;
        let mut last_7_days = StatusTotals::default();
        let mut last_30_days = StatusTotals::default();
        for row in rows {
            let (status, n7, n30) = row?;
            let status = ApprovalStatus::parse(&status).unwrap_or(ApprovalStatus::Pending);
            last_7_days.add(status, n7.max(0) as u64);
            last_30_days.add(status, n30.max(0) as u64);
        }

        let mut stmt = self.conn.prepare_cached(
            "SELECT id, summary, status, created_at, json
             FROM approvals INDEXED BY approvals_agent_action_key
             WHERE agent = :agent AND action = :action AND status IN ('approved', 'denied')
                   AND rowid != :me
             ORDER BY created_at DESC LIMIT :n",
        )?;
        let recent_decisions = stmt
            .query_map(
                named_params! {":agent": agent, ":action": action, ":me": rowid, ":n": RECENT_DECISIONS},
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )?
            .map(|row| {
                let (id, summary, status, created_at, json) = row?;
                let (_, decision) = params_and_decision(&id, &json)?;
                Ok(RecentDecision {
                    status: ApprovalStatus::parse(&status).unwrap_or(ApprovalStatus::Pending),
                    created_at: from_ms(created_at),
                    id,
                    summary,
                    decision,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecentActivity {
            agent: agent.to_string(),
            action: action.to_string(),
            last_7_days,
            last_30_days,
            recent_decisions,
        })
    }

    /// The newest request of the same agent and action created no later than
    /// `created_at` that the server approved (a decision still queued here does not
    /// count: it may yet be refused), other than row `rowid`; with its parameters.
    fn last_approved_before(
        &self,
        rowid: i64,
        agent: &str,
        action: &str,
        created_at: i64,
    ) -> Result<Option<(DiffBase, Value)>> {
        let row: Option<(String, i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, created_at, json
                 FROM approvals INDEXED BY approvals_agent_action_key
                 WHERE agent = :agent AND action = :action AND created_at <= :created
                       AND status = 'approved' AND server_status = 'approved' AND rowid != :me
                 ORDER BY created_at DESC LIMIT 1",
            )?
            .query_row(
                named_params! {":agent": agent, ":action": action, ":created": created_at, ":me": rowid},
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((id, created_at, json)) = row else {
            return Ok(None);
        };
        let (params, decision) = params_and_decision(&id, &json)?;
        Ok(Some((
            DiffBase {
                id,
                created_at: from_ms(created_at),
                decision,
            },
            params,
        )))
    }
}

/// The parameters and the decision of a cached approval's JSON (one parse for both).
fn params_and_decision(id: &str, json: &str) -> Result<(Value, Option<Decision>)> {
    let unreadable =
        |e: serde_json::Error| CoreError::Protocol(format!("cached approval {id} unreadable: {e}"));
    let mut m = match serde_json::from_str::<Value>(json).map_err(unreadable)? {
        Value::Object(m) => m,
        _ => return Ok((Value::Null, None)),
    };
    let params = m.remove("params").unwrap_or(Value::Null);
    let decision = match m.remove("decision") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value(v).map_err(unreadable)?),
    };
    Ok((params, decision))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Approval, DecisionKind, ExecutionOutcome, ExecutionResult};
    use crate::store::approvals::tests::approval;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A request of `agent` created `days_ago`, in `status` (decided an hour later).
    fn req(id: &str, agent: &str, days_ago: i64, status: ApprovalStatus, seq: i64) -> Approval {
        let mut a = approval(id, agent, seq, t0());
        a.created_at = t0() - Duration::days(days_ago);
        a.expires_at = a.created_at + Duration::days(1);
        a.status = status;
        let kind = match status {
            ApprovalStatus::Approved => Some(DecisionKind::Approve),
            ApprovalStatus::Denied => Some(DecisionKind::Deny),
            _ => None,
        };
        a.decision = kind.map(|kind| Decision {
            kind,
            by: format!("approver-of-{id}"),
            at: a.created_at + Duration::hours(1),
            notes: Some(format!("notes on {id}")),
            reason: (kind == DecisionKind::Deny).then(|| "too risky".to_string()),
            receipt: None,
        });
        a
    }

    #[test]
    fn activity_counts_the_same_agent_and_action_over_7_and_30_days() {
        let mut store = Store::open_in_memory().unwrap();
        let mut me = req("appr-me", "bot", 0, ApprovalStatus::Pending, 1);
        me.expires_at = t0() + Duration::hours(2);
        let mut other_action = req("appr-x1", "bot", 1, ApprovalStatus::Approved, 2);
        other_action.action = "kubernetes:delete".into();
        let mut still_pending = req("appr-p", "bot", 0, ApprovalStatus::Pending, 9);
        still_pending.expires_at = t0() + Duration::hours(1);
        store
            .upsert_approvals(&[
                me,
                req("appr-a1", "bot", 1, ApprovalStatus::Approved, 3),
                req("appr-d1", "bot", 3, ApprovalStatus::Denied, 4),
                // Pending on the server, past its expiry on this clock: expired.
                req("appr-e1", "bot", 6, ApprovalStatus::Pending, 5),
                req("appr-a8", "bot", 8, ApprovalStatus::Approved, 6),
                req("appr-d29", "bot", 29, ApprovalStatus::Denied, 7),
                // Outside both windows, other agent, other action: not counted.
                req("appr-a31", "bot", 31, ApprovalStatus::Approved, 8),
                req("appr-other", "other-bot", 1, ApprovalStatus::Approved, 10),
                other_action,
                still_pending,
            ])
            .unwrap();
        let ctx = store.approval_context("appr-me", t0()).unwrap().unwrap();
        let a = &ctx.recent_activity;
        let t = |p, ap, d, e| StatusTotals {
            pending: p,
            approved: ap,
            denied: d,
            expired: e,
        };
        assert_eq!(a.last_7_days, t(1, 1, 1, 1), "itself left out");
        assert_eq!(a.last_30_days, t(1, 2, 2, 1));
        let ids: Vec<&str> = a.recent_decisions.iter().map(|d| d.id.as_str()).collect();
        // Newest first, decided only, any age.
        assert_eq!(
            ids,
            vec!["appr-a1", "appr-d1", "appr-a8", "appr-d29", "appr-a31"]
        );
        let d1 = a.recent_decisions[1].decision.as_ref().unwrap();
        assert_eq!(d1.by, "approver-of-appr-d1");
        assert_eq!(d1.reason.as_deref(), Some("too risky"));
        assert_eq!(d1.notes.as_deref(), Some("notes on appr-d1"));

        // A week later on the same data, the 7-day window moved on.
        let later = t0() + Duration::days(7);
        let ctx = store.approval_context("appr-me", later).unwrap().unwrap();
        assert_eq!(
            ctx.recent_activity.last_7_days,
            t(0, 0, 0, 1),
            "only appr-p, expired by then"
        );
        assert_eq!(ctx.recent_activity.last_30_days, t(0, 2, 1, 2));
        assert!(store.approval_context("appr-nope", t0()).unwrap().is_none());
    }

    #[test]
    fn the_diff_is_against_the_newest_earlier_approved_request_of_its_kind() {
        let mut store = Store::open_in_memory().unwrap();
        let mut first = req("appr-1", "bot", 5, ApprovalStatus::Approved, 1);
        first.params = json!({"spec": {"replicas": 3}, "image": "app:v1"});
        let mut denied = req("appr-2", "bot", 3, ApprovalStatus::Denied, 2);
        denied.params = json!({"spec": {"replicas": 100}});
        let mut approved = req("appr-3", "bot", 2, ApprovalStatus::Approved, 3);
        approved.params = json!({"spec": {"replicas": 4}, "image": "app:v1"});
        let mut now = req("appr-4", "bot", 0, ApprovalStatus::Pending, 4);
        now.expires_at = t0() + Duration::hours(1);
        now.params = json!({"spec": {"replicas": 5}, "image": "app:v1", "force": true});
        // Approved later than appr-4 was created: not what appr-4 is compared with.
        let mut newer = req("appr-5", "bot", 0, ApprovalStatus::Approved, 5);
        newer.created_at = t0() + Duration::minutes(1);
        newer.execution = Some(ExecutionResult {
            outcome: ExecutionOutcome::Failed,
            output: json!({}),
            recorded_at: t0(),
        });
        store
            .upsert_approvals(&[first, denied, approved, now, newer])
            .unwrap();
        let ctx = store.approval_context("appr-4", t0()).unwrap().unwrap();
        let cmp = ctx.params_diff.unwrap();
        assert_eq!(cmp.against.id, "appr-3");
        assert_eq!(
            cmp.against.decision.as_ref().map(|d| d.by.as_str()),
            Some("approver-of-appr-3")
        );
        assert_eq!(
            (cmp.diff.added, cmp.diff.changed, cmp.diff.unchanged_count),
            (1, 1, 1)
        );
        assert_eq!(cmp.diff.entries[1].path, "spec.replicas");
        assert_eq!(cmp.diff.entries[1].old.as_deref(), Some("4"));
        // The first of its kind has nothing to compare with.
        let ctx = store.approval_context("appr-1", t0()).unwrap().unwrap();
        assert!(ctx.params_diff.is_none());
        // Another agent's request of the same action is not "its kind".
        let mut stranger = req("appr-s", "stranger", 0, ApprovalStatus::Pending, 6);
        stranger.expires_at = t0() + Duration::hours(1);
        store.upsert_approvals(&[stranger]).unwrap();
        let ctx = store.approval_context("appr-s", t0()).unwrap().unwrap();
        assert!(ctx.params_diff.is_none());
    }

    #[test]
    fn the_history_queries_read_the_agent_action_index() {
        let store = Store::open_in_memory().unwrap();
        // The counts: the index alone, no table rows.
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {STATUS_NOW} AS st, COUNT(*)
             FROM approvals INDEXED BY approvals_agent_action_key
             WHERE agent = 'a' AND action = 'b' AND created_at >= 0 AND rowid != 1 GROUP BY st"
        );
        let plan: Vec<String> = store
            .conn()
            .prepare(&sql)
            .unwrap()
            .query_map(named_params! {":now": 0}, |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|p| p.contains("COVERING INDEX approvals_agent_action_key")),
            "{plan:?}"
        );
    }
}
