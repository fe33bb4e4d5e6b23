//! Stats computed from the cache, same shape as the server's `GET /approvals/stats`,
//! so the Stats view works offline.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::named_params;

use super::approvals::parse_outcome;
use super::{to_ms, Store};
use crate::api::{ApprovalStatus, ExecutionTotals, Stats, StatsBucket, StatusTotals};
use crate::error::Result;

#[derive(Default)]
struct Acc {
    totals: StatusTotals,
    response_sum: f64,
    response_n: u64,
}

impl Acc {
    fn add(&mut self, status: ApprovalStatus, response_secs: Option<f64>) {
        self.totals.add(status, 1);
        if let Some(s) = response_secs {
            self.response_sum += s;
            self.response_n += 1;
        }
    }

    fn average(&self) -> Option<f64> {
        (self.response_n > 0).then(|| self.response_sum / self.response_n as f64)
    }

    fn bucket(self, key: String) -> StatsBucket {
        let average_response_secs = self.average();
        StatsBucket {
            key,
            totals: self.totals,
            average_response_secs,
        }
    }
}

impl Store {
    /// Approvals created in `[from, to)`, by the status the user sees at `now`.
    /// Response time is decision time minus creation, over decided approvals
    /// (including this device's queued decisions).
    pub fn local_stats(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Stats> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT CASE WHEN status = 'pending' AND expires_at <= :now THEN 'expired' ELSE status END,
                    agent, reason_code,
                    CASE WHEN decided_at IS NOT NULL AND status IN ('approved', 'denied')
                         THEN (decided_at - created_at) / 1000.0 END,
                    outcome
             FROM approvals
             WHERE created_at >= :from AND created_at < :to",
        )?;
        let rows = stmt.query_map(
            named_params! {
                ":now": to_ms(now),
                ":from": from.map(to_ms).unwrap_or(i64::MIN),
                ":to": to.map(to_ms).unwrap_or(i64::MAX),
            },
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<f64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )?;
        let mut all = Acc::default();
        let mut by_agent: BTreeMap<String, Acc> = BTreeMap::new();
        let mut by_reason: BTreeMap<String, Acc> = BTreeMap::new();
        let mut executions = ExecutionTotals::default();
        for row in rows {
            let (status, agent, reason, resp, outcome) = row?;
            let status = ApprovalStatus::parse(&status).unwrap_or(ApprovalStatus::Pending);
            if status == ApprovalStatus::Approved {
                executions.add(outcome.as_deref().and_then(parse_outcome), 1);
            }
            all.add(status, resp);
            by_agent.entry(agent).or_default().add(status, resp);
            by_reason.entry(reason).or_default().add(status, resp);
        }
        let sorted = |m: BTreeMap<String, Acc>| {
            let mut v: Vec<StatsBucket> = m.into_iter().map(|(k, a)| a.bucket(k)).collect();
            countersign_api::sort_busiest_first(&mut v);
            v
        };
        let average_response_secs = all.average();
        Ok(Stats {
            from,
            to,
            totals: all.totals,
            average_response_secs,
            by_agent: sorted(by_agent),
            by_reason: sorted(by_reason),
            executions: Some(executions),
        })
    }
}
