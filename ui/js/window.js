// The queue's window over the whole filtered result: which rows are loaded, where they
// sit in the full order, and how a change event patches them. Pure (no DOM, no shell):
// the queue view drives it, `node --test` checks it.

/** @typedef {import("./types").QueueItem} QueueItem */
/** @typedef {import("./types").RowKey} RowKey */
/** @typedef {"newest_first"|"oldest_first"|"expiring_first"} Sort */

/**
 * Orders two row keys as the store does for `sort` (ties broken by id, same direction).
 * @param {RowKey} a @param {RowKey} b @param {Sort} sort @returns {number}
 */
export function cmpKey(a, b, sort) {
  const ta = Date.parse(a.at);
  const tb = Date.parse(b.at);
  const c = ta !== tb ? (ta < tb ? -1 : 1) : a.id === b.id ? 0 : a.id < b.id ? -1 : 1;
  return sort === "newest_first" ? -c : c;
}

/**
 * A contiguous run of loaded rows: `rows[i]` is row `start + i` of `total`.
 * @typedef {{start: number, rows: QueueItem[], total: number}} Win
 */

/** @returns {Win} */
export function emptyWindow() {
  return { start: 0, rows: [], total: 0 };
}

/** @param {Win} w @param {number} index @returns {QueueItem|null} */
export function rowAt(w, index) {
  const i = index - w.start;
  return i >= 0 && i < w.rows.length ? w.rows[i] : null;
}

/** @param {Win} w @param {string} id @returns {number} global index, or -1 */
export function indexOf(w, id) {
  const i = w.rows.findIndex((r) => r.id === id);
  return i < 0 ? -1 : w.start + i;
}

/**
 * Rows to draw for a viewport, with some overscan, clamped to the result.
 * @param {number} scrollTop @param {number} height @param {number} rowH @param {number} total
 * @param {number} [overscan]
 * @returns {{first: number, last: number}} indices, `last` exclusive
 */
export function visibleRange(scrollTop, height, rowH, total, overscan = 6) {
  const first = Math.max(0, Math.floor(scrollTop / rowH) - overscan);
  const last = Math.min(total, Math.ceil((scrollTop + height) / rowH) + overscan);
  return { first, last: Math.max(first, last) };
}

/**
 * What to fetch so that rows [lo, hi) are loaded: extend the window forward or backward by
 * keyset from its edge when the gap is small, or jump (offset) when it is far.
 * @param {Win} w @param {number} lo @param {number} hi @param {number} page
 * @returns {null | {dir: "after", key: RowKey, limit: number}
 *   | {dir: "before", key: RowKey, limit: number} | {dir: "jump", offset: number, limit: number}}
 */
export function planFetch(w, lo, hi, page) {
  lo = Math.max(0, lo);
  hi = Math.min(w.total, hi);
  if (hi <= lo) return null;
  const end = w.start + w.rows.length;
  if (w.rows.length && lo >= w.start && hi <= end) return null;
  if (w.rows.length && hi > end && lo <= end + page && end < w.total) {
    return { dir: "after", key: w.rows[w.rows.length - 1].key, limit: Math.max(page, hi - end) };
  }
  if (w.rows.length && lo < w.start && hi >= w.start - page && w.start > 0) {
    return { dir: "before", key: w.rows[0].key, limit: Math.max(page, w.start - lo) };
  }
  const offset = Math.max(0, lo - Math.floor(page / 4));
  return { dir: "jump", offset, limit: Math.max(page, hi - offset) };
}

/**
 * Adds fetched rows to the window. `after` appends, `before` prepends (rows in sort order),
 * `jump` replaces the window with rows starting at `offset`.
 * @param {Win} w @param {{dir: string, offset?: number}} plan @param {QueueItem[]} rows
 */
export function applyFetch(w, plan, rows) {
  if (plan.dir === "after") {
    w.rows = w.rows.concat(rows);
  } else if (plan.dir === "before") {
    w.rows = rows.concat(w.rows);
    w.start = Math.max(0, w.start - rows.length);
  } else {
    w.start = plan.offset || 0;
    w.rows = rows;
  }
}

/**
 * Keeps at most `keep` rows, dropping those farthest from `around` (a global index).
 * @param {Win} w @param {number} around @param {number} keep
 */
export function trim(w, around, keep) {
  if (w.rows.length <= keep) return;
  const from = Math.max(w.start, Math.min(around - Math.floor(keep / 2), w.start + w.rows.length - keep));
  w.rows = w.rows.slice(from - w.start, from - w.start + keep);
  w.start = from;
}

/**
 * Patches the window with the rows an event named. `matching` holds those of `ids` that
 * still match the filters (fresh copies); the others left the result. Rows never move on
 * an update (their sort key is immutable), so an update replaces in place; a new row is
 * placed by key: above the window it only shifts indices, inside it is inserted, below
 * it only counts. `total` is adjusted by the same arithmetic (the caller may still
 * re-read the exact count).
 * @param {Win} w @param {string[]} ids @param {QueueItem[]} matching @param {Sort} sort
 * @returns {{above: number, inserted: string[], removed: string[]}} `above`: rows added
 *   (positive) or removed (negative) before the window's first row.
 */
export function patch(w, ids, matching, sort) {
  const fresh = new Map(matching.map((r) => [r.id, r]));
  let above = 0;
  /** @type {string[]} */ const inserted = [];
  /** @type {string[]} */ const removed = [];
  const atEnd = w.start + w.rows.length >= w.total;
  for (const id of ids) {
    const i = w.rows.findIndex((r) => r.id === id);
    const m = fresh.get(id);
    if (i >= 0 && m) {
      w.rows[i] = m;
    } else if (i >= 0) {
      w.rows.splice(i, 1);
      w.total = Math.max(0, w.total - 1);
      removed.push(id);
    } else if (m) {
      w.total += 1;
      const first = w.rows[0];
      const last = w.rows[w.rows.length - 1];
      if (!first) {
        if (w.start === 0) { w.rows.push(m); inserted.push(id); }
      } else if (cmpKey(m.key, first.key, sort) < 0) {
        if (w.start === 0) { w.rows.unshift(m); inserted.push(id); above += 1; }
        else { w.start += 1; above += 1; }
      } else if (cmpKey(m.key, last.key, sort) > 0) {
        if (atEnd) { w.rows.push(m); inserted.push(id); }
      } else {
        const at = w.rows.findIndex((r) => cmpKey(m.key, r.key, sort) < 0);
        w.rows.splice(at < 0 ? w.rows.length : at, 0, m);
        inserted.push(id);
      }
    }
  }
  return { above, inserted, removed };
}
