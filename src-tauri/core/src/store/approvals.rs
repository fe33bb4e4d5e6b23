//! Cached approvals: upsert from the server, queue queries, facets, detail.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::outbox::{OutboxEntry, OutboxState};
use super::{from_ms, to_ms, Store};
use crate::api::{Approval, ApprovalStatus, AuditTrail, DecisionKind};
use crate::error::{CoreError, Result};
use crate::notify_plan::PendingInfo;

/// SQL for the status the user sees: a pending approval past its expiry is expired,
/// even before the server says so (offline).
const EFFECTIVE_STATUS: &str =
    "CASE WHEN a.status = 'pending' AND a.expires_at <= :now THEN 'expired' ELSE a.status END";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    #[default]
    NewestFirst,
    OldestFirst,
    ExpiringFirst,
}

/// Filters of the queue view. All optional; `limit` 0 means the default (100).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueQuery {
    pub status: Option<ApprovalStatus>,
    pub agent: Option<String>,
    pub action: Option<String>,
    pub reason: Option<String>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    /// Free text, matched against summary, agent, action and params (prefix match per word).
    pub search: Option<String>,
    pub sort: SortOrder,
    pub limit: u32,
    pub offset: u32,
}

/// A decision of this device that has not reached the server yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingDecision {
    pub kind: DecisionKind,
    pub state: OutboxState,
    pub decided_at: DateTime<Utc>,
}

/// One line of the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub id: String,
    /// What the user should see: server status, or the optimistic result of a queued
    /// decision, or `expired` once `expires_at` passed locally.
    pub status: ApprovalStatus,
    /// Pending on the server side but past `expires_at` on this clock.
    pub locally_expired: bool,
    pub agent: String,
    pub agent_name: Option<String>,
    pub action: String,
    pub reason_code: String,
    pub summary: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub pending_decision: Option<PendingDecision>,
    /// When a full resync found that the server no longer has it (restored from an
    /// older backup, or rebuilt). Kept because the approver decided on it; it cannot
    /// be decided again.
    #[serde(default)]
    pub gone_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// Matches over all pages.
    pub total: u64,
}

/// Distinct values for the filter dropdowns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facets {
    pub agents: Vec<String>,
    pub actions: Vec<String>,
    pub reasons: Vec<String>,
}

/// Everything the detail view shows, from the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDetail {
    /// The approval as the server last sent it.
    pub approval: Approval,
    /// See [`QueueItem::status`].
    pub status: ApprovalStatus,
    pub locally_expired: bool,
    /// The latest decision this device made on it (queued, sending, applied, rejected or expired).
    pub local_decision: Option<OutboxEntry>,
    pub audit: Option<AuditTrail>,
    pub audit_fetched_at: Option<DateTime<Utc>>,
    /// See [`QueueItem::gone_at`].
    #[serde(default)]
    pub gone_at: Option<DateTime<Utc>>,
    /// Decided under this device's identity, but not from this device: "decided by
    /// you on another device". Filled in by the engine, which knows who signed in.
    #[serde(default)]
    pub decided_by_you_elsewhere: bool,
}

/// Turns user text into an FTS5 query: each word quoted (so operators in user text
/// are literal) and prefix-matched; words are ANDed.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        None
    } else {
        Some(words.join(" "))
    }
}

impl Store {
    /// Writes approvals as the server sent them. A row never goes back to an older
    /// `change_seq`; while a local decision is in flight the optimistic status is kept.
    /// Returns the ids whose cached state changed.
    pub fn upsert_approvals(&mut self, items: &[Approval]) -> Result<Vec<String>> {
        self.upsert(items, None)
    }

    /// Writes one page of changes and moves the sync cursor in the same transaction,
    /// so a crash never leaves the cursor ahead of the data.
    pub fn upsert_page(&mut self, items: &[Approval], cursor: i64) -> Result<Vec<String>> {
        self.upsert(items, Some(cursor))
    }

    fn upsert(&mut self, items: &[Approval], cursor: Option<i64>) -> Result<Vec<String>> {
        let tx = self.conn.transaction()?;
        let changed = upsert_in(&tx, items, cursor)?;
        tx.commit()?;
        Ok(changed)
    }

    /// Like [`Store::upsert_page`], but the server's state wins even over a newer
    /// `change_seq`: during a full resync the server's numbers may have gone back.
    pub fn upsert_page_resync(&mut self, items: &[Approval], cursor: i64) -> Result<Vec<String>> {
        let tx = self.conn.transaction()?;
        let changed = upsert_with(&tx, items, Some(cursor), true)?;
        tx.commit()?;
        Ok(changed)
    }

    /// The approval as last received from the server.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT json FROM approvals WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        json.map(|j| {
            serde_json::from_str(&j)
                .map_err(|e| CoreError::Protocol(format!("cached approval {id} unreadable: {e}")))
        })
        .transpose()
    }

    pub fn count_approvals(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM approvals", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    pub fn list(&self, q: &QueueQuery, now: DateTime<Utc>) -> Result<QueuePage> {
        let mut where_sql = vec!["1 = 1".to_string()];
        let mut args: Vec<(String, rusqlite::types::Value)> = Vec::new();
        args.push((":now".into(), to_ms(now).into()));
        if let Some(st) = q.status {
            // Written against the raw columns so the status index is usable.
            where_sql.push(match st {
                ApprovalStatus::Pending => {
                    "(a.status = 'pending' AND a.expires_at > :now AND a.gone_at IS NULL)"
                        .to_string()
                }
                ApprovalStatus::Expired => {
                    "(a.status = 'expired' OR (a.status = 'pending' AND a.expires_at <= :now))"
                        .to_string()
                }
                other => format!("a.status = '{}'", other.as_str()),
            });
        }
        for (col, val, name) in [
            ("a.agent", &q.agent, ":agent"),
            ("a.action", &q.action, ":action"),
            ("a.reason_code", &q.reason, ":reason"),
        ] {
            if let Some(v) = val.as_deref().filter(|v| !v.is_empty()) {
                where_sql.push(format!("{col} = {name}"));
                args.push((name.into(), v.to_string().into()));
            }
        }
        if let Some(from) = q.from {
            where_sql.push("a.created_at >= :from".into());
            args.push((":from".into(), to_ms(from).into()));
        }
        if let Some(to) = q.to {
            where_sql.push("a.created_at < :to".into());
            args.push((":to".into(), to_ms(to).into()));
        }
        if let Some(fq) = q.search.as_deref().and_then(fts_query) {
            where_sql.push(
                "a.rowid IN (SELECT rowid FROM approvals_fts WHERE approvals_fts MATCH :q)".into(),
            );
            args.push((":q".into(), fq.into()));
        }
        let where_clause = where_sql.join(" AND ");
        let order = match q.sort {
            SortOrder::NewestFirst => "a.created_at DESC, a.id DESC",
            SortOrder::OldestFirst => "a.created_at ASC, a.id ASC",
            SortOrder::ExpiringFirst => "a.expires_at ASC, a.id ASC",
        };
        let limit = if q.limit == 0 {
            100
        } else {
            q.limit.min(10_000)
        };

        // SQLite refuses named parameters that a statement does not use.
        let bind = |sql: &str| -> Vec<(&str, &dyn rusqlite::ToSql)> {
            args.iter()
                .filter(|(k, _)| sql.contains(k.as_str()))
                .map(|(k, v)| (k.as_str(), v as &dyn rusqlite::ToSql))
                .collect()
        };
        let count_sql = format!("SELECT count(*) FROM approvals a WHERE {where_clause}");
        let total: i64 = self
            .conn
            .query_row(&count_sql, bind(&count_sql).as_slice(), |r| r.get(0))?;
        // When ordering by creation, keep the planner on the (column, created_at)
        // indexes instead of range-scanning expires_at and sorting every match.
        let list_where = if q.sort == SortOrder::ExpiringFirst {
            where_clause.clone()
        } else {
            where_clause.replace("a.expires_at", "+a.expires_at")
        };
        let sql = format!(
            "SELECT a.id, {EFFECTIVE_STATUS}, a.status, a.agent, json_extract(a.json, '$.agent.name'),
                    a.action, a.reason_code, a.summary, a.created_at, a.expires_at,
                    o.kind, o.state, o.decided_at, a.gone_at
             FROM approvals a
             LEFT JOIN outbox o ON o.approval_id = a.id AND o.state IN ('queued', 'sending')
             WHERE {list_where}
             ORDER BY {order}
             LIMIT {limit} OFFSET {offset}",
            offset = q.offset
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let items = stmt
            .query_map(bind(&sql).as_slice(), queue_item)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(QueuePage {
            items,
            total: total as u64,
        })
    }

    pub fn facets(&self) -> Result<Facets> {
        let col = |sql: &str| -> Result<Vec<String>> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let v = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(v)
        };
        Ok(Facets {
            agents: col("SELECT DISTINCT agent FROM approvals ORDER BY agent")?,
            actions: col("SELECT DISTINCT action FROM approvals ORDER BY action")?,
            reasons: col("SELECT DISTINCT reason_code FROM approvals ORDER BY reason_code")?,
        })
    }

    pub fn detail(&self, id: &str, now: DateTime<Utc>) -> Result<Option<ApprovalDetail>> {
        let row: Option<(String, String, Option<i64>)> = self
            .conn
            .query_row(
                &format!(
                    "SELECT json, {EFFECTIVE_STATUS}, gone_at FROM approvals a WHERE a.id = :id"
                ),
                rusqlite::named_params! {":id": id, ":now": to_ms(now)},
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((json, status, gone_at)) = row else {
            return Ok(None);
        };
        let approval: Approval = serde_json::from_str(&json)
            .map_err(|e| CoreError::Protocol(format!("cached approval {id} unreadable: {e}")))?;
        let status = ApprovalStatus::parse(&status).unwrap_or(approval.status);
        let locally_expired =
            approval.status == ApprovalStatus::Pending && approval.expires_at <= now;
        let local_decision = self.latest_outbox_for(id)?;
        let audit: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT json, fetched_at FROM audit_cache WHERE approval_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (audit, audit_fetched_at) = match audit {
            Some((j, at)) => (serde_json::from_str(&j).ok(), Some(from_ms(at))),
            None => (None, None),
        };
        Ok(Some(ApprovalDetail {
            approval,
            status,
            locally_expired,
            local_decision,
            audit,
            audit_fetched_at,
            gone_at: gone_at.map(from_ms),
            decided_by_you_elsewhere: false,
        }))
    }

    pub fn save_audit(&self, trail: &AuditTrail, now: DateTime<Utc>) -> Result<()> {
        let json = serde_json::to_string(trail).map_err(|e| CoreError::Protocol(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO audit_cache(approval_id, json, fetched_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(approval_id) DO UPDATE SET json = excluded.json, fetched_at = excluded.fetched_at",
            params![trail.approval_id, json, to_ms(now)],
        )?;
        Ok(())
    }

    /// Pending approvals whose expiry falls in `(since, now]`.
    pub fn expired_between(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM approvals
             WHERE status = 'pending' AND expires_at > ?1 AND expires_at <= ?2",
        )?;
        let v = stmt
            .query_map([to_ms(since), to_ms(now)], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(v)
    }

    /// Approvals pending (and not expired) at `now`, oldest first, as the
    /// notification planner sees them.
    pub fn pending_infos(&self, now: DateTime<Utc>) -> Result<Vec<PendingInfo>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, agent, action, summary, expires_at FROM approvals
             WHERE status = 'pending' AND expires_at > ?1 AND gone_at IS NULL
             ORDER BY created_at, id",
        )?;
        let v = stmt
            .query_map([to_ms(now)], |r| {
                Ok(PendingInfo {
                    id: r.get(0)?,
                    agent: r.get(1)?,
                    action: r.get(2)?,
                    summary: r.get(3)?,
                    expires_at: from_ms(r.get(4)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }
}

/// Upserts within the caller's transaction (see [`Store::upsert_approvals`]).
pub(crate) fn upsert_in(
    tx: &rusqlite::Transaction<'_>,
    items: &[Approval],
    cursor: Option<i64>,
) -> Result<Vec<String>> {
    upsert_with(tx, items, cursor, false)
}

/// `force`: write even over a newer `change_seq` (full resync).
fn upsert_with(
    tx: &rusqlite::Transaction<'_>,
    items: &[Approval],
    cursor: Option<i64>,
    force: bool,
) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    {
        let mut up = tx.prepare_cached(
                "INSERT INTO approvals(id, status, server_status, agent, action, reason_code, summary,
                     created_at, expires_at, decided_at, change_seq, json)
                 VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(id) DO UPDATE SET
                     server_status = excluded.server_status,
                     status = CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.approval_id = excluded.id
                                                AND o.state IN ('queued', 'sending'))
                              THEN approvals.status ELSE excluded.status END,
                     agent = excluded.agent, action = excluded.action,
                     reason_code = excluded.reason_code, summary = excluded.summary,
                     created_at = excluded.created_at, expires_at = excluded.expires_at,
                     decided_at = CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.approval_id = excluded.id
                                                AND o.state IN ('queued', 'sending'))
                              THEN approvals.decided_at ELSE excluded.decided_at END,
                     change_seq = excluded.change_seq, json = excluded.json, gone_at = NULL
                 WHERE excluded.change_seq >= approvals.change_seq OR ?12
                 RETURNING rowid",
            )?;
        let mut fts_del = tx.prepare_cached("DELETE FROM approvals_fts WHERE rowid = ?1")?;
        let mut fts_ins = tx.prepare_cached(
                "INSERT INTO approvals_fts(rowid, summary, agent, action, params) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
        for a in items {
            let json = serde_json::to_string(a)
                .map_err(|e| CoreError::Protocol(format!("approval {}: {e}", a.id)))?;
            let rowid: Option<i64> = up
                .query_row(
                    params![
                        a.id,
                        a.status.as_str(),
                        a.agent.id,
                        a.action,
                        a.reason_code,
                        a.summary,
                        to_ms(a.created_at),
                        to_ms(a.expires_at),
                        a.decision.as_ref().map(|d| to_ms(d.at)),
                        a.change_seq,
                        json,
                        force,
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(rowid) = rowid {
                fts_del.execute([rowid])?;
                let params_text = match &a.params {
                    serde_json::Value::Null => String::new(),
                    v => v.to_string(),
                };
                let agent_text = match &a.agent.name {
                    Some(n) => format!("{} {n}", a.agent.id),
                    None => a.agent.id.clone(),
                };
                fts_ins.execute(params![rowid, a.summary, agent_text, a.action, params_text])?;
                changed.push(a.id.clone());
            }
        }
    }
    if let Some(c) = cursor {
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('change_cursor', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [c.to_string()],
        )?;
    }
    Ok(changed)
}

fn queue_item(r: &Row<'_>) -> rusqlite::Result<QueueItem> {
    let status: String = r.get(1)?;
    let raw: String = r.get(2)?;
    let kind: Option<String> = r.get(10)?;
    let state: Option<String> = r.get(11)?;
    let decided_at: Option<i64> = r.get(12)?;
    let pending_decision = match (kind, state, decided_at) {
        (Some(k), Some(s), Some(at)) => Some(PendingDecision {
            kind: if k == "deny" {
                DecisionKind::Deny
            } else {
                DecisionKind::Approve
            },
            state: OutboxState::parse(&s).unwrap_or(OutboxState::Queued),
            decided_at: from_ms(at),
        }),
        _ => None,
    };
    Ok(QueueItem {
        id: r.get(0)?,
        status: ApprovalStatus::parse(&status).unwrap_or(ApprovalStatus::Pending),
        locally_expired: raw == "pending" && status == "expired",
        agent: r.get(3)?,
        agent_name: r.get(4)?,
        action: r.get(5)?,
        reason_code: r.get(6)?,
        summary: r.get(7)?,
        created_at: from_ms(r.get(8)?),
        expires_at: from_ms(r.get(9)?),
        pending_decision,
        gone_at: r.get::<_, Option<i64>>(13)?.map(from_ms),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::{AgentRef, Decision};
    use crate::store::outbox::NewDecision;
    use chrono::Duration;

    pub(crate) fn approval(id: &str, agent: &str, seq: i64, now: DateTime<Utc>) -> Approval {
        Approval {
            id: id.into(),
            org_id: "org-demo".into(),
            agent: AgentRef {
                id: agent.into(),
                name: Some("Display Name".into()),
                version: None,
            },
            action: "kubernetes:deploy".into(),
            summary: format!("Deploy {id} to production namespace"),
            status: ApprovalStatus::Pending,
            reason_code: "REQUIRES_APPROVAL".into(),
            reason_text: "needs a human".into(),
            params: serde_json::json!({"namespace": "production", "image": "app:v2.0.0"}),
            policy_trace: vec![],
            risk: Default::default(),
            created_at: now - Duration::hours(seq),
            expires_at: now + Duration::hours(24),
            requested_by: "agent".into(),
            decision: None,
            execution: None,
            change_seq: seq,
        }
    }

    #[test]
    fn fts_query_quotes_user_text() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(
            fts_query("deploy prod"),
            Some("\"deploy\"* \"prod\"*".into())
        );
        // FTS operators and quotes are literal, not syntax.
        assert_eq!(
            fts_query("a\"b OR NEAR("),
            Some("\"a\"\"b\"* \"OR\"* \"NEAR(\"*".into())
        );
    }

    #[test]
    fn filters_search_sort_and_paging() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        let mut items: Vec<Approval> = (1..=6)
            .map(|i| {
                approval(
                    &format!("appr-{i}"),
                    if i % 2 == 0 { "even-bot" } else { "odd-bot" },
                    i,
                    now,
                )
            })
            .collect();
        items[0].params = serde_json::json!({"bucket": "quarterly-invoices"});
        items[1].status = ApprovalStatus::Approved;
        s.upsert_approvals(&items).unwrap();
        let ids = |p: QueuePage| p.items.into_iter().map(|i| i.id).collect::<Vec<_>>();

        let all = s.list(&QueueQuery::default(), now).unwrap();
        assert_eq!(all.total, 6);
        assert_eq!(all.items[0].id, "appr-1", "newest first");
        assert_eq!(all.items[0].agent_name.as_deref(), Some("Display Name"));

        let q = QueueQuery {
            agent: Some("even-bot".into()),
            status: Some(ApprovalStatus::Pending),
            ..Default::default()
        };
        assert_eq!(ids(s.list(&q, now).unwrap()), vec!["appr-4", "appr-6"]);

        let q = QueueQuery {
            search: Some("quarterly".into()),
            ..Default::default()
        };
        assert_eq!(
            ids(s.list(&q, now).unwrap()),
            vec!["appr-1"],
            "params are searched"
        );
        let q = QueueQuery {
            search: Some("odd-b".into()),
            ..Default::default()
        };
        assert_eq!(
            s.list(&q, now).unwrap().total,
            3,
            "agent is searched by prefix"
        );
        let q = QueueQuery {
            search: Some("\") OR (\"".into()),
            ..Default::default()
        };
        assert_eq!(
            s.list(&q, now).unwrap().total,
            0,
            "hostile search text is just text"
        );

        let q = QueueQuery {
            from: Some(now - Duration::minutes(150)),
            to: Some(now),
            ..Default::default()
        };
        assert_eq!(ids(s.list(&q, now).unwrap()), vec!["appr-1", "appr-2"]);

        let q = QueueQuery {
            sort: SortOrder::OldestFirst,
            limit: 2,
            offset: 1,
            ..Default::default()
        };
        let p = s.list(&q, now).unwrap();
        assert_eq!(p.total, 6);
        assert_eq!(ids(p), vec!["appr-5", "appr-4"]);

        let f = s.facets().unwrap();
        assert_eq!(f.agents, vec!["even-bot", "odd-bot"]);
        assert_eq!(f.reasons, vec!["REQUIRES_APPROVAL"]);
    }

    #[test]
    fn pending_past_expiry_shows_expired_locally() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        s.upsert_approvals(&[approval("appr-1", "bot", 1, now)])
            .unwrap();
        let later = now + Duration::hours(25);
        let p = s.list(&QueueQuery::default(), later).unwrap();
        assert_eq!(p.items[0].status, ApprovalStatus::Expired);
        assert!(p.items[0].locally_expired);
        let pending = QueueQuery {
            status: Some(ApprovalStatus::Pending),
            ..Default::default()
        };
        assert_eq!(s.list(&pending, later).unwrap().total, 0);
        let expired = QueueQuery {
            status: Some(ApprovalStatus::Expired),
            ..Default::default()
        };
        assert_eq!(s.list(&expired, later).unwrap().total, 1);
        let d = s.detail("appr-1", later).unwrap().unwrap();
        assert_eq!(d.status, ApprovalStatus::Expired);
        assert_eq!(s.local_stats(None, None, later).unwrap().totals.expired, 1);
    }

    #[test]
    fn optimistic_status_survives_pulls_until_the_decision_lands() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        s.upsert_approvals(&[approval("appr-1", "bot", 1, now)])
            .unwrap();
        let (q, skipped) = s
            .enqueue_decisions(
                &[
                    "appr-1".to_string(),
                    "appr-1".to_string(),
                    "appr-zzz".to_string(),
                ],
                &NewDecision {
                    kind: DecisionKind::Approve,
                    notes: Some("ok"),
                    reason: None,
                    batch_id: None,
                },
                now,
            )
            .unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert_eq!(
            s.list(&QueueQuery::default(), now).unwrap().items[0].status,
            ApprovalStatus::Approved
        );
        // A pull that still says pending does not undo the local decision.
        let mut again = approval("appr-1", "bot", 1, now);
        again.change_seq = 5;
        s.upsert_approvals(&[again.clone()]).unwrap();
        let item = &s.list(&QueueQuery::default(), now).unwrap().items[0];
        assert_eq!(item.status, ApprovalStatus::Approved);
        assert!(item.pending_decision.is_some());
        // Deciding again is refused.
        let (q2, sk2) = s
            .enqueue_decisions(
                &["appr-1".to_string()],
                &NewDecision {
                    kind: DecisionKind::Deny,
                    notes: None,
                    reason: Some("r"),
                    batch_id: None,
                },
                now,
            )
            .unwrap();
        assert!(q2.is_empty());
        assert!(sk2[0].1.contains("already queued"), "{sk2:?}");
        // An older state never overwrites a newer one.
        let mut old = approval("appr-1", "bot", 1, now);
        old.change_seq = 2;
        old.summary = "stale".into();
        assert!(s.upsert_approvals(&[old]).unwrap().is_empty());
        // Applied: the server's view takes over.
        let mut applied = again;
        applied.change_seq = 6;
        applied.status = ApprovalStatus::Approved;
        applied.decision = Some(Decision {
            kind: DecisionKind::Approve,
            by: "alice".into(),
            at: now,
            notes: None,
            reason: None,
        });
        s.outbox_mark_applied(q[0].seq, &applied, now).unwrap();
        let item = &s.list(&QueueQuery::default(), now).unwrap().items[0];
        assert_eq!(item.status, ApprovalStatus::Approved);
        assert!(item.pending_decision.is_none());
        let stats = s.local_stats(None, None, now).unwrap();
        assert_eq!(stats.totals.approved, 1);
        // Created an hour before `now`, decided at `now`: to the millisecond.
        let avg = stats.average_response_secs.unwrap();
        assert!((avg - 3600.0).abs() < 0.01, "{avg}");
    }

    #[test]
    fn rejection_restores_the_server_status() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        s.upsert_approvals(&[approval("appr-1", "bot", 1, now)])
            .unwrap();
        let (q, _) = s
            .enqueue_decisions(
                &["appr-1".to_string()],
                &NewDecision {
                    kind: DecisionKind::Deny,
                    notes: None,
                    reason: Some("r"),
                    batch_id: None,
                },
                now,
            )
            .unwrap();
        let mut bobs = approval("appr-1", "bot", 1, now);
        bobs.change_seq = 9;
        bobs.status = ApprovalStatus::Approved;
        bobs.decision = Some(Decision {
            kind: DecisionKind::Approve,
            by: "bob".into(),
            at: now,
            notes: None,
            reason: None,
        });
        s.outbox_mark_failed(
            q[0].seq,
            OutboxState::Rejected,
            "already decided (409)",
            Some(&bobs),
            now,
        )
        .unwrap();
        let d = s.detail("appr-1", now).unwrap().unwrap();
        assert_eq!(d.status, ApprovalStatus::Approved);
        let local = d.local_decision.unwrap();
        assert_eq!(local.state, OutboxState::Rejected);
        assert!(
            local.explain().starts_with("approved by bob"),
            "{}",
            local.explain()
        );
        // Finishing twice is a no-op (a second process may race us).
        s.outbox_mark_failed(q[0].seq, OutboxState::Expired, "x", None, now)
            .unwrap();
        assert_eq!(
            s.outbox_entry(q[0].seq).unwrap().unwrap().state,
            OutboxState::Rejected
        );
    }

    #[test]
    fn an_expired_unsent_decision_can_be_dismissed_and_it_persists() {
        let now = Utc::now();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let seq = {
            let mut s = Store::open(&path).unwrap();
            let mut a = approval("appr-1", "bot", 1, now);
            a.expires_at = now + Duration::minutes(5);
            s.upsert_approvals(&[a]).unwrap();
            let (q, _) = s
                .enqueue_decisions(
                    &["appr-1".to_string()],
                    &NewDecision {
                        kind: DecisionKind::Approve,
                        notes: None,
                        reason: None,
                        batch_id: None,
                    },
                    now,
                )
                .unwrap();
            let seq = q[0].seq;
            let err = s.outbox_dismiss(seq, now).unwrap_err();
            assert_eq!(err.code(), "invalid_input");
            assert!(err.to_string().contains("queued"), "{err}");
            let later = now + Duration::minutes(10);
            assert_eq!(s.outbox_expire_unsent(later).unwrap().len(), 1);
            let e = s.outbox_dismiss(seq, later).unwrap();
            assert_eq!(e.state, OutboxState::Expired);
            assert_eq!(
                e.dismissed_at.map(|t| t.timestamp_millis()),
                Some(later.timestamp_millis())
            );
            // Idempotent: a second dismiss keeps the first time.
            let again = s.outbox_dismiss(seq, later + Duration::minutes(1)).unwrap();
            assert_eq!(again.dismissed_at, e.dismissed_at);
            seq
        };
        let s = Store::open(&path).unwrap();
        let failed = [OutboxState::Rejected, OutboxState::Expired];
        assert!(s.outbox_list(&failed, false).unwrap().is_empty());
        assert!(s.outbox_list(&[], false).unwrap().is_empty());
        let kept = s.outbox_list(&failed, true).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].seq, seq);
        assert!(kept[0].dismissed_at.is_some());
    }
}
