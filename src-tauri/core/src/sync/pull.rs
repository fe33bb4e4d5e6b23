//! Pull: page through `changes?after=<cursor>` until the server has nothing more.
//! The first sync of an empty store starts at 0 and so pages through everything.

use crate::api;
use crate::client::ApiClient;
use crate::conn_state::EngineEvent;
use crate::engine::Engine;
use crate::error::{CoreError, Result};

#[derive(Debug, Default, Clone)]
pub struct PullSummary {
    pub pages: usize,
    pub received: usize,
    pub changed: usize,
}

pub async fn pull(engine: &Engine, client: &ApiClient) -> Result<PullSummary> {
    let mut summary = PullSummary::default();
    let limit = engine.inner.opts.page_limit.clamp(1, api::MAX_PAGE_LIMIT);
    loop {
        let cursor = engine.blocking(|e| e.reader()?.cursor()).await?;
        let page = client.changes(cursor, limit).await?;
        summary.pages += 1;
        summary.received += page.items.len();
        // A hostile or buggy server must not be able to plant rows for another org or
        // ids that would later be spliced into URLs.
        let (good, bad): (Vec<_>, Vec<_>) = page
            .items
            .into_iter()
            .partition(|a| api::is_valid_approval_id(&a.id) && a.org_id == client.org());
        if !bad.is_empty() {
            tracing::warn!(
                count = bad.len(),
                "ignored approvals with a bad id or foreign org"
            );
        }
        let next = page.next.max(cursor);
        let changed = engine
            .blocking(move |e| e.store().upsert_page(&good, next))
            .await?;
        summary.changed += changed.len();
        if !changed.is_empty() {
            engine.emit(EngineEvent::ApprovalsChanged { ids: changed });
        }
        if !page.has_more {
            break;
        }
        if summary.pages > 1_000_000 {
            return Err(CoreError::Protocol("changes never end".into()));
        }
    }
    engine.blocking(|e| e.synced()).await?;
    Ok(summary)
}
