//! Creating approvals and the read paths: the filtered list and the change feed.

use chrono::{DateTime, Utc};
use countersign_api::{
    Approval, ApprovalList, ApprovalStatus, AuditEvent, ChangesPage, MAX_PAGE_BYTES,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};
use serde_json::json;

use super::rows::{
    approval_from_row, get_approval, insert_approval, latest_change_seq, next_change_seq, COLUMNS,
};
use super::{to_ms, Change};
use crate::audit::{self, NewEntry};
use crate::error::ServerError;
use crate::links::LinkBase;
use crate::page::PageWriter;

#[derive(Debug)]
pub enum CreateOutcome {
    Created(Approval),
    AlreadyExists(Approval),
}

/// Inserts a new approval (its `change_seq` is assigned here) with its `created` entry.
pub fn create(
    conn: &Connection,
    mut approval: Approval,
    changes: &mut Vec<Change>,
) -> Result<CreateOutcome, ServerError> {
    if let Some(existing) = get_approval(conn, &approval.org_id, &approval.id)? {
        return Ok(CreateOutcome::AlreadyExists(existing));
    }
    approval.change_seq = next_change_seq(conn)?;
    insert_approval(conn, &approval)?;
    audit::append(
        conn,
        NewEntry {
            org: &approval.org_id,
            approval_id: &approval.id,
            event: AuditEvent::Created,
            actor: &approval.requested_by,
            at: approval.created_at,
            notes: None,
            reason: Some(&approval.reason_text),
            // What the approvers will be shown and asked to sign, so `verify-audit`
            // can tell when the approvals row no longer says what was raised.
            data: json!({
                "agent": approval.agent.id,
                "action": approval.action,
                "reason_code": approval.reason_code,
                "expires_at": approval.expires_at,
                "params_sha256": countersign_api::receipt::params_sha256(&approval.params),
                "summary": approval.summary,
                "required_approvals": approval.required_approvals,
            }),
        },
    )?;
    changes.push(Change {
        org: approval.org_id.clone(),
        id: approval.id.clone(),
        seq: approval.change_seq,
    });
    Ok(CreateOutcome::Created(approval))
}

/// Position in the newest-first order: (created_at ms, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub created_ms: i64,
    pub id: String,
}

impl ListCursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_ms, self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (ms, id) = s.split_once('.')?;
        let created_ms = ms.parse().ok()?;
        countersign_api::is_valid_approval_id(id).then(|| ListCursor {
            created_ms,
            id: id.to_string(),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<ApprovalStatus>,
    pub agent: Option<String>,
    pub action: Option<String>,
    pub reason: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub q: Option<String>,
    pub limit: u32,
    pub cursor: Option<ListCursor>,
    /// Only approvals of these agent ids (an agent token's binding); None: all.
    pub scope: Option<Vec<String>>,
}

/// The SQL condition and argument limiting rows to an agent token's bound agent ids
/// (a JSON array of bindings, each matched with `agent_id GLOB binding`, so the
/// statement text does not vary with its length).
pub fn scope_clause(scope: Option<&[String]>) -> Result<Option<SqlValue>, ServerError> {
    scope
        .map(|agents| Ok(SqlValue::Text(serde_json::to_string(agents)?)))
        .transpose()
}

/// The latest `change_seq` among approvals of `org` the scope sees (0 when none).
pub fn latest_change_seq_in(
    conn: &Connection,
    org: &str,
    scope: Option<&[String]>,
) -> Result<i64, ServerError> {
    match scope_clause(scope)? {
        None => latest_change_seq(conn, org),
        Some(agents) => Ok(conn
            .prepare_cached(
                "SELECT MAX(change_seq) FROM approvals WHERE org = ?1
                 AND EXISTS (SELECT 1 FROM json_each(?2) WHERE agent_id GLOB value)",
            )?
            .query_row(rusqlite::params![org, agents], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .unwrap_or(0)),
    }
}

fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Newest first: the JSON of an `ApprovalList`, at most `f.limit` items and about
/// [`MAX_PAGE_BYTES`] (at least one item), with the cursor of the next page.
pub fn list(
    conn: &Connection,
    org: &str,
    f: &ListFilter,
    base: &LinkBase,
) -> Result<Vec<u8>, ServerError> {
    let mut sql = format!("SELECT {COLUMNS} FROM approvals WHERE org = ?");
    let mut args: Vec<SqlValue> = vec![SqlValue::Text(org.to_string())];
    if let Some(agents) = scope_clause(f.scope.as_deref())? {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(?) WHERE agent_id GLOB value)");
        args.push(agents);
    }
    if !f.statuses.is_empty() {
        sql.push_str(" AND status IN (");
        for (i, s) in f.statuses.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            args.push(SqlValue::Text(s.as_str().to_string()));
        }
        sql.push(')');
    }
    for (col, val) in [
        ("agent_id", &f.agent),
        ("action", &f.action),
        ("reason_code", &f.reason),
    ] {
        if let Some(v) = val {
            sql.push_str(&format!(" AND {col} = ?"));
            args.push(SqlValue::Text(v.clone()));
        }
    }
    if let Some(from) = f.from {
        sql.push_str(" AND created_at >= ?");
        args.push(SqlValue::Integer(to_ms(from)));
    }
    if let Some(to) = f.to {
        sql.push_str(" AND created_at < ?");
        args.push(SqlValue::Integer(to_ms(to)));
    }
    if let Some(q) = &f.q {
        let pat = like_pattern(q);
        sql.push_str(" AND (");
        let cols = [
            "id",
            "summary",
            "agent_id",
            "agent_name",
            "action",
            "params",
            "reason_code",
            "reason_text",
        ];
        for (i, col) in cols.iter().enumerate() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str(&format!("{col} LIKE ? ESCAPE '\\'"));
            args.push(SqlValue::Text(pat.clone()));
        }
        sql.push(')');
    }
    if let Some(c) = &f.cursor {
        sql.push_str(" AND (created_at, id) < (?, ?)");
        args.push(SqlValue::Integer(c.created_ms));
        args.push(SqlValue::Text(c.id.clone()));
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
    args.push(SqlValue::Integer(i64::from(f.limit) + 1));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let mut page = PageWriter::new(MAX_PAGE_BYTES);
    let mut last: Option<ListCursor> = None;
    let mut more = false;
    // Rows are read one at a time and dropped once written (see `page`).
    while let Some(row) = rows.next()? {
        if page.len() == f.limit as usize {
            more = true;
            break;
        }
        let a = base.apply(approval_from_row(row)?);
        if !page.push(&a)? {
            more = true;
            break;
        }
        last = Some(ListCursor {
            created_ms: to_ms(a.created_at),
            id: a.id,
        });
    }
    let next = if more { last } else { None };
    page.finish(&ApprovalList {
        items: Vec::new(),
        next_cursor: next.map(|c| c.encode()),
    })
}

/// Approvals of `org` changed after `after`, oldest change first: the JSON of a
/// `ChangesPage` of at most `limit` items and about [`MAX_PAGE_BYTES`] (at least one
/// item). Only the latest state is stored, so each approval appears at most once.
/// Read in one snapshot, so `latest` and the items agree.
pub fn changes(
    conn: &Connection,
    org: &str,
    after: i64,
    limit: u32,
    epoch: &str,
    base: &LinkBase,
) -> Result<Vec<u8>, ServerError> {
    changes_in(conn, org, None, after, limit, epoch, base)
}

/// [`changes`] limited to the approvals of an agent token's bound agent ids (None:
/// all); `latest` then counts only those too, so nothing about others shows.
pub fn changes_in(
    conn: &Connection,
    org: &str,
    scope: Option<&[String]>,
    after: i64,
    limit: u32,
    epoch: &str,
    base: &LinkBase,
) -> Result<Vec<u8>, ServerError> {
    let tx = conn.unchecked_transaction()?;
    let latest = latest_change_seq_in(&tx, org, scope)?;
    // NULL selects every agent: `?4 IS NULL OR EXISTS (... GLOB ...)`.
    let agents = scope_clause(scope)?.unwrap_or(SqlValue::Null);
    let mut page = PageWriter::new(MAX_PAGE_BYTES);
    let mut next = after;
    let mut has_more = false;
    {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM approvals WHERE org = ?1 AND change_seq > ?2
             AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(?4) WHERE agent_id GLOB value))
             ORDER BY change_seq LIMIT ?3"
        ))?;
        let mut rows = stmt.query(rusqlite::params![org, after, i64::from(limit) + 1, agents])?;
        while let Some(row) = rows.next()? {
            if page.len() == limit as usize {
                has_more = true;
                break;
            }
            let a = base.apply(approval_from_row(row)?);
            if !page.push(&a)? {
                has_more = true;
                break;
            }
            next = a.change_seq;
        }
    }
    tx.commit()?;
    page.finish(&ChangesPage {
        items: Vec::new(),
        next,
        has_more,
        epoch: Some(epoch.to_string()),
        latest: Some(latest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = ListCursor {
            created_ms: 1_733_000_000_123,
            id: "appr-a.b_c".replace('.', "-"),
        };
        assert_eq!(ListCursor::decode(&c.encode()), Some(c));
        for bad in ["", "abc", "12", "x.appr-1", "12.not-an-id", "12.appr-A"] {
            assert_eq!(ListCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("100%"), "%100\\%%");
        assert_eq!(like_pattern("a_b\\"), "%a\\_b\\\\%");
    }
}
