// Unit tests of the queue's window model (ui/js/window.js): paging plans, patching by ids.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cmpKey, planFetch, applyFetch, trim, patch, visibleRange, rowAt, indexOf } from "../../ui/js/window.js";

const T0 = Date.parse("2026-11-25T12:00:00Z");
/** A row created `min` minutes after T0 (newest first: higher min comes first). */
function row(id, min, extra = {}) {
  const at = new Date(T0 + min * 60_000).toISOString();
  return { id, created_at: at, key: { at, id }, status: "pending", decidable: true, ...extra };
}
/** Rows for minutes hi-1 .. lo, newest first. */
function rows(lo, hi) {
  const out = [];
  for (let m = hi - 1; m >= lo; m--) out.push(row(`appr-${m}`, m));
  return out;
}

test("keys order like the store: newest first breaks ties by id descending", () => {
  const a = { at: "2026-11-25T12:00:00Z", id: "appr-a" };
  const b = { at: "2026-11-25T12:00:00Z", id: "appr-b" };
  const later = { at: "2026-11-25T12:00:01Z", id: "appr-a" };
  assert.ok(cmpKey(later, a, "newest_first") < 0);
  assert.ok(cmpKey(b, a, "newest_first") < 0);
  assert.ok(cmpKey(a, b, "oldest_first") < 0);
  assert.equal(cmpKey(a, a, "expiring_first"), 0);
});

test("planFetch extends by keyset near the edges and jumps when far", () => {
  const w = { start: 100, rows: rows(0, 50), total: 1000 };
  assert.equal(planFetch(w, 110, 140, 100), null, "already loaded");
  const fwd = planFetch(w, 140, 170, 100);
  assert.equal(fwd.dir, "after");
  assert.deepEqual(fwd.key, w.rows[49].key);
  const back = planFetch(w, 80, 120, 100);
  assert.equal(back.dir, "before");
  assert.deepEqual(back.key, w.rows[0].key);
  assert.ok(back.limit >= 20);
  const jump = planFetch(w, 800, 830, 100);
  assert.equal(jump.dir, "jump");
  assert.ok(jump.offset <= 800 && jump.offset + jump.limit >= 830);
  assert.equal(planFetch({ start: 0, rows: [], total: 0 }, 0, 20, 100), null, "nothing to fetch");
});

test("applyFetch keeps indices right in every direction, trim keeps the part around the cursor", () => {
  const w = { start: 100, rows: rows(50, 60), total: 1000 };
  applyFetch(w, { dir: "before" }, rows(60, 65));
  assert.equal(w.start, 95);
  assert.equal(rowAt(w, 95).id, "appr-64");
  applyFetch(w, { dir: "after" }, rows(45, 50));
  assert.equal(rowAt(w, 114).id, "appr-45");
  applyFetch(w, { dir: "jump", offset: 500 }, rows(0, 3));
  assert.equal(indexOf(w, "appr-2"), 500);
  const big = { start: 0, rows: rows(0, 1000), total: 1000 };
  trim(big, 700, 100);
  assert.equal(big.rows.length, 100);
  assert.ok(big.start <= 700 && big.start + 100 > 700);
  assert.equal(rowAt(big, 700).id, "appr-299");
});

test("patch updates in place, drops rows that stopped matching, places new rows by key", () => {
  const w = { start: 0, rows: rows(10, 20), total: 10 };
  // appr-15 decided elsewhere (still matches in the All tab), appr-12 left the filter,
  // appr-30 is new and newest, appr-14x sorts inside the window.
  const updated = row("appr-15", 15, { status: "approved", decidable: false });
  const inside = row("appr-14x", 14.5);
  const r = patch(w, ["appr-15", "appr-12", "appr-30", "appr-14x"], [updated, row("appr-30", 30), inside], "newest_first");
  assert.equal(rowAt(w, indexOf(w, "appr-15")).status, "approved");
  assert.equal(indexOf(w, "appr-12"), -1);
  assert.equal(indexOf(w, "appr-30"), 0, "newest goes on top when the window starts at 0");
  assert.ok(indexOf(w, "appr-14x") === indexOf(w, "appr-15") + 1);
  assert.equal(w.total, 11);
  assert.deepEqual(r.removed, ["appr-12"]);
  assert.equal(r.above, 1);
});

test("patch of a row above a scrolled window shifts indices without loading it", () => {
  const w = { start: 200, rows: rows(10, 20), total: 500 };
  const r = patch(w, ["appr-99"], [row("appr-99", 99)], "newest_first");
  assert.equal(w.start, 201);
  assert.equal(indexOf(w, "appr-99"), -1);
  assert.equal(w.total, 501);
  assert.equal(r.above, 1);
  // Below the window and not at the end: only counted.
  patch(w, ["appr-1"], [row("appr-1", 1)], "newest_first");
  assert.equal(indexOf(w, "appr-1"), -1);
  assert.equal(w.total, 502);
});

test("visibleRange clamps to the result and adds overscan", () => {
  assert.deepEqual(visibleRange(0, 620, 62, 5, 6), { first: 0, last: 5 });
  assert.deepEqual(visibleRange(6200, 620, 62, 3000, 6), { first: 94, last: 116 });
  assert.deepEqual(visibleRange(0, 620, 62, 0, 6), { first: 0, last: 0 });
});
