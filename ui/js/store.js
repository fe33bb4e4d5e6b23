// Shared UI state. Views read it and call `rerender()` after changing it.
import { emptyWindow } from "./window.js";

export const state = {
  /** @type {import("./types").AppState | null} */
  app: null,
  view: "approvals", // approvals | detail | outbox | settings | welcome
  tab: "pending", // pending | all | stats
  filters: { status: "", agent: "", action: "", from: "", to: "", search: "" },
  /** The loaded part of the filtered queue (see window.js). */
  win: emptyWindow(),
  /** @type {import("./types").Facets} */
  facets: { agents: [], actions: [], reasons: [] },
  /** Global index of the keyboard cursor in the filtered queue, and its approval. */
  cursor: 0,
  /** @type {string|null} */
  cursorId: null,
  /** @type {Set<string>} */
  selected: new Set(),
  /** @type {string|null} */
  detailId: null,
  /** The open detail's index in the current queue, when known ("n of N", j/k). @type {number|null} */
  detailIndex: null,
  statsRange: { from: "", to: "" },
  /** The queue's order. @type {import("./types").SortOrder} */
  sort: "newest_first",
};

/** The "expiring soon" threshold of Settings in minutes (the reminder's): where
 * countdowns turn amber, red in its last quarter. Pushed with the app state. */
export function expiringMinutes() {
  return state.app ? state.app.expiring_soon_secs / 60 : 60;
}
