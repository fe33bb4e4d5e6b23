// Unit tests for the triage helpers in ui/js/format.js: urgency colours, the "expires
// in" column, visible control characters and the trace tally (pure: no DOM).
import { test } from "node:test";
import assert from "node:assert/strict";

import { urgency, expiresIn, controlSegments, traceTally, budgetPercent, emptyQueue } from "../../ui/js/format.js";

const NOW = new Date(2024, 11, 14, 10, 0, 0).getTime();
const min = (n) => new Date(NOW + n * 60_000);

test("urgency: amber inside the threshold, red inside a quarter of it", () => {
  assert.equal(urgency(min(61), 60, NOW), "");
  assert.equal(urgency(min(60), 60, NOW), "amber");
  assert.equal(urgency(min(16), 60, NOW), "amber");
  assert.equal(urgency(min(15), 60, NOW), "red");
  assert.equal(urgency(min(0.1), 60, NOW), "red");
  assert.equal(urgency(min(0), 60, NOW), "expired");
  // The threshold is the approver's: 4 hours makes 2 hours amber.
  assert.equal(urgency(min(120), 240, NOW), "amber");
  assert.equal(urgency(min(59), 240, NOW), "red");
  // A missing or nonsense threshold falls back to an hour; a bad time to nothing.
  assert.equal(urgency(min(30), undefined, NOW), "amber");
  assert.equal(urgency("not a time", 60, NOW), "");
});

test("expiresIn: short forms for the queue column", () => {
  assert.equal(expiresIn(new Date(NOW + 40_000), NOW), "40s");
  assert.equal(expiresIn(min(4), NOW), "4m");
  assert.equal(expiresIn(min(125), NOW), "2h 05m");
  assert.equal(expiresIn(min(3 * 1440 + 250), NOW), "3d 4h");
  assert.equal(expiresIn(min(-1), NOW), "expired");
  assert.equal(expiresIn(null, NOW), "");
});

test("controlSegments: bidi, zero-width and C0/C1 controls become visible stand-ins", () => {
  assert.deepEqual(controlSegments("invoice\u202Egpj.exe"), [
    { text: "invoice", control: false },
    { text: "⟨U+202E⟩", control: true },
    { text: "gpj.exe", control: false },
  ]);
  const shown = (s) => controlSegments(s).filter((p) => p.control).map((p) => p.text);
  assert.deepEqual(shown("a\u200Bb\u2066c\u2069\uFEFF"), ["⟨U+200B⟩", "⟨U+2066⟩", "⟨U+2069⟩", "⟨U+FEFF⟩"]);
  assert.deepEqual(shown("bell\u0007 nul\u0000 c1\u0085 del\u007F"), ["⟨U+0007⟩", "⟨U+0000⟩", "⟨U+0085⟩", "⟨U+007F⟩"]);
  // Ordinary text, right-to-left letters, emoji, tabs and line breaks are left alone.
  assert.deepEqual(controlSegments("שלום 👋\tline\nnext"), [{ text: "שלום 👋\tline\nnext", control: false }]);
  assert.deepEqual(controlSegments(""), [{ text: "", control: false }]);
  assert.deepEqual(controlSegments(null), [{ text: "", control: false }]);
});

test("traceTally: most serious first, only results present", () => {
  const t = (...r) => r.map((result) => ({ result }));
  assert.equal(traceTally(t("pass", "fail", "escalate", "pass", "pass")), "1 fail · 1 escalate · 3 pass");
  assert.equal(traceTally(t("pass")), "1 pass");
  assert.equal(traceTally([]), "");
  assert.equal(traceTally(null), "");
});

test("budgetPercent: as the core computes it, null when unknown", () => {
  assert.equal(budgetPercent({ budget_used: 47, budget_limit: 50 }), 94);
  assert.equal(budgetPercent({ budget_used: 5 }), null);
  assert.equal(budgetPercent({ budget_used: 5, budget_limit: 0 }), null);
  assert.equal(budgetPercent(null), null);
});

test("emptyQueue: 'nothing waiting' only when the server was reached", () => {
  const base = { configured: true, conn: "online", filtered: false, pendingTab: true, lastSynced: null };
  assert.equal(emptyQueue(base).text, "Nothing waiting for you.");
  assert.equal(emptyQueue({ ...base, conn: "syncing" }).glyph, "✓");
  for (const conn of ["offline", "unauthorized", "untrusted", "not_configured"]) {
    const e = emptyQueue({ ...base, conn });
    assert.equal(e.glyph, "∅", conn);
    assert.match(e.text, /^Not connected — showing what was cached/, conn);
  }
  assert.match(emptyQueue({ ...base, conn: "offline", lastSynced: new Date(2024, 11, 14, 9, 30).toISOString() }).text,
    /last synced 2024-12-14 09:30:00/);
  const out = emptyQueue({ ...base, configured: false });
  assert.deepEqual([out.text, out.signIn], ["Sign in to see approvals.", true]);
  assert.equal(emptyQueue({ ...base, filtered: true }).text, "No approvals match these filters.");
  assert.equal(emptyQueue({ ...base, pendingTab: false }).text, "No approvals match these filters.");
});
