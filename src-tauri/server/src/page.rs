//! JSON pages bounded by bytes. A list or changes page is written item by item into
//! one buffer, each approval serialized and dropped before the next row is read, so
//! a request holds at most one page of JSON and one approval, never a page of parsed
//! approvals plus their serialization: 20 concurrent lists of the largest approvals
//! cost about 20 pages, not 20 x 1,000 approvals.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::error::ServerError;

/// Pages at least this large are counted for [`release_memory`].
const LARGE_PAGE: usize = 1024 * 1024;

/// Large pages built since the last [`release_memory`].
static LARGE_PAGES: AtomicUsize = AtomicUsize::new(0);

/// Room kept for the envelope after the items (`next`, `has_more`, `epoch`, ...).
const ENVELOPE_RESERVE: usize = 1024;

/// What every page envelope starts with when its `items` are empty: the wire types
/// (`ChangesPage`, `ApprovalList`) declare `items` first.
const EMPTY_ITEMS: &[u8] = b"{\"items\":[]";

pub struct PageWriter {
    buf: Vec<u8>,
    scratch: Vec<u8>,
    count: usize,
    budget: usize,
}

impl PageWriter {
    /// A page that stays under `max_bytes` unless its first item alone is larger.
    pub fn new(max_bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(b"{\"items\":[");
        PageWriter {
            buf,
            scratch: Vec::new(),
            count: 0,
            budget: max_bytes.saturating_sub(ENVELOPE_RESERVE),
        }
    }

    /// Adds `item` unless it would take the page past its budget; the first item
    /// always goes in (an approval may be larger than a page on its own). Returns
    /// whether it was added.
    pub fn push<T: Serialize>(&mut self, item: &T) -> Result<bool, ServerError> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, item)?;
        if self.count > 0 && self.buf.len() + 1 + self.scratch.len() > self.budget {
            return Ok(false);
        }
        if self.count > 0 {
            self.buf.push(b',');
        }
        self.buf.extend_from_slice(&self.scratch);
        self.count += 1;
        Ok(true)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The finished body: `envelope` (serialized with empty `items`) with the items
    /// written so far in its `items`.
    pub fn finish<T: Serialize>(mut self, envelope: &T) -> Result<Vec<u8>, ServerError> {
        let env = serde_json::to_vec(envelope)?;
        let rest = env.strip_prefix(EMPTY_ITEMS).ok_or_else(|| {
            ServerError::Corrupt("page envelope does not start with empty items".into())
        })?;
        self.buf.push(b']');
        self.buf.extend_from_slice(rest);
        if self.buf.len() >= LARGE_PAGE {
            LARGE_PAGES.fetch_add(1, Ordering::Relaxed);
        }
        Ok(self.buf)
    }
}

/// Hands memory freed after large pages back to the system. glibc keeps freed
/// multi-megabyte buffers in its per-thread arenas, so after a burst of big lists
/// the process stayed hundreds of MiB above its resting size; trimming returns it.
/// Called by the sweeper; does nothing when no large page was built since (at rest
/// it costs nothing).
pub fn release_memory() {
    if LARGE_PAGES.swap(0, Ordering::Relaxed) == 0 {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free memory of the allocator's arenas to
        // the OS; it touches no live allocation and is thread-safe in glibc.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_api::ChangesPage;

    #[test]
    fn pages_stop_at_the_budget_but_never_empty() {
        let big = "x".repeat(3000);
        let mut w = PageWriter::new(ENVELOPE_RESERVE + 5000);
        assert!(w.push(&big).unwrap());
        assert!(
            !w.push(&big).unwrap(),
            "a second 3000-byte item passes 5000"
        );
        assert!(w.push(&"small").unwrap());
        let body = w
            .finish(&ChangesPage {
                items: vec![],
                next: 7,
                has_more: true,
                epoch: Some("e".into()),
                latest: Some(9),
            })
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        assert_eq!(v["next"], 7);
        assert_eq!(v["epoch"], "e");
        // One item larger than the whole page still goes out on its own.
        let mut w = PageWriter::new(ENVELOPE_RESERVE + 100);
        assert!(w.push(&big).unwrap());
        assert_eq!(w.len(), 1);
    }
}
