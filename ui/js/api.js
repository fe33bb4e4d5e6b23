// The one place the UI talks to the Rust shell. Every other module goes through here.
//
// COMMAND CONTRACT (Tauri `invoke` names, argument objects and JSON results).
// Every command rejects with a UiError `{code: string, message: string}`.
//
//   app_state()                       -> AppState
//     AppState = { configured: bool, demo: bool, server_url: string|null, org: string|null,
//                  subject: string|null, pending_count: int,
//                  connection: Connection, outbox: {queued: int, rejected: int},
//                  notifications_paused: bool }
//     Connection = { state: "online"|"offline"|"syncing"|"unauthorized"|"untrusted"|"unconfigured",
//                    last_synced_at: RFC3339|null, message: string|null }
//   list_approvals({query: Query})    -> { items: Row[], total: int }
//     Query = { status: "pending"|"approved"|"denied"|"expired"|null, agent: string|null,
//               action: string|null, from: RFC3339|null, to: RFC3339|null,
//               search: string|null, limit: int|null }
//     Row = { id, agent_id, agent_name|null, action, reason_code, summary, status,
//             created_at, expires_at, local: Local|null }
//     Local = { state: "queued"|"rejected", kind: "approve"|"deny", message: string|null }
//   facets()                          -> { agents: string[], actions: string[] }
//   approval_detail({id})             -> { approval: Approval (countersign-api wire type),
//                                          audit: AuditEntry[], local: Local|null }
//   decide({id, kind, reason, notes}) -> Row              (queued in the outbox, optimistic)
//   decide_bulk({ids, kind, reason, notes}) -> { queued: int, skipped: [id, why][] }
//   stats({from, to})                 -> Stats (countersign-api wire type, from the local store)
//   outbox()                          -> OutboxEntry[]   (dismissed entries are left out)
//     OutboxEntry = { id: int, approval_id: string, kind: "approve"|"deny",
//                     reason: string|null, notes: string|null, state: "queued"|"rejected",
//                     attempts: int, message: string|null, created_at: RFC3339 }
//   dismiss_outbox({id})              -> null   (id = OutboxEntry.id; only "rejected" entries)
//     (acknowledges a rejected/expired decision, persisted: it leaves outbox() and the
//      outbox.rejected count; the record is kept. Other states reject with invalid_input.
//      "cs:outbox-changed" follows.)
//   sync_now()                        -> null
//   get_settings()                    -> Settings
//     Settings = { server_url: string|null, org: string|null, has_token: bool,
//                  expiring_soon_minutes: int, notifications_enabled: bool, start_at_login: bool }
//   save_settings({settings: Settings & {token: string|null}}) -> Settings
//     (a null token keeps the stored one; the token is write-only and never returned)
//   start_demo()                      -> AppState   (embedded demo server, own data dir)
//   set_notifications_paused({paused}) -> null
//
// EVENTS (Tauri `listen`):
//   "cs:approvals-changed"  { pending_count: int }
//   "cs:connection"         Connection
//   "cs:outbox-changed"     { queued: int, rejected: int }
//   "cs:open-approval"      { id: string }        (a notification or the tray asked for it)
//   "cs:state"              AppState              (settings or mode changed)

const tauri = window.__TAURI__;

function normaliseError(e) {
  if (e && typeof e === "object" && typeof e.code === "string") return e;
  return { code: "internal", message: String(e && e.message ? e.message : e) };
}

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
  appState: () => call("app_state"),
  listApprovals: (query) => call("list_approvals", { query }),
  facets: () => call("facets"),
  approvalDetail: (id) => call("approval_detail", { id }),
  decide: (id, kind, reason, notes) => call("decide", { id, kind, reason, notes }),
  decideBulk: (ids, kind, reason, notes) => call("decide_bulk", { ids, kind, reason, notes }),
  stats: (from, to) => call("stats", { from, to }),
  outbox: () => call("outbox"),
  dismissOutbox: (id) => call("dismiss_outbox", { id }),
  syncNow: () => call("sync_now"),
  getSettings: () => call("get_settings"),
  saveSettings: (settings) => call("save_settings", { settings }),
  startDemo: () => call("start_demo"),
  setNotificationsPaused: (paused) => call("set_notifications_paused", { paused }),
};

/** Sync now, with a short message when the server cannot be reached (the banner says the rest). */
export async function syncNow(toastFn) {
  try {
    await api.syncNow();
    return true;
  } catch (e) {
    toastFn(e.code === "network" ? "Can't reach the server — working offline; decisions stay queued." : e.message, "error");
    return false;
  }
}

export const EVENTS = {
  approvalsChanged: "cs:approvals-changed",
  connection: "cs:connection",
  outboxChanged: "cs:outbox-changed",
  openApproval: "cs:open-approval",
  state: "cs:state",
};

/** Subscribes to a shell event; the handler gets the payload. */
export async function on(name, handler) {
  if (!tauri || !tauri.event) return () => {};
  return tauri.event.listen(name, (ev) => handler(ev.payload));
}
