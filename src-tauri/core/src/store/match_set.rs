//! The rows a text search matches, kept as a bitset over approval rowids and probed from
//! SQL as `queue_match(a.rowid)`. SQLite re-reads every match of `rowid IN (fts)` on each
//! statement (thousands for a common word), so each page, count and jump of the same
//! search paid that again; the set is read once per search text and change stamp and
//! then costs one bit test per row visited.

use std::sync::{Arc, Mutex};

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use crate::engine::lock;

/// SQL name of the probe.
pub const PROBE: &str = "queue_match";

#[derive(Debug, Default)]
pub struct MatchSet {
    /// FTS query and change stamp the bits were read for.
    key: Option<(String, i64)>,
    bits: Vec<u64>,
    len: u64,
}

impl MatchSet {
    pub fn contains(&self, rowid: i64) -> bool {
        let Ok(i) = usize::try_from(rowid) else {
            return false;
        };
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Matches in the set.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The matching rowids, ascending.
    pub fn rowids(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.len as usize);
        for (w, bits) in self.bits.iter().enumerate() {
            let mut b = *bits;
            while b != 0 {
                out.push((w * 64) as i64 + i64::from(b.trailing_zeros()));
                b &= b - 1;
            }
        }
        out
    }

    pub fn is_for(&self, fts: &str, stamp: i64) -> bool {
        self.key
            .as_ref()
            .is_some_and(|(f, s)| f == fts && *s == stamp)
    }

    /// Replaces the set with `rowids`, read for `fts` at `stamp`.
    pub fn load(
        &mut self,
        fts: &str,
        stamp: i64,
        rowids: impl Iterator<Item = rusqlite::Result<i64>>,
    ) -> rusqlite::Result<()> {
        self.key = None;
        self.bits.clear();
        self.len = 0;
        for rowid in rowids {
            let Ok(i) = usize::try_from(rowid?) else {
                continue;
            };
            if self.bits.len() <= i / 64 {
                self.bits.resize(i / 64 + 1, 0);
            }
            self.bits[i / 64] |= 1 << (i % 64);
            self.len += 1;
        }
        self.key = Some((fts.to_string(), stamp));
        Ok(())
    }
}

/// Makes `queue_match(rowid)` answer from `set` on this connection.
pub fn register(conn: &Connection, set: Arc<Mutex<MatchSet>>) -> rusqlite::Result<()> {
    conn.create_scalar_function(PROBE, 1, FunctionFlags::SQLITE_UTF8, move |ctx| {
        let rowid: i64 = ctx.get(0)?;
        Ok(lock(&set).contains(rowid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_hold_exactly_the_loaded_rowids() {
        let mut s = MatchSet::default();
        assert!(!s.contains(1));
        s.load("\"a\"*", 7, [1, 64, 65, 1000].into_iter().map(Ok))
            .unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s.rowids(), vec![1, 64, 65, 1000]);
        assert!(s.is_for("\"a\"*", 7));
        assert!(!s.is_for("\"a\"*", 8));
        for r in [1, 64, 65, 1000] {
            assert!(s.contains(r), "{r}");
        }
        for r in [-1, 0, 2, 63, 66, 999, 1001, 1 << 40] {
            assert!(!s.contains(r), "{r}");
        }
        s.load("\"b\"*", 8, [2].into_iter().map(Ok)).unwrap();
        assert!(!s.contains(1) && s.contains(2));
    }
}
