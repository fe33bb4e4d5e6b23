// Unit tests for ui/js/format.js (pure: no DOM). Run with `make test-ui` or
// `node --test tests/ui/*.test.mjs`. Times are built from local-time parts, so the
// expectations hold in any time zone.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  ago, agoLong, remaining, absolute, duration, dayStart, dayEnd, isoDay, STATUS_LABEL, GLYPH,
} from "../../ui/js/format.js";

const NOW = new Date(2024, 11, 14, 10, 0, 0).getTime();
const sec = (n) => new Date(NOW + n * 1000);

test("ago: short relative times, rounding at each unit", () => {
  assert.equal(ago(sec(-10), NOW), "just now");
  assert.equal(ago(sec(-44), NOW), "just now");
  assert.equal(ago(sec(-45), NOW), "1m ago");
  assert.equal(ago(sec(-59 * 60), NOW), "59m ago");
  assert.equal(ago(sec(-2 * 3600), NOW), "2h ago");
  assert.equal(ago(sec(-3 * 86400), NOW), "3d ago");
  // Beyond 60 days the date itself is clearer than a count.
  assert.equal(ago(sec(-90 * 86400), NOW), sec(-90 * 86400).toLocaleDateString());
});

test("ago: a time in the future is 'just now', not negative", () => {
  assert.equal(ago(sec(120), NOW), "just now");
});

test("times that do not parse render as empty, never 'Invalid Date'", () => {
  for (const f of [ago, agoLong, remaining, absolute]) {
    assert.equal(f("not a time", NOW), "", f.name);
    assert.equal(f(undefined, NOW), "", f.name);
    assert.equal(f(null, NOW), "", f.name); // new Date(null) would be 1970
  }
});

test("ago accepts RFC 3339 strings as serde writes them", () => {
  const t = new Date(NOW - 5 * 60 * 1000).toISOString(); // e.g. 2024-12-14T09:55:00.000Z
  assert.equal(ago(t, NOW), "5m ago");
  assert.equal(ago(t.replace(".000Z", "+00:00"), NOW), "5m ago");
});

test("agoLong: singular and plural units", () => {
  assert.equal(agoLong(sec(-30), NOW), "just now");
  assert.equal(agoLong(sec(-60), NOW), "1 minute ago");
  assert.equal(agoLong(sec(-2 * 3600), NOW), "2 hours ago");
  assert.equal(agoLong(sec(-86400), NOW), "1 day ago");
});

test("remaining: precision follows the distance", () => {
  assert.equal(remaining(sec(40), NOW), "40s remaining");
  assert.equal(remaining(sec(250), NOW), "4m remaining");
  assert.equal(remaining(sec(22 * 3600 + 5 * 60 + 7), NOW), "22h 05m remaining");
  assert.equal(remaining(sec(2 * 86400 + 3 * 3600), NOW), "2 days 3h remaining");
  assert.equal(remaining(sec(0), NOW), "expired just now");
  assert.equal(remaining(sec(-3 * 3600), NOW), "expired 3 hours ago");
});

test("absolute: local wall time, zero padded", () => {
  assert.equal(absolute(new Date(2024, 0, 5, 7, 8, 9)), "2024-01-05 07:08:09");
});

test("duration: seconds to the two largest units, dash when unknown", () => {
  assert.equal(duration(null), "—");
  assert.equal(duration(undefined), "—");
  assert.equal(duration(0), "0s");
  assert.equal(duration(59.6), "1m 0s");
  assert.equal(duration(3599), "59m 59s");
  assert.equal(duration(3 * 3600 + 25 * 60), "3h 25m");
  assert.equal(duration(2 * 86400 + 5 * 3600), "2d 5h");
});

test("dayStart/dayEnd: a date input's day as a half-open RFC 3339 range", () => {
  assert.equal(dayStart(""), null);
  assert.equal(dayEnd(""), null);
  assert.equal(dayStart("garbage"), null);
  assert.equal(dayEnd("garbage"), null);
  assert.equal(dayStart("2024-12-14"), new Date(2024, 11, 14).toISOString());
  assert.equal(dayEnd("2024-12-14"), new Date(2024, 11, 15).toISOString());
  // Month and year boundaries roll over.
  assert.equal(dayEnd("2024-12-31"), new Date(2025, 0, 1).toISOString());
});

test("isoDay is the inverse of a date input's value", () => {
  assert.equal(isoDay(new Date(2024, 1, 29)), "2024-02-29");
  assert.equal(dayStart(isoDay(new Date(2024, 1, 29))), new Date(2024, 1, 29).toISOString());
});

test("every status has a label and a glyph", () => {
  for (const s of ["pending", "approved", "denied", "expired"]) {
    assert.ok(STATUS_LABEL[s], s);
    assert.ok(GLYPH[s], s);
  }
});
