//! Cached approvals: upsert from the server, queue queries, facets, detail.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::match_set::PROBE;
use super::outbox::{OutboxEntry, OutboxState};
use super::{from_ms, to_ms, Store};
use crate::api::{Approval, ApprovalStatus, AuditTrail, DecisionKind, ExecutionOutcome};
use crate::engine::lock;
use crate::error::{CoreError, Result};
use crate::notify_plan::PendingInfo;
use crate::risk::{chips_of, risk_chips, RiskChip};

/// SQL for the status the user sees: a pending approval past its expiry is expired,
/// even before the server says so (offline).
const EFFECTIVE_STATUS: &str =
    "CASE WHEN a.status = 'pending' AND a.expires_at <= :now THEN 'expired' ELSE a.status END";

/// SQL: the signed-in approver's name framed as in `approvals.approvers`
/// ("\nalice\n"), NULL when nobody is signed in. Uncorrelated: evaluated once per
/// statement.
const ME_LINE: &str = "(SELECT char(10) || json_extract(value, '$.subject') || char(10)
     FROM meta WHERE key = 'settings')";

/// SQL: the approvers of the row's cached JSON in the form of `approvals.approvers`,
/// for putting the column back after a local decision did not land.
pub(crate) const APPROVERS_FROM_JSON: &str = "(SELECT char(10)
     || group_concat(json_extract(value, '$.by'), char(10)) || char(10)
     FROM json_each(approvals.json, '$.approvals'))";

/// `approvals.approvers` of an approval: each approver on its own line, framed by
/// newlines so a name is found whole (`instr` of "\nbob\n"); `None` when nobody approved.
pub(crate) fn approvers_column(a: &Approval) -> Option<String> {
    if a.approvals.is_empty() {
        return None;
    }
    let mut s = String::from("\n");
    for v in &a.approvals {
        s.push_str(&v.by);
        s.push('\n');
    }
    Some(s)
}

/// How many approvers an `approvals.approvers` value names.
pub(crate) fn approver_count(column: Option<&str>) -> u8 {
    let n = column.map_or(0, |c| c.split('\n').filter(|l| !l.is_empty()).count());
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// Whether an `approvals.approvers` value names `who` (whole names only).
pub(crate) fn approver_listed(column: Option<&str>, who: &str) -> bool {
    column.is_some_and(|c| c.contains(&format!("\n{who}\n")))
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    #[default]
    NewestFirst,
    OldestFirst,
    ExpiringFirst,
}

/// Filters of the queue view. All optional; `limit` 0 means the default (100).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
    /// Rows to skip after the key (or from the start): only for jumps, e.g. dragging
    /// the scrollbar far. Scrolling pages with `after` / `before`.
    pub offset: u32,
    /// Only rows strictly after this key in the sort order (the next page).
    pub after: Option<RowKey>,
    /// Only rows strictly before this key in the sort order (the previous page); the
    /// page still comes in sort order, ending just before the key.
    pub before: Option<RowKey>,
    /// Only what waits for others: pending quorum approvals that the approver signed
    /// in here already approved. (The Pending status leaves them out: they are not
    /// pending for me.)
    pub waiting: bool,
}

/// Where a row sits in the sort order: `at` is `created_at` for the newest/oldest
/// sorts and `expires_at` for expiring-first; `id` breaks ties. The UI sends it back
/// verbatim to page from that row.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RowKey {
    pub at: DateTime<Utc>,
    pub id: String,
}

/// A decision of this device that has not reached the server yet.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingDecision {
    pub kind: DecisionKind,
    pub state: OutboxState,
    pub decided_at: DateTime<Utc>,
}

/// One line of the queue.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub id: String,
    /// This row's place in the query's sort order (see [`QueueQuery::after`]).
    pub key: RowKey,
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
    /// See [`is_decidable`]: the one rule the UI and CLI use to offer Approve/Deny.
    pub decidable: bool,
    /// When a full resync found that the server no longer has it (restored from an
    /// older backup, or rebuilt). Kept because the approver decided on it; it cannot
    /// be decided again.
    #[serde(default)]
    pub gone_at: Option<DateTime<Utc>>,
    /// What the agent reported after executing it (approved rows only); `None` while
    /// it has not reported: the queue's executed ✓ / failed ✗ / not yet executed.
    #[serde(default)]
    pub outcome: Option<ExecutionOutcome>,
    /// Approvals recorded so far (with this device's approve on its way, if any).
    #[serde(default)]
    pub approvals: u8,
    /// Approvals it needs (1 unless the request asked for a quorum).
    #[serde(default = "one")]
    pub required_approvals: u8,
    /// Pending, and the approver signed in here already approved it: it waits for
    /// the others' approvals and is not decidable here ("Waiting for others").
    #[serde(default)]
    pub waiting_for_others: bool,
    /// See [`crate::risk`]: the same chips as the detail's.
    #[serde(default)]
    pub risks: Vec<RiskChip>,
}

fn one() -> u8 {
    1
}

/// The stored spelling of an outcome (the wire's, see [`ExecutionOutcome`]).
pub fn outcome_str(o: ExecutionOutcome) -> &'static str {
    match o {
        ExecutionOutcome::Succeeded => "succeeded",
        ExecutionOutcome::Failed => "failed",
    }
}

pub fn parse_outcome(s: &str) -> Option<ExecutionOutcome> {
    match s {
        "succeeded" => Some(ExecutionOutcome::Succeeded),
        "failed" => Some(ExecutionOutcome::Failed),
        _ => None,
    }
}

/// Whether an approval can be decided here now: pending as the user sees it (not
/// expired on this clock), no decision of this device already on its way, still on
/// the server (see [`QueueItem::gone_at`]), and not already approved by this approver
/// (a quorum approval waiting for others). The one definition of the rule; the
/// queue, the detail and the UI read it from here.
pub fn is_decidable(
    status: ApprovalStatus,
    decision_in_flight: bool,
    gone: bool,
    waiting_for_others: bool,
) -> bool {
    status == ApprovalStatus::Pending && !decision_in_flight && !gone && !waiting_for_others
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// Matches over all pages.
    pub total: u64,
}

/// Distinct values for the filter dropdowns.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facets {
    pub agents: Vec<String>,
    pub actions: Vec<String>,
    pub reasons: Vec<String>,
}

/// Everything the detail view shows, from the cache.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDetail {
    /// The approval as the server last sent it.
    pub approval: Approval,
    /// See [`QueueItem::status`].
    pub status: ApprovalStatus,
    pub locally_expired: bool,
    /// The latest decision this device made on it (queued, sending, applied, rejected or expired).
    pub local_decision: Option<OutboxEntry>,
    /// [`OutboxEntry::explain`] of `local_decision`, for the approver.
    pub local_explanation: Option<String>,
    /// See [`is_decidable`].
    pub decidable: bool,
    pub audit: Option<AuditTrail>,
    pub audit_fetched_at: Option<DateTime<Utc>>,
    /// See [`QueueItem::gone_at`].
    #[serde(default)]
    pub gone_at: Option<DateTime<Utc>>,
    /// Decided under this device's identity, but not from this device: "decided by
    /// you on another device". Filled in by the engine, which knows who signed in.
    #[serde(default)]
    pub decided_by_you_elsewhere: bool,
    /// See [`QueueItem::waiting_for_others`].
    #[serde(default)]
    pub waiting_for_others: bool,
    /// See [`crate::risk`].
    #[serde(default)]
    pub risks: Vec<RiskChip>,
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

/// The columns of a [`QueueItem`] after id and effective status, joined with the
/// decision in flight (if any).
const ITEM_COLUMNS: &str = "a.status, a.agent, json_extract(a.json, '$.agent.name'),
        a.action, a.reason_code, a.summary, a.created_at, a.expires_at,
        o.kind, o.state, o.decided_at, a.gone_at, a.outcome,
        a.approvers, coalesce(json_extract(a.json, '$.required_approvals'), 1),
        (SELECT json_extract(value, '$.subject') FROM meta WHERE key = 'settings'),
        json_extract(a.json, '$.risk.budget_used'), json_extract(a.json, '$.risk.budget_limit'),
        (SELECT count(*) FROM json_each(a.json, '$.policy_trace') t
          WHERE json_extract(t.value, '$.result') = 'fail'),
        (SELECT count(*) FROM json_each(a.json, '$.policy_trace') t
          WHERE json_extract(t.value, '$.result') = 'escalate')
     FROM approvals a
     LEFT JOIN outbox o ON o.approval_id = a.id AND o.state IN ('queued', 'sending')";

/// How a text search restricts the rows; see `Store::search_join`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SearchJoin {
    /// `rowid IN (matches)`: the statement starts from the matches (few of them), given
    /// as a JSON array of rowids taken from the loaded set, so the FTS query (costly
    /// for a prefix of a common word) is not run again.
    Drive(String),
    /// `queue_match(a.rowid)`: the statement walks an index and tests each row against
    /// the search's loaded [`super::match_set::MatchSet`].
    Probe,
}

/// What a statement does with a search, for choosing its join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Fills one page.
    Page,
    /// Counts, or skips to an offset: may visit every match.
    Scan,
    /// Tests a few named rows.
    Named,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    After,
    Before,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortDir {
    Forward,
    /// Reversed, to read the rows just before a key nearest first.
    Backward,
}

fn sort_col(sort: SortOrder) -> &'static str {
    match sort {
        SortOrder::NewestFirst | SortOrder::OldestFirst => "a.created_at",
        SortOrder::ExpiringFirst => "a.expires_at",
    }
}

fn order_sql(sort: SortOrder, dir: SortDir) -> &'static str {
    let descending = (sort == SortOrder::NewestFirst) == (dir == SortDir::Forward);
    match (sort, descending) {
        (SortOrder::ExpiringFirst, false) => "a.expires_at ASC, a.id ASC",
        (SortOrder::ExpiringFirst, true) => "a.expires_at DESC, a.id DESC",
        (_, false) => "a.created_at ASC, a.id ASC",
        (_, true) => "a.created_at DESC, a.id DESC",
    }
}

/// The WHERE clause of a queue query with its named arguments.
struct Where {
    clauses: Vec<String>,
    args: Vec<(&'static str, rusqlite::types::Value)>,
}

impl Where {
    fn filters(q: &QueueQuery, fq: Option<&str>, join: &SearchJoin, now: DateTime<Utc>) -> Where {
        let mut w = Where {
            clauses: vec!["1 = 1".to_string()],
            args: vec![(":now", to_ms(now).into())],
        };
        if let Some(st) = q.status {
            // Written against the raw columns so the status index is usable.
            w.clauses.push(match st {
                ApprovalStatus::Pending => format!(
                    "(a.status = 'pending' AND a.expires_at > :now AND a.gone_at IS NULL
                      AND coalesce(instr(a.approvers, {ME_LINE}), 0) = 0)"
                ),
                ApprovalStatus::Expired => {
                    "(a.status = 'expired' OR (a.status = 'pending' AND a.expires_at <= :now))"
                        .to_string()
                }
                other => format!("a.status = '{}'", other.as_str()),
            });
        }
        if q.waiting {
            w.clauses.push(format!(
                "(a.status = 'pending' AND a.expires_at > :now AND a.gone_at IS NULL
                  AND coalesce(instr(a.approvers, {ME_LINE}), 0) > 0)"
            ));
        }
        for (col, val, name) in [
            ("a.agent", &q.agent, ":agent"),
            ("a.action", &q.action, ":action"),
            ("a.reason_code", &q.reason, ":reason"),
        ] {
            if let Some(v) = val.as_deref().filter(|v| !v.is_empty()) {
                w.clauses.push(format!("{col} = {name}"));
                w.args.push((name, v.to_string().into()));
            }
        }
        if let Some(from) = q.from {
            w.clauses.push("a.created_at >= :from".into());
            w.args.push((":from", to_ms(from).into()));
        }
        if let Some(to) = q.to {
            w.clauses.push("a.created_at < :to".into());
            w.args.push((":to", to_ms(to).into()));
        }
        if fq.is_some() {
            match join {
                SearchJoin::Drive(rowids) => {
                    w.clauses
                        .push("a.rowid IN (SELECT value FROM json_each(:matches))".into());
                    w.args.push((":matches", rowids.clone().into()));
                }
                SearchJoin::Probe => w.clauses.push(format!("{PROBE}(a.rowid)")),
            }
        }
        w
    }

    /// Rows strictly after / before `key` in `sort`'s order. Written as a range on the
    /// sort column plus a tie test, so the index seeks to the key.
    fn key(&mut self, sort: SortOrder, key: &RowKey, side: Side) {
        let col = sort_col(sort);
        let (at, id) = match side {
            Side::After => (":after_at", ":after_id"),
            Side::Before => (":before_at", ":before_id"),
        };
        let later = (sort == SortOrder::NewestFirst) != (side == Side::After);
        let (cmp, strict) = if later { (">=", ">") } else { ("<=", "<") };
        self.clauses.push(format!(
            "{col} {cmp} {at} AND ({col} {strict} {at} OR a.id {strict} {id})"
        ));
        self.args.push((at, to_ms(key.at).into()));
        self.args.push((id, key.id.clone().into()));
    }

    fn sql(&self, sort: SortOrder) -> String {
        let cond = self.clauses.join(" AND ");
        // When ordering by creation, keep the planner on the created_at indexes instead
        // of range-scanning expires_at and sorting every match.
        if sort == SortOrder::ExpiringFirst {
            cond
        } else {
            cond.replace("a.expires_at", "+a.expires_at")
        }
    }

    /// SQLite refuses named parameters that a statement does not use.
    fn bind<'a>(&'a self, sql: &str) -> Vec<(&'a str, &'a dyn rusqlite::ToSql)> {
        self.args
            .iter()
            .filter(|(k, _)| sql.contains(k))
            .map(|(k, v)| (*k, v as &dyn rusqlite::ToSql))
            .collect()
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

    /// One page and the total over all pages (exact, uncached). The app pages with
    /// [`Store::page`] and takes totals from the engine's memo; this is for one-shot
    /// readers such as the CLI.
    pub fn list(&self, q: &QueueQuery, now: DateTime<Utc>) -> Result<QueuePage> {
        Ok(QueuePage {
            items: self.page(q, now)?,
            total: self.count(q, now)?,
        })
    }

    /// One page of the queue: `limit` rows in sort order, after/before a key and/or
    /// past `offset`. Never counts.
    pub fn page(&self, q: &QueueQuery, now: DateTime<Utc>) -> Result<Vec<QueueItem>> {
        let fq = q.search.as_deref().and_then(fts_query);
        let limit = if q.limit == 0 {
            100
        } else {
            q.limit.min(10_000)
        };
        let mut after = q.after.clone();
        if q.offset > 0 {
            // A jump: find the key just before the target row on the index alone, then
            // read the page from there like any keyset page.
            match self.key_at(q, fq.as_deref(), q.offset - 1, now)? {
                Some(k) if q.before.is_none() => after = Some(k),
                Some(k) => return self.page_before(q, fq.as_deref(), &after, &k, limit, now),
                None => return Ok(Vec::new()),
            }
        }
        match &q.before {
            Some(b) if q.offset == 0 => self.page_before(q, fq.as_deref(), &after, b, limit, now),
            _ => {
                let join = self.search_join(fq.as_deref(), Use::Page)?;
                let mut w = Where::filters(q, fq.as_deref(), &join, now);
                if let Some(k) = &after {
                    w.key(q.sort, k, Side::After);
                }
                self.select_items(q.sort, &w, SortDir::Forward, limit)
            }
        }
    }

    /// The `limit` rows just before `before` (and after `after`), in sort order.
    fn page_before(
        &self,
        q: &QueueQuery,
        fq: Option<&str>,
        after: &Option<RowKey>,
        before: &RowKey,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueItem>> {
        let join = self.search_join(fq, Use::Page)?;
        let mut w = Where::filters(q, fq, &join, now);
        if let Some(k) = after {
            w.key(q.sort, k, Side::After);
        }
        w.key(q.sort, before, Side::Before);
        let mut items = self.select_items(q.sort, &w, SortDir::Backward, limit)?;
        items.reverse();
        Ok(items)
    }

    /// Key of the row `n` places past `q.after` (or the start), reading the covering
    /// sort index only.
    fn key_at(
        &self,
        q: &QueueQuery,
        fq: Option<&str>,
        n: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<RowKey>> {
        let join = self.search_join(fq, Use::Scan)?;
        let mut w = Where::filters(q, fq, &join, now);
        if let Some(k) = &q.after {
            w.key(q.sort, k, Side::After);
        }
        let sql = format!(
            "SELECT {col}, a.id FROM approvals a WHERE {cond} ORDER BY {order} LIMIT 1 OFFSET {n}",
            col = sort_col(q.sort),
            cond = w.sql(q.sort),
            order = order_sql(q.sort, SortDir::Forward),
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row(w.bind(&sql).as_slice(), |r| {
                Ok(RowKey {
                    at: from_ms(r.get(0)?),
                    id: r.get(1)?,
                })
            })
            .optional()?)
    }

    fn select_items(
        &self,
        sort: SortOrder,
        w: &Where,
        dir: SortDir,
        limit: u32,
    ) -> Result<Vec<QueueItem>> {
        let sql = format!(
            "SELECT a.id, {EFFECTIVE_STATUS}, {ITEM_COLUMNS} WHERE {cond} ORDER BY {order} LIMIT {limit}",
            cond = w.sql(sort),
            order = order_sql(sort, dir),
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let items = stmt
            .query_map(w.bind(&sql).as_slice(), |r| queue_item(r, sort))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(items)
    }

    /// Rows matching `q`'s filters over all pages (paging fields ignored). Exact, not
    /// memoised: see [`crate::store::count_memo::CountMemo`] for the cached total.
    pub fn count(&self, q: &QueueQuery, now: DateTime<Utc>) -> Result<u64> {
        self.count_before(q, None, now)
    }

    fn count_before(
        &self,
        q: &QueueQuery,
        before: Option<&RowKey>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let fq = q.search.as_deref().and_then(fts_query);
        let only_search = before.is_none()
            && q.status.is_none()
            && [&q.agent, &q.action, &q.reason]
                .iter()
                .all(|v| v.as_deref().is_none_or(str::is_empty))
            && q.from.is_none()
            && q.to.is_none();
        let join = self.search_join(fq.as_deref(), Use::Scan)?;
        if fq.is_some() && only_search {
            // Every indexed document is a cached approval: the matches are the count.
            return Ok(lock(&self.matches).len());
        }
        let mut w = Where::filters(q, fq.as_deref(), &join, now);
        if let Some(k) = before {
            w.key(q.sort, k, Side::Before);
        }
        let sql = format!("SELECT count(*) FROM approvals a WHERE {}", w.sql(q.sort));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let n: i64 = stmt.query_row(w.bind(&sql).as_slice(), |r| r.get(0))?;
        Ok(n as u64)
    }

    /// The given ids that match `q`'s filters (paging ignored), in sort order: what the
    /// UI re-reads when an event names rows, so it can patch them or drop the ones that
    /// stopped matching.
    pub fn rows_matching(
        &self,
        q: &QueueQuery,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueItem>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let fq = q.search.as_deref().and_then(fts_query);
        let join = self.search_join(fq.as_deref(), Use::Named)?;
        let mut w = Where::filters(q, fq.as_deref(), &join, now);
        w.clauses
            .push("a.id IN (SELECT value FROM json_each(:ids))".into());
        let ids = serde_json::to_string(ids).map_err(|e| CoreError::Internal(e.to_string()))?;
        w.args.push((":ids", ids.into()));
        let sql = format!(
            "SELECT a.id, {EFFECTIVE_STATUS}, {ITEM_COLUMNS} WHERE {cond} ORDER BY {order}",
            cond = w.sql(q.sort),
            order = order_sql(q.sort, SortDir::Forward),
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let items = stmt
            .query_map(w.bind(&sql).as_slice(), |r| queue_item(r, q.sort))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(items)
    }

    /// 0-based index of `id` in `q`'s filtered order, or `None` when it does not match
    /// (or is unknown).
    pub fn position(&self, q: &QueueQuery, id: &str, now: DateTime<Utc>) -> Result<Option<u64>> {
        let Some(row) = self.rows_matching(q, &[id.to_string()], now)?.pop() else {
            return Ok(None);
        };
        self.count_before(q, Some(&row.key), now).map(Some)
    }

    /// Bumped by every change to a cached approval, by any connection or process.
    pub fn change_stamp(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT n FROM change_stamp WHERE id = 1", [], |r| r.get(0))?)
    }

    /// Whether a pending approval's expiry falls in `(since, now]`: the pending and
    /// expired counts move with the clock even when no row changes.
    pub fn expiry_crossed(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM approvals
                            WHERE status = 'pending' AND expires_at > ?1 AND expires_at <= ?2)",
            [to_ms(since), to_ms(now)],
            |r| r.get(0),
        )?)
    }

    /// How a search joins the rows, loading its matches for the probe when needed.
    /// Few matches: start from them. Many: walk the sort or filter index and test each
    /// row against the loaded set (a page fills after `limit / share` rows).
    fn search_join(&self, fq: Option<&str>, purpose: Use) -> Result<SearchJoin> {
        let Some(fq) = fq else {
            return Ok(SearchJoin::Probe);
        };
        let stamp = self.change_stamp()?;
        let mut set = lock(&self.matches);
        if !set.is_for(fq, stamp) {
            // One row of text instead of a row per match: stepping rows through the API
            // cost more than the search itself.
            let mut stmt = self.conn.prepare_cached(
                "SELECT coalesce(group_concat(rowid), '') FROM approvals_fts
                 WHERE approvals_fts MATCH ?1",
            )?;
            let list: String = stmt.query_row([fq], |r| r.get(0))?;
            set.load(
                fq,
                stamp,
                list.split(',').filter(|v| !v.is_empty()).map(|v| {
                    v.parse::<i64>()
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
                }),
            )?;
        }
        let matches = set.len() as f64;
        drop(set);
        let rows: i64 =
            self.conn
                .query_row("SELECT coalesce(max(rowid), 0) FROM approvals", [], |r| {
                    r.get(0)
                })?;
        let rows = rows as f64;
        // Measured at 100,000 rows: starting from the matches costs ~0.5 µs per match;
        // a probed row ~0.15 µs. A page visits about 50 * rows / matches rows; a count,
        // jump or position may visit all of them.
        let probe = match purpose {
            Use::Page => 0.15 * 50.0 * rows / matches.max(1.0),
            Use::Scan => 0.15 * rows,
            Use::Named => return Ok(SearchJoin::Probe),
        };
        Ok(if probe < 0.5 * matches {
            SearchJoin::Probe
        } else {
            let rowids = lock(&self.matches).rowids();
            SearchJoin::Drive(
                serde_json::to_string(&rowids).map_err(|e| CoreError::Internal(e.to_string()))?,
            )
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
        let row: Option<(String, String, Option<i64>, bool)> = self
            .conn
            .query_row(
                &format!(
                    "SELECT json, {EFFECTIVE_STATUS}, gone_at,
                         coalesce(instr(a.approvers, {ME_LINE}), 0) > 0
                     FROM approvals a WHERE a.id = :id"
                ),
                rusqlite::named_params! {":id": id, ":now": to_ms(now)},
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((json, status, gone_at, approved_by_me)) = row else {
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
        let in_flight = local_decision.as_ref().is_some_and(|e| e.state.is_active());
        let waiting_for_others =
            approved_by_me && status == ApprovalStatus::Pending && gone_at.is_none();
        let risks = chips_of(&approval);
        Ok(Some(ApprovalDetail {
            approval,
            decidable: is_decidable(status, in_flight, gone_at.is_some(), waiting_for_others),
            waiting_for_others,
            local_explanation: local_decision.as_ref().map(OutboxEntry::explain),
            status,
            locally_expired,
            local_decision,
            audit,
            audit_fetched_at,
            gone_at: gone_at.map(from_ms),
            decided_by_you_elsewhere: false,
            risks,
        }))
    }

    /// Caches an audit trail; returns whether it differs from the cached one.
    pub fn save_audit(&self, trail: &AuditTrail, now: DateTime<Utc>) -> Result<bool> {
        let json = serde_json::to_string(trail).map_err(|e| CoreError::Protocol(e.to_string()))?;
        let before: Option<String> = self
            .conn
            .query_row(
                "SELECT json FROM audit_cache WHERE approval_id = ?1",
                [&trail.approval_id],
                |r| r.get(0),
            )
            .optional()?;
        self.conn.execute(
            "INSERT INTO audit_cache(approval_id, json, fetched_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(approval_id) DO UPDATE SET json = excluded.json, fetched_at = excluded.fetched_at",
            params![trail.approval_id, json, to_ms(now)],
        )?;
        Ok(before.as_deref() != Some(json.as_str()))
    }

    /// The earliest expiry of a pending approval after `now`: when the loop next has
    /// something to re-evaluate locally.
    pub fn next_expiry_after(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let ms: Option<i64> = self.conn.query_row(
            "SELECT min(expires_at) FROM approvals WHERE status = 'pending' AND expires_at > ?1",
            [to_ms(now)],
            |r| r.get(0),
        )?;
        Ok(ms.map(from_ms))
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
        // Only what waits for me: an approval I approved that waits for others is
        // not announced or reminded of again.
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, agent, action, summary, expires_at FROM approvals
             WHERE status = 'pending' AND expires_at > ?1 AND gone_at IS NULL
                 AND coalesce(instr(approvers, {ME_LINE}), 0) = 0
             ORDER BY created_at, id"
        ))?;
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
                     created_at, expires_at, decided_at, change_seq, json, outcome, approvers)
                 VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13, ?14)
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
                     approvers = CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.approval_id = excluded.id
                                                AND o.state IN ('queued', 'sending'))
                              THEN approvals.approvers ELSE excluded.approvers END,
                     change_seq = excluded.change_seq, json = excluded.json, gone_at = NULL,
                     outcome = excluded.outcome
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
                        a.execution.as_ref().map(|x| outcome_str(x.outcome)),
                        approvers_column(a),
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

/// A budget figure read from the cached JSON: a whole number ≥ 0, else unknown (the
/// cache holds what the server sent; a figure of another type is not trusted).
fn whole(v: rusqlite::types::Value) -> Option<u64> {
    match v {
        rusqlite::types::Value::Integer(i) => u64::try_from(i).ok(),
        _ => None,
    }
}

fn queue_item(r: &Row<'_>, sort: SortOrder) -> rusqlite::Result<QueueItem> {
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
    let id: String = r.get(0)?;
    let created_at = from_ms(r.get(8)?);
    let expires_at = from_ms(r.get(9)?);
    let key = RowKey {
        at: if sort == SortOrder::ExpiringFirst {
            expires_at
        } else {
            created_at
        },
        id: id.clone(),
    };
    let status = ApprovalStatus::parse(&status).unwrap_or(ApprovalStatus::Pending);
    let gone_at = r.get::<_, Option<i64>>(13)?.map(from_ms);
    let outcome = r
        .get::<_, Option<String>>(14)?
        .as_deref()
        .and_then(parse_outcome);
    let approvers: Option<String> = r.get(15)?;
    let me: Option<String> = r.get(17)?;
    let waiting_for_others = status == ApprovalStatus::Pending
        && gone_at.is_none()
        && me.is_some_and(|me| approver_listed(approvers.as_deref(), &me));
    Ok(QueueItem {
        outcome,
        decidable: is_decidable(
            status,
            pending_decision.is_some(),
            gone_at.is_some(),
            waiting_for_others,
        ),
        approvals: approver_count(approvers.as_deref()),
        required_approvals: u8::try_from(r.get::<_, i64>(16)?).unwrap_or(1),
        waiting_for_others,
        id,
        key,
        status,
        locally_expired: raw == "pending" && status == ApprovalStatus::Expired,
        agent: r.get(3)?,
        agent_name: r.get(4)?,
        action: r.get(5)?,
        reason_code: r.get(6)?,
        summary: r.get(7)?,
        created_at,
        expires_at,
        pending_decision,
        gone_at,
        risks: risk_chips(
            whole(r.get(18)?),
            whole(r.get(19)?),
            r.get::<_, i64>(20)?.try_into().unwrap_or(0),
            r.get::<_, i64>(21)?.try_into().unwrap_or(0),
        ),
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
            reason_code: "requires_approval".into(),
            reason_text: "needs a human".into(),
            params: serde_json::json!({"namespace": "production", "image": "app:v2.0.0"}),
            policy_trace: vec![],
            risk: Default::default(),
            created_at: now - Duration::hours(seq),
            expires_at: now + Duration::hours(24),
            requested_by: "agent".into(),
            decision: None,
            execution: None,
            required_approvals: 1,
            approvals: Vec::new(),
            change_seq: seq,
            links: None,
        }
    }

    #[test]
    fn the_approvers_column_names_whole_approvers() {
        let now = Utc::now();
        let mut a = approval("appr-q", "bot", 1, now);
        assert_eq!(approvers_column(&a), None);
        for by in ["bobby", "alice"] {
            a.approvals.push(crate::api::ApprovalVote {
                by: by.into(),
                at: now,
                notes: None,
                receipt: None,
            });
        }
        let col = approvers_column(&a);
        assert_eq!(col.as_deref(), Some("\nbobby\nalice\n"));
        assert_eq!(approver_count(col.as_deref()), 2);
        assert!(approver_listed(col.as_deref(), "alice"));
        assert!(
            !approver_listed(col.as_deref(), "bob"),
            "a prefix is not a name"
        );
        assert!(!approver_listed(None, "alice"));
    }

    #[test]
    fn queue_rows_carry_the_same_risk_chips_as_the_detail() {
        use crate::api::{TraceResult, TraceStep};
        use crate::risk::RiskKind;
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        let step = |name: &str, result| TraceStep {
            step: name.into(),
            result,
            detail: None,
        };
        let mut risky = approval("appr-risky", "bot", 1, now);
        risky.risk.budget_used = Some(47);
        risky.risk.budget_limit = Some(50);
        risky.policy_trace = vec![
            step("manifest", TraceResult::Pass),
            step("budget", TraceResult::Fail),
            step("human", TraceResult::Escalate),
        ];
        let mut calm = approval("appr-calm", "bot", 2, now);
        calm.risk.budget_used = Some(12);
        calm.risk.budget_limit = Some(50);
        calm.policy_trace = vec![step("manifest", TraceResult::Pass)];
        s.upsert_approvals(&[risky, calm]).unwrap();
        let page = s.page(&QueueQuery::default(), now).unwrap();
        let risks = |id: &str| page.iter().find(|i| i.id == id).unwrap().risks.clone();
        let kinds: Vec<_> = risks("appr-risky").iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![RiskKind::Failed, RiskKind::Budget, RiskKind::Escalated]
        );
        assert_eq!(risks("appr-risky")[1].label, "budget 94%");
        assert!(risks("appr-calm").is_empty());
        for id in ["appr-risky", "appr-calm"] {
            assert_eq!(s.detail(id, now).unwrap().unwrap().risks, risks(id), "{id}");
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
        assert_eq!(f.reasons, vec!["requires_approval"]);
    }

    /// 23 approvals in groups of three sharing a creation time to the millisecond, and
    /// expiry times in groups of four, ids not in creation order: ties everywhere.
    fn tied_rows(now: DateTime<Utc>) -> Vec<Approval> {
        (0..23)
            .map(|i: i64| {
                let mut a = approval(&format!("appr-{:02}", (i * 7) % 23), "bot", i + 1, now);
                a.created_at = now - Duration::minutes(i / 3);
                a.expires_at = now + Duration::hours(1 + (i % 6) / 4);
                if i % 5 == 0 {
                    a.status = ApprovalStatus::Approved;
                    a.summary = format!("refund {i}");
                }
                a
            })
            .collect()
    }

    fn keys(items: &[QueueItem]) -> Vec<String> {
        items.iter().map(|i| i.id.clone()).collect()
    }

    /// The order each sort promises, computed from the data rather than by the store.
    fn expected(all: &[Approval], sort: SortOrder) -> Vec<String> {
        let mut v: Vec<(i64, String)> = all
            .iter()
            .map(|a| {
                let at = match sort {
                    SortOrder::ExpiringFirst => a.expires_at,
                    _ => a.created_at,
                };
                (to_ms(at), a.id.clone())
            })
            .collect();
        v.sort();
        if sort == SortOrder::NewestFirst {
            v.reverse();
        }
        v.into_iter().map(|(_, id)| id).collect()
    }

    #[test]
    fn keyset_pages_cover_every_row_once_in_both_directions_for_every_sort() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        let rows = tied_rows(now);
        s.upsert_approvals(&rows).unwrap();
        for sort in [
            SortOrder::NewestFirst,
            SortOrder::OldestFirst,
            SortOrder::ExpiringFirst,
        ] {
            let want = expected(&rows, sort);
            let q = QueueQuery {
                sort,
                limit: 4,
                ..Default::default()
            };
            let all = s
                .page(
                    &QueueQuery {
                        limit: 100,
                        ..q.clone()
                    },
                    now,
                )
                .unwrap();
            assert_eq!(keys(&all), want, "{sort:?}: one page");
            // Forward, page by page from the last key.
            let mut got = Vec::new();
            let mut after = None;
            loop {
                let page = s
                    .page(
                        &QueueQuery {
                            after: after.clone(),
                            ..q.clone()
                        },
                        now,
                    )
                    .unwrap();
                if page.is_empty() {
                    break;
                }
                assert!(page.len() <= 4);
                after = Some(page.last().unwrap().key.clone());
                got.extend(keys(&page));
                assert!(got.len() <= want.len(), "{sort:?}: rows repeat: {got:?}");
            }
            assert_eq!(got, want, "{sort:?}: forward");
            // Backward from the last row, each page still in sort order.
            let mut got = vec![all.last().unwrap().id.clone()];
            let mut before = all.last().map(|i| i.key.clone());
            loop {
                let page = s
                    .page(
                        &QueueQuery {
                            before: before.clone(),
                            ..q.clone()
                        },
                        now,
                    )
                    .unwrap();
                if page.is_empty() {
                    break;
                }
                before = Some(page[0].key.clone());
                let mut ids = keys(&page);
                ids.extend(got);
                got = ids;
                assert!(got.len() <= want.len(), "{sort:?}: rows repeat: {got:?}");
            }
            assert_eq!(got, want, "{sort:?}: backward");
            // Between two keys, and jumps from any offset.
            let between = s
                .page(
                    &QueueQuery {
                        after: Some(all[2].key.clone()),
                        before: Some(all[9].key.clone()),
                        limit: 100,
                        ..q.clone()
                    },
                    now,
                )
                .unwrap();
            assert_eq!(keys(&between), want[3..9].to_vec(), "{sort:?}: between");
            for offset in 0..=want.len() {
                let page = s
                    .page(
                        &QueueQuery {
                            offset: offset as u32,
                            ..q.clone()
                        },
                        now,
                    )
                    .unwrap();
                let end = (offset + 4).min(want.len());
                assert_eq!(
                    keys(&page),
                    want[offset..end].to_vec(),
                    "{sort:?}: jump {offset}"
                );
                let after_key = s
                    .page(
                        &QueueQuery {
                            offset: offset as u32,
                            after: Some(all[0].key.clone()),
                            ..q.clone()
                        },
                        now,
                    )
                    .unwrap();
                let (from, end) = ((offset + 1).min(want.len()), (offset + 5).min(want.len()));
                assert_eq!(
                    keys(&after_key),
                    want[from..end].to_vec(),
                    "{sort:?}: jump {offset} after"
                );
            }
            // Each row's position is its index in the order.
            for (i, id) in want.iter().enumerate() {
                assert_eq!(
                    s.position(&q, id, now).unwrap(),
                    Some(i as u64),
                    "{sort:?} {id}"
                );
            }
            assert_eq!(s.position(&q, "appr-none", now).unwrap(), None);
            // Keys survive the trip through serde, as the UI sends them back.
            let wire: RowKey =
                serde_json::from_str(&serde_json::to_string(&all[5].key).unwrap()).unwrap();
            let next = s
                .page(
                    &QueueQuery {
                        after: Some(wire),
                        limit: 1,
                        ..q.clone()
                    },
                    now,
                )
                .unwrap();
            assert_eq!(keys(&next), vec![want[6].clone()]);
        }
    }

    #[test]
    fn filtered_keyset_paging_positions_and_counts_agree() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        let rows = tied_rows(now);
        s.upsert_approvals(&rows).unwrap();
        for q in [
            QueueQuery {
                status: Some(ApprovalStatus::Pending),
                limit: 3,
                ..Default::default()
            },
            QueueQuery {
                search: Some("ref".into()),
                sort: SortOrder::ExpiringFirst,
                limit: 2,
                ..Default::default()
            },
            QueueQuery {
                search: Some("deploy".into()),
                status: Some(ApprovalStatus::Pending),
                sort: SortOrder::OldestFirst,
                limit: 5,
                ..Default::default()
            },
        ] {
            let all = s
                .page(
                    &QueueQuery {
                        limit: 100,
                        ..q.clone()
                    },
                    now,
                )
                .unwrap();
            assert!(!all.is_empty(), "{q:?}");
            assert_eq!(s.count(&q, now).unwrap(), all.len() as u64, "{q:?}");
            let mut got = Vec::new();
            let mut after = None;
            loop {
                let page = s
                    .page(
                        &QueueQuery {
                            after: after.clone(),
                            ..q.clone()
                        },
                        now,
                    )
                    .unwrap();
                let Some(last) = page.last() else { break };
                after = Some(last.key.clone());
                got.extend(keys(&page));
                assert!(got.len() <= all.len(), "rows repeat: {got:?}");
            }
            assert_eq!(got, keys(&all), "{q:?}");
            for (i, item) in all.iter().enumerate() {
                assert_eq!(s.position(&q, &item.id, now).unwrap(), Some(i as u64));
            }
        }
        // A row outside the filter has no position.
        let pending = QueueQuery {
            status: Some(ApprovalStatus::Pending),
            ..Default::default()
        };
        assert_eq!(s.position(&pending, "appr-00", now).unwrap(), None);
    }

    #[test]
    fn both_search_joins_give_the_same_rows() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        let rows = tied_rows(now);
        s.upsert_approvals(&rows).unwrap();
        for (text, status) in [
            ("refund", None),
            ("re", Some(ApprovalStatus::Approved)),
            ("d", None),
            ("deploy prod", Some(ApprovalStatus::Pending)),
            ("nothing-like-this", None),
        ] {
            let q = QueueQuery {
                search: Some(text.into()),
                status,
                ..Default::default()
            };
            let fq = fts_query(text).unwrap();
            // Loads the matches for the probe.
            s.search_join(Some(&fq), Use::Named).unwrap();
            let run = |join: SearchJoin| {
                let w = Where::filters(&q, Some(&fq), &join, now);
                keys(&s.select_items(q.sort, &w, SortDir::Forward, 100).unwrap())
            };
            let rowids = serde_json::to_string(&lock(&s.matches).rowids()).unwrap();
            let m = run(SearchJoin::Drive(rowids));
            assert_eq!(m, run(SearchJoin::Probe), "{text}");
            assert_eq!(s.count(&q, now).unwrap(), m.len() as u64, "{text}");
        }
    }

    #[test]
    fn rows_matching_keeps_the_named_rows_that_still_match_in_sort_order() {
        let now = Utc::now();
        let mut s = Store::open_in_memory().unwrap();
        let rows = tied_rows(now);
        s.upsert_approvals(&rows).unwrap();
        let ids: Vec<String> = ["appr-07", "appr-00", "appr-14", "appr-unknown", "appr-05"]
            .map(String::from)
            .to_vec();
        // Unfiltered: every known id, newest first.
        let all = s.rows_matching(&QueueQuery::default(), &ids, now).unwrap();
        let want: Vec<String> = expected(&rows, SortOrder::NewestFirst)
            .into_iter()
            .filter(|id| ids.contains(id))
            .collect();
        assert_eq!(keys(&all), want);
        assert_eq!(want.len(), 4);
        // appr-00 is approved; the others are pending.
        let pending = QueueQuery {
            status: Some(ApprovalStatus::Pending),
            sort: SortOrder::OldestFirst,
            limit: 1,
            offset: 3,
            ..Default::default()
        };
        let got = s.rows_matching(&pending, &ids, now).unwrap();
        assert!(got.iter().all(|i| i.status == ApprovalStatus::Pending));
        assert!(
            !keys(&got).contains(&"appr-00".to_string()),
            "approved row dropped"
        );
        assert!(got.len() > 1, "paging is ignored: {got:?}");
        let mut sorted = got.clone();
        sorted.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        assert_eq!(got, sorted);
        // A search drops rows whose text does not match.
        let refund = QueueQuery {
            search: Some("refund".into()),
            ..Default::default()
        };
        assert_eq!(
            keys(&s.rows_matching(&refund, &ids, now).unwrap()),
            vec!["appr-00".to_string()]
        );
        assert!(s.rows_matching(&refund, &[], now).unwrap().is_empty());
        // A row that changes so it no longer matches disappears from the answer.
        let mut gone = rows[0].clone();
        gone.change_seq = 100;
        gone.summary = "something else".into();
        s.upsert_approvals(&[gone]).unwrap();
        assert!(s.rows_matching(&refund, &ids, now).unwrap().is_empty());
    }

    #[test]
    fn memoised_counts_follow_changes_from_any_connection_and_the_clock() {
        use crate::store::count_memo::CountMemo;
        let now = Utc::now();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut writer = Store::open(&path, None).unwrap();
        writer.upsert_approvals(&tied_rows(now)).unwrap();
        let reader = Store::open_reader(&path, None).unwrap();
        let mut memo = CountMemo::default();
        let total = |memo: &mut CountMemo, q: &QueueQuery, at: DateTime<Utc>| {
            let stamp = reader.change_stamp().unwrap();
            match memo.get(&reader, stamp, q, at).unwrap() {
                Some(t) => (t, true),
                None => {
                    let t = reader.count(q, at).unwrap();
                    memo.put(stamp, q, at, t);
                    (t, false)
                }
            }
        };
        let pending = QueueQuery {
            status: Some(ApprovalStatus::Pending),
            ..Default::default()
        };
        let approved = QueueQuery {
            status: Some(ApprovalStatus::Approved),
            sort: SortOrder::OldestFirst,
            ..Default::default()
        };
        assert_eq!(total(&mut memo, &pending, now), (18, false));
        assert_eq!(total(&mut memo, &pending, now), (18, true));
        // Sort and paging are not part of the shape.
        let paged = QueueQuery {
            sort: SortOrder::ExpiringFirst,
            offset: 7,
            ..pending.clone()
        };
        assert_eq!(total(&mut memo, &paged, now), (18, true));
        assert_eq!(total(&mut memo, &approved, now), (5, false));
        // A new row written by another connection.
        writer
            .upsert_approvals(&[approval("appr-new", "bot", 50, now)])
            .unwrap();
        assert_eq!(total(&mut memo, &pending, now), (19, false));
        // An optimistic decision (the writer changes the status column).
        writer
            .enqueue_decisions(
                &["appr-new".to_string()],
                &NewDecision {
                    kind: DecisionKind::Approve,
                    notes: None,
                    reason: None,
                    batch_id: None,
                    signer: None,
                },
                now,
            )
            .unwrap();
        assert_eq!(total(&mut memo, &pending, now), (18, false));
        assert_eq!(total(&mut memo, &approved, now), (6, false));
        // Time passing without an expiry keeps the memo; an expiry passing drops the
        // pending total but not the approved one.
        let soon = now + Duration::minutes(30);
        assert_eq!(total(&mut memo, &pending, soon), (18, true));
        let later = now + Duration::minutes(90);
        assert!(!total(&mut memo, &pending, later).1);
        assert!(total(&mut memo, &pending, later).0 < 18);
        assert_eq!(total(&mut memo, &approved, later), (6, true));
        // In memory, the writer's own changes count too.
        let mut mem = Store::open_in_memory().unwrap();
        let before = mem.change_stamp().unwrap();
        mem.upsert_approvals(&[approval("appr-1", "bot", 1, now)])
            .unwrap();
        assert_ne!(mem.change_stamp().unwrap(), before);
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
                    signer: None,
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
                    signer: None,
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
            receipt: None,
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
                    signer: None,
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
            notes: Some("looks fine".into()),
            reason: None,
            receipt: None,
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
        // Who, when and what they wrote, from the server's answer; not the raw error.
        let why = local.explain();
        assert!(why.starts_with("bob approved it at "), "{why}");
        assert!(why.contains(": 'looks fine'; your deny"), "{why}");
        assert!(!why.contains("409"), "{why}");
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
            let mut s = Store::open(&path, None).unwrap();
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
                        signer: None,
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
        let s = Store::open(&path, None).unwrap();
        let failed = [OutboxState::Rejected, OutboxState::Expired];
        assert!(s.outbox_list(&failed, false).unwrap().is_empty());
        assert!(s.outbox_list(&[], false).unwrap().is_empty());
        let kept = s.outbox_list(&failed, true).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].seq, seq);
        assert!(kept[0].dismissed_at.is_some());
    }
}
