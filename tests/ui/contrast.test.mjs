// WCAG 2.2 contrast of the colour pairs ui/css/app.css uses, light and dark (text 4.5:1,
// field edges and the focus ring 3:1): a fast guard beside the axe-core run in the real
// app (tests/e2e/a11y.py), which sees only the views it visits. Reads the custom
// properties of both themes from the CSS itself, so a changed variable is checked
// without touching this file.
// Run with `make test-ui` or `node --test tests/ui/*.test.mjs`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const CSS = readFileSync(new URL("../../ui/css/app.css", import.meta.url), "utf8");

/** The `--name: value` declarations of the first `:root { ... }` block at or after `from`. */
function rootVars(from) {
  const start = CSS.indexOf(":root {", from);
  assert.ok(start >= 0, "no :root block");
  const body = CSS.slice(start, CSS.indexOf("}", start));
  const vars = {};
  for (const m of body.matchAll(/--([\w-]+):\s*([^;]+);/g)) vars[m[1]] = m[2].trim();
  return vars;
}

const light = rootVars(0);
const darkAt = CSS.indexOf("@media (prefers-color-scheme: dark)");
assert.ok(darkAt >= 0, "no dark theme block");
// The dark block overrides some variables; the rest come from the light one.
const dark = { ...light, ...rootVars(darkAt) };
const THEMES = { light, dark };

/** `#rgb`/`#rrggbb` or `var(--x)` (resolved in `theme`) to [r, g, b] in 0..255. */
function rgb(value, theme) {
  const v = value.startsWith("var(--") ? theme[value.slice(6, -1)] : value;
  assert.ok(v, `unknown colour ${value}`);
  const hex = v.replace("#", "");
  assert.match(hex, /^([0-9a-f]{3}|[0-9a-f]{6})$/i, `${value} = ${v} is not an opaque hex colour`);
  const full = hex.length === 3 ? [...hex].map((c) => c + c).join("") : hex;
  return [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16));
}

/** WCAG 2.x relative luminance. */
function luminance([r, g, b]) {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

export function ratio(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// [text colour, background, where app.css draws it]: every text/background pair of the
// stylesheet. Normal-size text needs 4.5:1 (WCAG 1.4.3 AA); placeholders are text too.
const PAIRS = [
  ["--text", "--bg", "body text"],
  ["--text", "--surface", "cards, rows, inputs"],
  ["--text", "--surface-2", "hovered row, reason box, JSON"],
  ["--text", "--side", "sidebar"],
  ["--text", "--grey-soft", "muted badge, tabs"],
  ["--text", "--accent-soft", "cursor/selected row, syncing banner, bulk bar"],
  ["--text", "--amber-soft", "offline banner, queued note"],
  ["--text", "--red-soft", "error banner"],
  ["--muted", "--bg", "muted text on the page"],
  ["--muted", "--surface", "row action and age, labels"],
  ["--muted", "--surface-2", "muted text in a hovered row"],
  ["--muted", "--side", "sidebar connection line, signed-in user, shortcut keys"],
  ["--muted", "--grey-soft", "reason chips"],
  ["--muted", "--accent-soft", "row age and action in the cursor/selected row"],
  ["--placeholder", "--surface", "input placeholders"],
  ["--accent-text", "--accent", "primary buttons, badges, tab count"],
  ["--accent", "--surface", "links (ids in the outbox)"],
  ["--amber", "--amber-soft", "Pending pill, Queued chip"],
  ["--amber", "--surface", "pending stat value"],
  ["--green", "--green-soft", "Approved pill"],
  ["--green", "--surface", "approved glyphs and stat value"],
  ["--red", "--red-soft", "Denied pill, rejected chip"],
  ["--red", "--surface", "deny button, outbox error, deny hint"],
  ["--on-red", "--red", "danger badge, error toast"],
  ["--bg", "--text", "toast"],
];

// [colour, background, where]: what identifies a control needs 3:1 (WCAG 1.4.11 AA).
const NON_TEXT = [
  ["--field-border", "--surface", "text field and select edges"],
  ["--field-border", "--surface-2", "fields in a hovered or tinted area"],
  ["--field-border", "--bg", "fields on the page"],
  ["--focus-ring", "--surface", "focus ring"],
  ["--focus-ring", "--bg", "focus ring on the page"],
  ["--focus-ring", "--side", "focus ring in the sidebar"],
];

for (const [name, theme] of Object.entries(THEMES)) {
  test(`${name} theme: field edges and the focus ring reach 3:1`, () => {
    const failures = [];
    for (const [fg, bg, where] of NON_TEXT) {
      const r = ratio(rgb(`var(${fg})`, theme), rgb(`var(${bg})`, theme));
      if (r < 3) failures.push(`${fg} on ${bg} (${where}): ${r.toFixed(2)}:1`);
    }
    assert.deepEqual(failures, [], `below 3:1 in the ${name} theme`);
  });

  test(`${name} theme: every text colour pair reaches 4.5:1`, () => {
    const failures = [];
    for (const [fg, bg, where] of PAIRS) {
      const r = ratio(rgb(`var(${fg})`, theme), rgb(`var(${bg})`, theme));
      if (r < 4.5) failures.push(`${fg} on ${bg} (${where}): ${r.toFixed(2)}:1`);
    }
    assert.deepEqual(failures, [], `below 4.5:1 in the ${name} theme`);
  });
}

test("placeholders look unlike typed text: their own colour, italic", () => {
  for (const theme of Object.values(THEMES)) {
    assert.notEqual(theme.placeholder, theme.text, "placeholder drawn in the text colour");
  }
  const rule = CSS.match(/::placeholder\s*\{([^}]*)\}/);
  assert.ok(rule, "no ::placeholder rule");
  assert.match(rule[1], /color:\s*var\(--placeholder\)/);
  assert.match(rule[1], /font-style:\s*italic/);
});

test("the formula: black on white is 21:1, a colour on itself 1:1, #777 on white just under 4.5", () => {
  assert.equal(ratio([0, 0, 0], [255, 255, 255]).toFixed(2), "21.00");
  assert.equal(ratio([47, 91, 211], [47, 91, 211]), 1);
  assert.equal(ratio([0x77, 0x77, 0x77], [255, 255, 255]).toFixed(2), "4.48");
});
