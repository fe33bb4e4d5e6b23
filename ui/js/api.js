// The one place the UI talks to the Rust shell. Every other module goes through here.
//
// The shell sends the core's types as serde writes them; their definitions live once, in
// Rust (`countersign-core`, `countersign-api`, `src-tauri/src/app/commands.rs`), and the
// generated declarations in `types.d.ts` check this code (`make lint`). Every command
// rejects with a UiError `{code: string, message: string}`.
//
// Every command answers from the local store; only `sync_now`, `save_settings` and
// `start_demo` talk to the server while the window waits. Fresher data arrives as events:
//
//   "cs:approvals-changed"  { ids: string[] | null, facets: Facets | null }
//        ids: the approvals whose cached state changed (null: re-read what is shown);
//        facets: the filter values, only when they changed.
//   "cs:status"             Status      (connection, last sync, outbox counts, pending count)
//   "cs:outbox-changed"     null        (the outbox view re-reads)
//   "cs:open-approval"      { id }      (a notification, the tray or a countersign:// link)
//   "cs:link-error"         { message } (a countersign:// link was refused; show the message)
//   "cs:state"              AppState    (settings or mode changed)
//
// `link_ui_ready()` is called once the listeners are in place: a countersign:// link that
// started the app, or arrived before then, is emitted now as one of the two events above.

const tauri = /** @type {any} */ (window).__TAURI__;

/** @param {unknown} e @returns {{code: string, message: string}} */
function normaliseError(e) {
  const o = /** @type {any} */ (e);
  if (o && typeof o === "object" && typeof o.code === "string") return o;
  return { code: "internal", message: String(o && o.message ? o.message : o) };
}

/** @param {string} cmd @param {Record<string, unknown>} [args] @returns {Promise<any>} */
async function call(cmd, args) {
  if (!tauri || !tauri.core) {
    throw { code: "no_shell", message: "Countersign must run inside its desktop shell." };
  }
  try {
    return await tauri.core.invoke(cmd, args || {});
  } catch (e) {
    throw normaliseError(e);
  }
}

export const api = {
  /** @returns {Promise<import("./types").AppState>} */
  appState: () => call("app_state"),
  /** @param {import("./types").QueueQuery} query @returns {Promise<import("./types").QueuePage>} */
  listApprovals: (query) => call("list_approvals", { query }),
  /** A page by key or offset, no total. @param {import("./types").QueueQuery} query
   * @returns {Promise<import("./types").QueueItem[]>} */
  pageApprovals: (query) => call("page_approvals", { query }),
  /** @param {import("./types").QueueQuery} query @returns {Promise<number>} */
  countApprovals: (query) => call("count_approvals", { query }),
  /** The given ids that match the query's filters, in its order.
   * @param {import("./types").QueueQuery} query @param {string[]} ids
   * @returns {Promise<import("./types").QueueItem[]>} */
  approvalsById: (query, ids) => call("approvals_by_id", { query, ids }),
  /** 0-based index of `id` in the query's order, or null.
   * @param {import("./types").QueueQuery} query @param {string} id @returns {Promise<number|null>} */
  positionOf: (query, id) => call("position_of", { query, id }),
  /** @returns {Promise<import("./types").Facets>} */
  facets: () => call("facets"),
  /** From the cache; a background refresh follows as an approvals-changed event.
   * @param {string} id @param {boolean} [refresh] @returns {Promise<import("./types").ApprovalDetail>} */
  approvalDetail: (id, refresh = true) => call("approval_detail", { id, refresh }),
  /** This agent's recent activity and the parameter changes since the last approval, from the cache.
   * @param {string} id @returns {Promise<import("./types").ApprovalContext>} */
  approvalContext: (id) => call("approval_context", { id }),
  /** @param {string[]} ids @param {"approve"|"deny"} kind @param {string|null} reason @param {string|null} notes
   * @returns {Promise<import("./types").Queued>} */
  decide: (ids, kind, reason, notes) => call("decide", { ids, kind, reason, notes }),
  /** @param {string|null} from @param {string|null} to @returns {Promise<import("./types").Stats>} */
  stats: (from, to) => call("stats", { from, to }),
  /** @returns {Promise<import("./types").OutboxItem[]>} */
  outbox: () => call("outbox"),
  /** @param {number} seq */
  dismissOutbox: (seq) => call("dismiss_outbox", { seq }),
  /** The approver's recent deny reasons, then the org's most used (local cache).
   * @returns {Promise<import("./types").DenyReason[]>} */
  denyReasons: () => call("deny_reasons"),
  /** Undo a decision still queued on this device. @param {number} seq */
  cancelDecision: (seq) => call("cancel_decision", { seq }),
  syncNow: () => call("sync_now"),
  getSettings: () => call("get_settings"),
  /** @param {Record<string, unknown>} settings */
  saveSettings: (settings) => call("save_settings", { settings }),
  /** @returns {Promise<import("./types").AppState>} */
  startDemo: () => call("start_demo"),
  /** @param {boolean} paused */
  setNotificationsPaused: (paused) => call("set_notifications_paused", { paused }),
  linkUiReady: () => call("link_ui_ready"),
};

/** Sync now, with a short message when the server cannot be reached (the banner says the rest).
 * @param {(msg: string, kind?: "info" | "error") => void} toastFn */
export async function syncNow(toastFn) {
  try {
    await api.syncNow();
    return true;
  } catch (e) {
    const err = normaliseError(e);
    toastFn(err.code === "network" ? "Can't reach the server — working offline; decisions stay queued." : err.message, "error");
    return false;
  }
}

export const EVENTS = {
  approvalsChanged: "cs:approvals-changed",
  status: "cs:status",
  outboxChanged: "cs:outbox-changed",
  openApproval: "cs:open-approval",
  linkError: "cs:link-error",
  state: "cs:state",
};

/** Subscribes to a shell event; the handler gets the payload.
 * @param {string} name @param {(payload: any) => void} handler */
export async function on(name, handler) {
  if (!tauri || !tauri.event) return () => {};
  return tauri.event.listen(name, (/** @type {{payload: any}} */ ev) => handler(ev.payload));
}
