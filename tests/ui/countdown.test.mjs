// Countdowns show what they can keep current cheaply, and say when they next change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { remaining, nextChange } from "../../ui/js/format.js";

const NOW = Date.parse("2026-11-25T12:00:00Z");
const at = (ms) => new Date(NOW + ms).toISOString();

test("remaining shows seconds only in the last minute", () => {
  assert.equal(remaining(at(40_000), NOW), "40s remaining");
  assert.equal(remaining(at(4 * 60_000 + 10_000), NOW), "4m remaining");
  assert.equal(remaining(at(22 * 3600_000 + 5 * 60_000 + 7_000), NOW), "22h 05m remaining");
  assert.equal(remaining(at(2 * 86400_000 + 3 * 3600_000), NOW), "2 days 3h remaining");
  assert.match(remaining(at(-3 * 3600_000), NOW), /^expired 3 hours ago$/);
});

test("nextChange wakes exactly when the text changes, at most about once a second", () => {
  for (const left of [40_500, 4 * 60_000 + 10_000, 22 * 3600_000 + 5 * 60_000 + 7_000, 2 * 86400_000 + 1234]) {
    const t = at(left);
    const before = remaining(t, NOW);
    const wait = nextChange(t, "remaining", NOW);
    assert.ok(wait >= 250, `${wait} ms for ${before}`);
    assert.equal(remaining(t, NOW + wait - 25), before, `unchanged just before (${before})`);
    assert.notEqual(remaining(t, NOW + wait), before, `changed at the wake-up (${before})`);
  }
  // An age in minutes changes once a minute.
  const created = at(-(5 * 60_000 + 30_000));
  assert.ok(Math.abs(nextChange(created, "ago", NOW) - 30_020) < 5);
});
