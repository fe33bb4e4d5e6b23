// The keyboard shortcuts, listed once: the `?` sheet shows this list, main.js handles them.
import { h } from "./dom.js";

/** [keys, what they do] */
export const SHORTCUTS = /** @type {[string[], string][]} */ ([
  [["j", "↓"], "Next approval (queue and detail)"],
  [["k", "↑"], "Previous approval"],
  [["Enter"], "Open the approval under the cursor"],
  [["x"], "Select or unselect the row under the cursor"],
  [["Shift", "A"], "Approve (the open approval, or the selection)"],
  [["Shift", "D"], "Deny (the open approval, or the selection)"],
  [["Ctrl", "Enter"], "Submit the decision form you are typing in (Deny from the reason field, else Approve)"],
  [["/"], "Search"],
  [["Esc"], "Back to the queue; in search, clear it"],
  [["a"], "Go to Approvals"],
  [["?"], "This list"],
]);

/** @type {HTMLDialogElement|null} */
let sheet = null;

/** Opens the shortcut sheet (a modal dialog); Esc or Close closes it and focus goes back. */
export function openShortcuts() {
  if (!sheet) {
    sheet = /** @type {HTMLDialogElement} */ (h("dialog", { class: "dialog shortcuts", id: "shortcuts", "aria-labelledby": "shortcuts-title" },
      h("h2", { id: "shortcuts-title" }, "Keyboard shortcuts"),
      h("dl", { class: "shortcut-list" }, SHORTCUTS.flatMap(([keys, what]) => [
        h("dt", null, keys.flatMap((k, i) => (i ? [" + ", h("kbd", null, k)] : [h("kbd", null, k)]))),
        h("dd", null, what),
      ])),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", id: "shortcuts-close", onclick: () => sheet?.close() }, "Close"))));
    document.body.append(sheet);
  }
  if (sheet.open) return;
  const back = /** @type {HTMLElement|null} */ (document.activeElement);
  sheet.addEventListener("close", () => back?.focus({ preventScroll: true }), { once: true });
  sheet.showModal();
  /** @type {HTMLElement} */ (sheet.querySelector("#shortcuts-close")).focus();
}

export function shortcutsOpen() {
  return !!(sheet && sheet.open);
}
