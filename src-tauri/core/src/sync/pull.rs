//! Pull: page through `changes?after=<cursor>` until the server has nothing more.
//! The first sync of an empty store starts at 0 and so pages through everything.
//!
//! The cursor is only meaningful on the server history it came from. Before
//! trusting it, the first page is checked: a different epoch (a rebuilt server), a
//! cursor past the server's latest change (restored from an older backup), or the
//! change at the cursor now naming an approval this device never saw at that number
//! (restored, then moved past the old cursor) all start a full resync in the same
//! sync (see [`crate::store::resync`]).

use std::collections::HashSet;

use crate::api::{self, ChangesPage};
use crate::client::{ApiClient, PageAnswer};
use crate::conn_state::EngineEvent;
use crate::engine::Engine;
use crate::error::{CoreError, Result};
use crate::store::resync::ResyncReport;

#[derive(Debug, Default, Clone)]
pub struct PullSummary {
    pub pages: usize,
    pub received: usize,
    pub changed: usize,
    /// Set when this pull was (or finished) a full resync.
    pub resync: Option<ResyncReport>,
}

pub async fn pull(engine: &Engine, client: &ApiClient) -> Result<PullSummary> {
    let mut summary = PullSummary::default();
    let mut limit = engine.inner.opts.page_limit.clamp(1, api::MAX_PAGE_LIMIT);
    let (mut cursor, stored_epoch, mut resync) = engine
        .blocking(|e| {
            let r = e.reader()?;
            Ok((r.cursor()?, r.server_epoch()?, r.resync_pending()?))
        })
        .await?;
    if resync {
        cursor = 0;
    }
    // Every approval the server has, while resyncing.
    let mut seen: HashSet<String> = HashSet::new();
    let mut checked = resync;
    let mut epoch = None;
    loop {
        // The first request asks from one before the cursor, so the change at the
        // cursor comes back and shows whether the server's history is still ours.
        let after = if !checked && cursor > 0 {
            cursor - 1
        } else {
            cursor
        };
        let page = match client.changes_page(after, limit).await? {
            PageAnswer::Page(p) => p,
            PageAnswer::TooLarge(m) if limit > 1 => {
                // A page we cannot take must not stop sync for good: ask for less.
                limit = (limit / 2).max(1);
                tracing::warn!(limit, error = %m, "changes page too large; asking for smaller pages");
                continue;
            }
            PageAnswer::TooLarge(m) => return Err(CoreError::Protocol(m)),
        };
        summary.pages += 1;
        if page.epoch.is_some() {
            epoch = page.epoch.clone();
        }
        if !checked {
            checked = true;
            let stored = stored_epoch.clone();
            let first = page
                .items
                .first()
                .filter(|a| a.change_seq == cursor)
                .map(|a| a.id.clone());
            let (latest, served_epoch) = (page.latest, page.epoch.clone());
            let why = engine
                .blocking(move |e| {
                    stale_reason(e, cursor, stored, served_epoch, latest, first.as_deref())
                })
                .await?;
            if let Some(why) = why {
                tracing::warn!(reason = %why, "the server's history changed; full resync");
                let reason = why.clone();
                engine
                    .blocking(move |e| e.store().resync_begin(&reason))
                    .await?;
                resync = true;
                cursor = 0;
                continue;
            }
        }
        let has_more = page.has_more;
        let next = page.next.max(cursor);
        // The change at the cursor, asked for again only as a check, is not news.
        let floor = if resync { 0 } else { cursor };
        let good = received(&mut summary, page, client.org(), floor);
        if resync {
            seen.extend(good.iter().map(|a| a.id.clone()));
        }
        let changed = engine
            .blocking(move |e| {
                if resync {
                    e.store().upsert_page_resync(&good, next)
                } else {
                    e.store().upsert_page(&good, next)
                }
            })
            .await?;
        summary.changed += changed.len();
        if !changed.is_empty() {
            engine.emit(EngineEvent::ApprovalsChanged { ids: changed });
        }
        cursor = next;
        if !has_more {
            break;
        }
        if summary.pages > 1_000_000 {
            return Err(CoreError::Protocol("changes never end".into()));
        }
    }
    if resync {
        let now = engine.now();
        let report = engine
            .blocking(move |e| e.store().resync_finish(&seen, epoch.as_deref(), now))
            .await?;
        tracing::warn!(
            gone = report.gone.len(),
            removed = report.removed,
            rejected = report.rejected.len(),
            undone = report.undone.len(),
            "full resync finished"
        );
        let mut ids = report.gone.clone();
        ids.extend(report.undone.iter().cloned());
        if !ids.is_empty() {
            engine.emit(EngineEvent::ApprovalsChanged { ids });
        }
        if report.removed > 0 {
            // Removed rows have no id left to name; a full refresh is the honest event.
            engine.emit(EngineEvent::Synced { at: now });
        }
        if !report.rejected.is_empty() {
            engine.emit(EngineEvent::OutboxChanged);
        }
        summary.resync = Some(report);
    } else if let Some(e) = epoch.filter(|e| stored_epoch.as_ref() != Some(e)) {
        // First contact with this server (or with an epoch-aware one).
        engine
            .blocking(move |en| en.store().set_server_epoch(&e))
            .await?;
    }
    engine.blocking(|e| e.synced()).await?;
    Ok(summary)
}

/// Keeps what may be stored: a hostile or buggy server must not be able to plant
/// rows for another org or ids that would later be spliced into URLs.
fn received(
    summary: &mut PullSummary,
    page: ChangesPage,
    org: &str,
    floor: i64,
) -> Vec<api::Approval> {
    let items: Vec<_> = page
        .items
        .into_iter()
        .filter(|a| a.change_seq > floor)
        .collect();
    summary.received += items.len();
    let (good, bad): (Vec<_>, Vec<_>) = items
        .into_iter()
        .partition(|a| api::is_valid_approval_id(&a.id) && a.org_id == org);
    if !bad.is_empty() {
        tracing::warn!(
            count = bad.len(),
            "ignored approvals with a bad id or foreign org"
        );
    }
    good
}

/// Why the cursor no longer fits the server's history, if it does not.
fn stale_reason(
    engine: &Engine,
    cursor: i64,
    stored_epoch: Option<String>,
    served_epoch: Option<String>,
    latest: Option<i64>,
    at_cursor: Option<&str>,
) -> Result<Option<String>> {
    if let (Some(mine), Some(theirs)) = (&stored_epoch, &served_epoch) {
        if mine != theirs {
            return Ok(Some(format!(
                "the server's database is a different one (epoch {theirs}, this device synced from {mine})"
            )));
        }
    }
    if let Some(latest) = latest.filter(|l| cursor > *l) {
        return Ok(Some(format!(
            "the server's latest change is {latest} but this device had seen {cursor}: it was restored from an older copy"
        )));
    }
    if let Some(id) = at_cursor {
        // We saw change `cursor`; if it was this approval we hold it at that number
        // or a later one. Anything else means the number was reused.
        let ours = engine.reader()?.change_seq_of(id)?;
        if ours.is_none_or(|seq| seq < cursor) {
            return Ok(Some(format!(
                "change {cursor} on the server is {id}, which this device did not see there: the server's history was replaced"
            )));
        }
    }
    Ok(None)
}
