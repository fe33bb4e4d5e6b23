// Shared UI state. Views read it and call `rerender()` after changing it.

export const state = {
  app: null, // AppState from the shell
  view: "approvals", // approvals | detail | outbox | settings | welcome
  tab: "pending", // pending | all | stats
  filters: { status: "", agent: "", action: "", from: "", to: "", search: "" },
  rows: [],
  total: 0,
  facets: { agents: [], actions: [] },
  cursor: 0,
  selected: new Set(),
  detailId: null,
  statsRange: { from: "", to: "" },
};

/** Number of rows the queue asks for; the rest is reached by filtering. */
export const PAGE = 500;
