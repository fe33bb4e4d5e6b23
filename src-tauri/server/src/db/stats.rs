//! `GET /approvals/stats`: counts by status, by agent and by reason code, and the
//! mean time from creation to decision.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use countersign_api::{
    ApprovalStatus, ExecutionOutcome, ExecutionTotals, Stats, StatsBucket, StatusTotals,
};
use rusqlite::{params, Connection};

use super::to_ms;
use crate::error::ServerError;

#[derive(Default)]
struct Acc {
    totals: StatusTotals,
    response_ms: i64,
    decided: i64,
}

impl Acc {
    fn add(&mut self, status: ApprovalStatus, n: i64, response_ms: i64, decided: i64) {
        self.totals.add(status, u64::try_from(n).unwrap_or(0));
        self.response_ms += response_ms;
        self.decided += decided;
    }

    fn average_secs(&self) -> Option<f64> {
        (self.decided > 0).then(|| self.response_ms as f64 / self.decided as f64 / 1000.0)
    }

    fn bucket(self, key: String) -> StatsBucket {
        StatsBucket {
            key,
            average_response_secs: self.average_secs(),
            totals: self.totals,
        }
    }
}

/// Approvals created in `[from, to)` (either bound optional).
pub fn stats(
    conn: &Connection,
    org: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Stats, ServerError> {
    stats_in(conn, org, None, from, to)
}

/// [`stats`] over the approvals of an agent token's bound agent ids (None: all).
pub fn stats_in(
    conn: &Connection,
    org: &str,
    scope: Option<&[String]>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Stats, ServerError> {
    let agents = super::approvals::scope_clause(scope)?.unwrap_or(rusqlite::types::Value::Null);
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, reason_code, status, COUNT(*),
                COALESCE(SUM(decided_at - created_at), 0), COUNT(decided_at)
         FROM approvals
         WHERE org = ?1 AND created_at >= ?2 AND created_at < ?3
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(?4) WHERE agent_id GLOB value))
         GROUP BY agent_id, reason_code, status",
    )?;
    let rows = stmt.query_map(
        params![
            org,
            from.map_or(i64::MIN, to_ms),
            to.map_or(i64::MAX, to_ms),
            agents
        ],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        },
    )?;
    let mut all = Acc::default();
    let mut by_agent: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_reason: BTreeMap<String, Acc> = BTreeMap::new();
    for row in rows {
        let (agent, reason, status, n, response_ms, decided) = row?;
        let status = ApprovalStatus::parse(&status)
            .ok_or_else(|| ServerError::Corrupt(format!("status {status:?}")))?;
        all.add(status, n, response_ms, decided);
        by_agent
            .entry(agent)
            .or_default()
            .add(status, n, response_ms, decided);
        by_reason
            .entry(reason)
            .or_default()
            .add(status, n, response_ms, decided);
    }
    let sorted = |m: BTreeMap<String, Acc>| {
        let mut v: Vec<StatsBucket> = m.into_iter().map(|(k, a)| a.bucket(k)).collect();
        countersign_api::sort_busiest_first(&mut v);
        v
    };
    let executions = executions(conn, org, scope, from, to)?;
    Ok(Stats {
        from,
        to,
        executions: Some(executions),
        average_response_secs: all.average_secs(),
        totals: all.totals,
        by_agent: sorted(by_agent),
        by_reason: sorted(by_reason),
    })
}

/// Outcomes of the approved approvals created in `[from, to)`.
fn executions(
    conn: &Connection,
    org: &str,
    scope: Option<&[String]>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<ExecutionTotals, ServerError> {
    let agents = super::approvals::scope_clause(scope)?.unwrap_or(rusqlite::types::Value::Null);
    let mut stmt = conn.prepare_cached(
        "SELECT exec_outcome, COUNT(*) FROM approvals
         WHERE org = ?1 AND status = 'approved' AND created_at >= ?2 AND created_at < ?3
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(?4) WHERE agent_id GLOB value))
         GROUP BY exec_outcome",
    )?;
    let rows = stmt.query_map(
        params![
            org,
            from.map_or(i64::MIN, to_ms),
            to.map_or(i64::MAX, to_ms),
            agents
        ],
        |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?)),
    )?;
    let mut t = ExecutionTotals::default();
    for row in rows {
        let (outcome, n) = row?;
        let outcome = match outcome.as_deref() {
            None => None,
            Some("succeeded") => Some(ExecutionOutcome::Succeeded),
            Some("failed") => Some(ExecutionOutcome::Failed),
            Some(other) => return Err(ServerError::Corrupt(format!("outcome {other:?}"))),
        };
        t.add(outcome, u64::try_from(n).unwrap_or(0));
    }
    Ok(t)
}
