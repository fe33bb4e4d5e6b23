// A JSON value as a collapsible tree (request parameters, nested risk values), built
// from text nodes only. Each object or array has a copy button for that node's JSON.
import { h, agentText, toast } from "./dom.js";

/** Objects/arrays with more entries than this start collapsed below the top level. */
const OPEN_UP_TO = 12;

/**
 * @param {unknown} value
 * @param {{id?: string, label?: string}} [opts]
 * @returns {HTMLElement}
 */
export function jsonTree(value, opts = {}) {
  return h("div", { class: "tree", id: opts.id, role: "group", "aria-label": opts.label || "JSON" },
    node(null, value, 0));
}

/** @param {unknown} v */
function isBranch(v) {
  return v !== null && typeof v === "object";
}

/** @param {unknown} v */
function leaf(v) {
  if (typeof v === "string") return h("span", { class: "tree-str" }, "\"", agentText(v), "\"");
  if (v === null) return h("span", { class: "tree-null" }, "null");
  return h("span", { class: `tree-${typeof v}` }, String(v));
}

/**
 * @param {string|null} key @param {unknown} v @param {number} depth
 * @returns {HTMLElement}
 */
function node(key, v, depth) {
  const keyEl = key === null ? null : h("span", { class: "tree-key" }, agentText(key), ": ");
  if (!isBranch(v)) return h("div", { class: "tree-leaf" }, keyEl, leaf(v));
  const entries = Array.isArray(v) ? v.map((x, i) => /** @type {[string, unknown]} */ ([String(i), x]))
    : Object.entries(/** @type {Record<string, unknown>} */ (v));
  const brackets = Array.isArray(v) ? ["[", "]"] : ["{", "}"];
  if (!entries.length) return h("div", { class: "tree-leaf" }, keyEl, brackets.join(""));
  const details = h("details", { class: "tree-branch" });
  details.open = depth === 0 || entries.length <= OPEN_UP_TO;
  details.append(
    h("summary", null, keyEl, h("span", { class: "muted" }, `${brackets[0]} ${entries.length} ${Array.isArray(v) ? "item" : "key"}${entries.length === 1 ? "" : "s"} ${brackets[1]}`)),
    h("div", { class: "tree-children" }, entries.map(([k, x]) => node(Array.isArray(v) ? null : k, x, depth + 1))));
  // The copy button sits on the summary's line but outside it: a button inside a
  // <summary> is an interactive control nested in another (one Tab stop hides the other).
  return h("div", { class: "tree-node" }, details, copyButton(v, key));
}

/**
 * Copies the node's JSON. `navigator.clipboard` is used when the webview grants it;
 * otherwise the JSON is shown selected, for Ctrl+C (no clipboard plugin just for this).
 * @param {unknown} v @param {string|null} key
 */
function copyButton(v, key) {
  const json = JSON.stringify(v, null, 2);
  const btn = h("button", { type: "button", class: "btn btn-ghost btn-small tree-copy",
    "aria-label": key === null ? "Copy as JSON" : `Copy ${key} as JSON` }, "Copy");
  btn.addEventListener("click", async (e) => {
    e.preventDefault();
    e.stopPropagation();
    try {
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(json);
      toast("Copied as JSON");
    } catch {
      const area = /** @type {HTMLTextAreaElement} */ (h("textarea", { class: "input tree-copy-text", readonly: true, rows: "6",
        "aria-label": "JSON to copy (Ctrl+C)" }));
      area.value = json;
      btn.after(area);
      area.select();
      area.focus();
    }
  });
  return btn;
}
