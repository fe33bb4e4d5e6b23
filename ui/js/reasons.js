// The deny field's suggestions: the approver's recent reasons and the org's most used
// ones (from the local cache), as an ARIA 1.2 combobox with a listbox popup. A <datalist>
// is not reliably keyboard-usable in WebKitGTK, hence this small one.
//
// Keys in the field: ↓/↑ open the list and move through it, Enter takes the highlighted
// reason, Escape closes the list (a second Escape leaves the field), Tab closes it. The
// field stays editable: a chosen reason can be changed before denying, and the reason
// the agent receives is exactly what the field shows (the suggestion is copied as is).
import { api } from "./api.js";
import { h } from "./dom.js";

/** @typedef {import("./types").DenyReason} DenyReason */

let seq = 0;

/**
 * Turns `input` into a combobox over the deny reasons; returns the listbox element to
 * place right after it (inside the same positioned wrapper).
 * @param {HTMLInputElement} input
 * @returns {HTMLElement} a wrapper holding the input and its listbox
 */
export function reasonCombobox(input) {
  const listId = `${input.id || "reason"}-list-${++seq}`;
  const list = h("ul", { class: "combo-list", id: listId, role: "listbox", "aria-label": "Suggested reasons", hidden: true });
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", listId);
  input.autocomplete = "off";
  /** @type {DenyReason[]} */
  let all = [];
  /** @type {DenyReason[]} */
  let shown = [];
  let active = -1;
  /** @type {Promise<void> | null} */
  let loading = null;

  const load = () => {
    loading ??= api.denyReasons().then((r) => { all = r; }, () => { all = []; });
    return loading;
  };

  const close = () => {
    list.hidden = true;
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  };

  const highlight = (/** @type {number} */ i) => {
    active = i;
    for (const [n, li] of Array.from(list.children).entries()) {
      li.setAttribute("aria-selected", String(n === i));
    }
    const li = /** @type {HTMLElement | undefined} */ (list.children[i]);
    if (li) {
      input.setAttribute("aria-activedescendant", li.id);
      li.scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  };

  const take = (/** @type {number} */ i) => {
    const r = shown[i];
    if (!r) return;
    input.value = r.text;
    close();
    // The form listens to "input" (the deny button's state follows the field).
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.setSelectionRange(r.text.length, r.text.length);
  };

  const open = async () => {
    await load();
    const typed = input.value.trim().toLowerCase();
    shown = typed ? all.filter((r) => r.text.toLowerCase().includes(typed) && r.text !== input.value) : all;
    list.replaceChildren(...shown.map((r, i) => h("li", {
      id: `${listId}-${i}`, role: "option", class: "combo-option", "aria-selected": "false",
      // mousedown, not click: the field keeps focus (no blur closes the list first).
      onmousedown: (/** @type {MouseEvent} */ e) => { e.preventDefault(); take(i); },
    }, h("bdi", { class: "combo-text" }, r.text),
    h("span", { class: "combo-meta muted small", "aria-hidden": "true" }, r.recent ? "yours, recently" : `used ${r.uses}×`))));
    if (!shown.length) { close(); return; }
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(-1);
  };

  input.addEventListener("keydown", async (e) => {
    const isOpen = !list.hidden;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!isOpen) {
        await open();
        if (!list.hidden) highlight(e.key === "ArrowDown" ? 0 : shown.length - 1);
        return;
      }
      const n = shown.length;
      highlight(e.key === "ArrowDown" ? (active + 1) % n : (active - 1 + n) % n);
    } else if (e.key === "Enter" && isOpen && active >= 0) {
      e.preventDefault();
      e.stopPropagation();
      take(active);
    } else if (e.key === "Escape" && isOpen) {
      // Only the list closes; the page's Escape (leave the field, go back) waits.
      e.preventDefault();
      e.stopPropagation();
      close();
    } else if (e.key === "Tab") {
      close();
    }
  });
  // Typing narrows the list (only once it was asked for or the field has text).
  input.addEventListener("input", (e) => {
    if (!e.isTrusted) return; // our own event after taking a suggestion
    if (input.value.trim()) open(); else close();
  });
  input.addEventListener("blur", close);
  load();
  return h("div", { class: "combo" }, input, list);
}
