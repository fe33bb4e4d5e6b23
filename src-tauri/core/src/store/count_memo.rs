//! Queue totals per filter shape, kept until the data changes. Paging, scrolling and
//! patching rows ask for the total again and again with the same filters; only a
//! change to a cached approval (the store's change stamp) or a pending approval
//! expiring on this clock can move it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::approvals::{fts_query, QueueQuery};
use super::Store;
use crate::api::ApprovalStatus;
use crate::error::Result;

/// Filter shapes remembered at once; typing a search makes one per keystroke.
const MAX_SHAPES: usize = 64;

#[derive(Debug, Default)]
pub struct CountMemo {
    stamp: Option<i64>,
    totals: HashMap<String, Counted>,
}

#[derive(Debug, Clone, Copy)]
struct Counted {
    total: u64,
    /// The clock the count was taken at: pending/expired totals hold until a pending
    /// approval's expiry passes after it.
    at: DateTime<Utc>,
}

/// What a total depends on: the filters, not the sort or the paging.
fn shape(q: &QueueQuery) -> String {
    let text = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
    format!(
        "{:?}",
        (
            q.status.map(ApprovalStatus::as_str),
            text(&q.agent),
            text(&q.action),
            text(&q.reason),
            q.from.map(|t| t.timestamp_millis()),
            q.to.map(|t| t.timestamp_millis()),
            q.search.as_deref().and_then(fts_query),
            q.waiting,
        )
    )
}

impl CountMemo {
    /// A remembered total that is still exact for `store` at `now`, if any.
    /// `stamp` is the store's change stamp, read before counting.
    pub fn get(
        &mut self,
        store: &Store,
        stamp: i64,
        q: &QueueQuery,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>> {
        if self.stamp != Some(stamp) {
            self.totals.clear();
            self.stamp = Some(stamp);
            return Ok(None);
        }
        let Some(c) = self.totals.get(&shape(q)).copied() else {
            return Ok(None);
        };
        let moves_with_clock = q.waiting
            || matches!(
                q.status,
                Some(ApprovalStatus::Pending | ApprovalStatus::Expired)
            );
        let fresh = c.at == now
            || (c.at < now && (!moves_with_clock || !store.expiry_crossed(c.at, now)?));
        Ok(fresh.then_some(c.total))
    }

    /// Remembers `total`, counted at `now` on data as of `stamp`.
    pub fn put(&mut self, stamp: i64, q: &QueueQuery, now: DateTime<Utc>, total: u64) {
        if self.stamp != Some(stamp) {
            // Counted on data older or newer than the rest: start over at its stamp.
            self.totals.clear();
            self.stamp = Some(stamp);
        }
        if self.totals.len() >= MAX_SHAPES {
            self.totals.clear();
        }
        self.totals.insert(shape(q), Counted { total, at: now });
    }
}
