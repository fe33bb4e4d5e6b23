// The detail's "Changes since the last approval": this request's parameters against the
// most recent approved request of the same agent and action, computed (and bounded) in the
// core. Changed values side by side, added and removed keys marked in words as well as
// colour, unchanged ones folded. Every value is agent text, rendered as text.
import { h } from "./dom.js";
import { absolute } from "./format.js";

/** @typedef {import("./types").ParamsComparison} ParamsComparison */
/** @typedef {import("./types").DiffEntry} DiffEntry */

const MARK = { added: "+ added", removed: "− removed", changed: "~ changed" };

/** @param {string} path */
function pathText(path) {
  return path === "" ? "(parameters)" : path;
}

/**
 * @param {ParamsComparison | null} cmp null: the first request of its kind
 * @param {(id: string) => void} open opens another approval's detail
 */
export function diffView(cmp, open) {
  if (!cmp) {
    return [h("p", { class: "muted", id: "diff-first" },
      "First request of its kind: nothing from this agent for this action was approved before.")];
  }
  const d = cmp.diff;
  const base = cmp.against;
  const by = base.decision ? [" approved by ", h("bdi", null, base.decision.by), ` at ${absolute(base.decision.at)}`] : null;
  /** @type {HTMLElement[]} */
  const parts = [h("p", { class: "muted small", id: "diff-against" }, "Compared with ",
    h("button", { type: "button", class: "btn-link", onclick: () => open(base.id) }, h("code", null, base.id)), by)];
  if (d.added + d.removed + d.changed === 0) {
    parts.push(h("p", { id: "diff-same" }, "Same parameters as the last approved request."));
  } else {
    parts.push(h("table", { class: "diff", id: "params-diff" },
      h("caption", { class: "sr-only" }, "Changed parameters"),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Change"),
        h("th", { scope: "col" }, "Last approved"), h("th", { scope: "col" }, "This request"))),
      h("tbody", null, d.entries.map((e) => h("tr", { class: `diff-${e.change}`, dataset: { path: e.path } },
        h("td", null, h("code", null, h("bdi", null, pathText(e.path)))),
        h("td", { class: "diff-mark" }, MARK[e.change]),
        h("td", { class: "diff-old" }, e.old === null || e.old === undefined ? "" : h("code", null, h("bdi", null, e.old))),
        h("td", { class: "diff-new" }, e.new === null || e.new === undefined ? "" : h("code", null, h("bdi", null, e.new))))))));
    if (d.more_entries > 0) {
      parts.push(h("p", { class: "muted small", id: "diff-more" }, `+${d.more_entries} more changes not listed`));
    }
  }
  if (d.unchanged_count > 0) {
    parts.push(h("details", { id: "diff-unchanged" },
      h("summary", null, `${d.unchanged_count} unchanged`),
      h("table", { class: "diff diff-unchanged-list" }, h("tbody", null, d.unchanged.map((u) =>
        h("tr", null, h("td", null, h("code", null, h("bdi", null, pathText(u.path)))),
          h("td", null, h("code", null, h("bdi", null, u.value))))))),
      d.more_unchanged > 0 ? h("p", { class: "muted small" }, `+${d.more_unchanged} more unchanged`) : null));
  }
  return parts;
}
