//! Tauri commands: a thin layer over `countersign_core::Engine`. The UI receives the
//! core's types as serde writes them (see `ui/js/api.js`); every command returns
//! `Result<T, UiError>`.
//!
//! Every command answers from the local store, off the async runtime
//! (`Engine::blocking`): nothing here waits for the network except `sync_now`,
//! `save_settings` (a login) and `start_demo`, which the user asked for explicitly.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use countersign_core::api::{ApprovalStatus, DecisionKind, Stats};
use countersign_core::store::approvals::{QueueItem, QueuePage, QueueQuery};
use countersign_core::store::outbox::{OutboxItem, OutboxState};
use countersign_core::store::reasons::DenyReason;
use countersign_core::{
    ApprovalContext, ApprovalDetail, CoreError, Engine, Facets, Queued, SyncStatus,
};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use tauri_plugin_autostart::ManagerExt;

use super::error::{UiError, UiResult};
use super::shell::Shell;

/// Rows the UI may ask for at once (a window of the list, not the whole list).
const MAX_ROWS: u32 = 500;

/// Connection, last sync and the outbox, as the status bar and banner show them.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct Status {
    #[serde(flatten)]
    pub sync: SyncStatus,
    /// Failed decisions (rejected or expired unsent) not yet dismissed.
    pub outbox_failed: u64,
    /// Pending approvals, as the tray shows them.
    pub pending_count: u64,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Serialize, Clone)]
pub struct AppState {
    pub configured: bool,
    pub demo: bool,
    pub server_url: Option<String>,
    pub org: Option<String>,
    pub subject: Option<String>,
    pub status: Status,
    pub notifications_paused: bool,
    /// The "expiring soon" threshold (Settings): the detail's countdown turns amber
    /// within it, as the planner's reminder does.
    pub expiring_soon_secs: i64,
    /// Reached over plain http:// beyond this machine (the sign-in's explicit
    /// override): the status bar says so for as long as it lasts.
    pub insecure_connection: bool,
}

pub fn pending_count(engine: &Engine) -> UiResult<u64> {
    let page = engine.list(&QueueQuery {
        status: Some(ApprovalStatus::Pending),
        limit: 1,
        ..QueueQuery::default()
    })?;
    Ok(page.total)
}

/// Blocking: call from sync code or inside `Engine::blocking`.
pub fn status_of(engine: &Engine) -> UiResult<Status> {
    let sync = engine.status()?;
    let outbox_failed = engine
        .outbox(&[OutboxState::Rejected, OutboxState::Expired])?
        .len() as u64;
    Ok(Status {
        sync,
        outbox_failed,
        pending_count: pending_count(engine)?,
    })
}

/// Blocking: call from sync code or inside `Engine::blocking`.
pub fn app_state_of(shell: &Shell) -> UiResult<AppState> {
    let engine = shell.engine();
    let s = engine.settings()?;
    let configured = s.endpoint().is_some() && engine.client().is_ok();
    Ok(AppState {
        configured,
        demo: shell.is_demo(),
        server_url: s.server_url,
        org: s.org,
        subject: s.subject,
        status: status_of(&engine)?,
        notifications_paused: shell.paused(),
        expiring_soon_secs: s.expiring_soon_secs,
        insecure_connection: engine.insecure_server()?.is_some(),
    })
}

/// Runs a blocking engine call off the runtime and maps its error for the UI.
async fn off_runtime<T, F>(engine: Engine, f: F) -> UiResult<T>
where
    F: FnOnce(&Engine) -> UiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    engine
        .blocking(move |e| {
            let _ = tx.send(f(e));
            Ok(())
        })
        .await?;
    rx.await
        .map_err(|_| UiError::new("internal", "the query was cancelled"))?
}

#[tauri::command]
pub async fn app_state(app: AppHandle) -> UiResult<AppState> {
    let engine = app.state::<Shell>().engine();
    off_runtime(engine, move |_| app_state_of(&app.state::<Shell>())).await
}

#[tauri::command]
pub async fn list_approvals(shell: State<'_, Shell>, query: QueueQuery) -> UiResult<QueuePage> {
    let mut q = query;
    q.limit = q.limit.clamp(1, MAX_ROWS);
    off_runtime(shell.engine(), move |e| Ok(e.list(&q)?)).await
}

/// One page of the queue by key (`after`/`before` a row) or by `offset` (a far jump),
/// without a total: scrolling never recounts.
#[tauri::command]
pub async fn page_approvals(
    shell: State<'_, Shell>,
    query: QueueQuery,
) -> UiResult<Vec<QueueItem>> {
    let mut q = query;
    q.limit = q.limit.clamp(1, MAX_ROWS);
    off_runtime(shell.engine(), move |e| Ok(e.page(&q)?)).await
}

/// How many approvals match the query's filters (paging ignored). Memoised by the
/// store until the data changes, so a keystroke does not rescan every match.
#[tauri::command]
pub async fn count_approvals(shell: State<'_, Shell>, query: QueueQuery) -> UiResult<u64> {
    off_runtime(shell.engine(), move |e| Ok(e.count(&query)?)).await
}

/// Of `ids` (the approvals a change event named), those that match the query's filters,
/// in its order: the window patches exactly these rows and drops the others.
#[tauri::command]
pub async fn approvals_by_id(
    shell: State<'_, Shell>,
    query: QueueQuery,
    ids: Vec<String>,
) -> UiResult<Vec<QueueItem>> {
    if ids.len() > 10_000 {
        return Err(UiError::new("invalid_input", "Too many ids at once."));
    }
    off_runtime(shell.engine(), move |e| Ok(e.rows_matching(&query, &ids)?)).await
}

/// The 0-based place of `id` in the query's order ("n of N", opening a link), or null.
#[tauri::command]
pub async fn position_of(
    shell: State<'_, Shell>,
    query: QueueQuery,
    id: String,
) -> UiResult<Option<u64>> {
    off_runtime(shell.engine(), move |e| Ok(e.position(&query, &id)?)).await
}

#[tauri::command]
pub async fn facets(shell: State<'_, Shell>) -> UiResult<Facets> {
    off_runtime(shell.engine(), |e| Ok(e.facets()?)).await
}

/// The cached detail, at once. When signed in, a fresher copy of the approval and its
/// audit trail is fetched in the background; if anything changed, the engine's
/// `ApprovalsChanged` event carries this id and the window patches the open detail.
/// An approval not in the cache yet (a link, a notification) answers `not_found` and
/// arrives the same way if the server has it.
#[tauri::command]
pub async fn approval_detail(
    app: AppHandle,
    shell: State<'_, Shell>,
    id: String,
    refresh: Option<bool>,
) -> UiResult<ApprovalDetail> {
    let engine = shell.engine();
    if refresh.unwrap_or(true) {
        refresh_in_background(&app, &engine, &id);
    }
    let id2 = id.clone();
    off_runtime(engine, move |e| Ok(e.detail(&id2)?)).await
}

/// At most one background refresh per approval at a time (j/k through the queue must
/// not pile up requests over a slow link).
fn refresh_in_background(app: &AppHandle, engine: &Engine, id: &str) {
    // Never splice something that is not an approval id into a URL.
    if !countersign_core::api::is_valid_approval_id(id) || engine.client().is_err() {
        return;
    }
    let shell = app.state::<Shell>();
    if !shell.start_refresh(id) {
        return;
    }
    let (app, engine, id) = (app.clone(), engine.clone(), id.to_string());
    tauri::async_runtime::spawn(async move {
        match engine.refresh_detail(&id).await {
            Ok(_) => {}
            Err(CoreError::Rejected { status: 404, .. }) => {
                tracing::info!(approval = %id, "not on the server");
            }
            Err(e) => tracing::debug!(approval = %id, "background refresh: {e}"),
        }
        app.state::<Shell>().finish_refresh(&id);
    });
}

fn opt(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Queues a decision on one approval, or on several (a bulk decision: one batch), in the
/// outbox. Returns at once; what could not be queued is in `skipped` with the reason.
#[tauri::command]
pub async fn decide(
    shell: State<'_, Shell>,
    ids: Vec<String>,
    kind: DecisionKind,
    reason: Option<String>,
    notes: Option<String>,
) -> UiResult<Queued> {
    let notes = opt(notes);
    let reason = opt(reason);
    if kind == DecisionKind::Deny && reason.is_none() {
        return Err(UiError::new(
            "invalid_input",
            "A reason is required to deny.",
        ));
    }
    let unique: HashSet<&String> = ids.iter().collect();
    if unique.len() != ids.len() {
        return Err(UiError::new(
            "invalid_input",
            "An approval is listed twice.",
        ));
    }
    // Held for the undo window of the settings before it is sent (see `cancel_decision`).
    off_runtime(shell.engine(), move |e| {
        Ok(e.decide_undoable(&ids, kind, notes.as_deref(), reason.as_deref())?)
    })
    .await
}

/// Undo: takes back a decision still queued on this device (`seq` of its outbox entry).
/// Refused with a clear message once it is being sent.
#[tauri::command]
pub async fn cancel_decision(shell: State<'_, Shell>, seq: i64) -> UiResult<()> {
    off_runtime(shell.engine(), move |e| {
        e.cancel_queued(seq)?;
        Ok(())
    })
    .await
}

#[tauri::command]
pub async fn stats(
    shell: State<'_, Shell>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> UiResult<Stats> {
    off_runtime(shell.engine(), move |e| Ok(e.local_stats(from, to)?)).await
}

/// The context to decide well on one approval, from the cache (works offline): this
/// agent's recent activity for the action, and the parameters against the last
/// approved request of its kind.
#[tauri::command]
pub async fn approval_context(shell: State<'_, Shell>, id: String) -> UiResult<ApprovalContext> {
    off_runtime(shell.engine(), move |e| Ok(e.approval_context(&id)?)).await
}

/// Decisions still to deliver and failed ones not yet dismissed, newest first.
#[tauri::command]
pub async fn outbox(shell: State<'_, Shell>) -> UiResult<Vec<OutboxItem>> {
    off_runtime(shell.engine(), |e| {
        let mut items: Vec<OutboxItem> = e
            .outbox(&[
                OutboxState::Queued,
                OutboxState::Sending,
                OutboxState::Rejected,
                OutboxState::Expired,
            ])?
            .into_iter()
            .map(OutboxItem::from)
            .collect();
        items.reverse();
        Ok(items)
    })
    .await
}

/// Acknowledges a rejected/expired decision (`seq` of the outbox entry); the core keeps
/// the row and emits `OutboxChanged`, which repaints the banner and badge.
#[tauri::command]
pub async fn dismiss_outbox(shell: State<'_, Shell>, seq: i64) -> UiResult<()> {
    off_runtime(shell.engine(), move |e| {
        e.dismiss_outbox(seq)?;
        Ok(())
    })
    .await
}

#[tauri::command]
pub async fn sync_now(shell: State<'_, Shell>) -> UiResult<()> {
    shell.engine().sync_now().await?;
    Ok(())
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Serialize)]
pub struct SettingsView {
    pub server_url: Option<String>,
    pub org: Option<String>,
    pub has_token: bool,
    /// Where the token is kept, in words ("the OS keychain", or the file and why).
    #[serde(default)]
    pub token_location: Option<String>,
    pub expiring_soon_minutes: i64,
    pub notifications_enabled: bool,
    pub start_at_login: bool,
    /// Offer "Approve" on new-approval notifications (off by default).
    pub approve_from_notification: bool,
    pub digest_enabled: bool,
    /// Two local times of day, "HH:MM".
    pub digest_times: Vec<String>,
    /// Seconds a decision waits on this device, undoable, before it is sent.
    pub undo_window_secs: i64,
    /// The stored account was signed in with "Allow an unencrypted connection".
    pub allow_insecure_http: bool,
}

fn settings_view(app: &AppHandle, engine: &Engine) -> UiResult<SettingsView> {
    let s = engine.settings()?;
    Ok(SettingsView {
        has_token: s.endpoint().is_some() && engine.client().is_ok(),
        token_location: engine.token_location()?.map(|l| l.to_string()),
        server_url: s.server_url,
        org: s.org,
        expiring_soon_minutes: s.expiring_soon_secs / 60,
        notifications_enabled: s.notifications_enabled,
        start_at_login: app.autolaunch().is_enabled().unwrap_or(false),
        approve_from_notification: s.approve_from_notification,
        digest_enabled: s.digest_enabled,
        digest_times: s.digest_times,
        undo_window_secs: s.undo_window_secs,
        allow_insecure_http: s.allow_insecure_http,
    })
}

#[tauri::command]
pub async fn get_settings(app: AppHandle, shell: State<'_, Shell>) -> UiResult<SettingsView> {
    off_runtime(shell.engine(), move |e| settings_view(&app, e)).await
}

#[derive(Debug, Deserialize)]
pub struct SettingsInput {
    pub server_url: Option<String>,
    pub org: Option<String>,
    /// Write-only: `None` keeps the stored token.
    pub token: Option<String>,
    pub expiring_soon_minutes: i64,
    pub notifications_enabled: bool,
    pub start_at_login: bool,
    /// Absent (an older window): left as stored.
    #[serde(default)]
    pub approve_from_notification: Option<bool>,
    #[serde(default)]
    pub digest_enabled: Option<bool>,
    #[serde(default)]
    pub digest_times: Option<Vec<String>>,
    /// Absent (an older UI): unchanged.
    #[serde(default)]
    pub undo_window_secs: Option<i64>,
    /// The sign-in form's "Allow an unencrypted connection" box: needed to sign in to a
    /// plain http:// server beyond this machine (see `settings::check_transport`).
    #[serde(default)]
    pub allow_insecure_http: bool,
}

#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    shell: State<'_, Shell>,
    settings: SettingsInput,
) -> UiResult<SettingsView> {
    let input = settings;
    let minutes = input.expiring_soon_minutes;
    if !(1..=24 * 60).contains(&minutes) {
        return Err(UiError::new(
            "settings",
            "The expiring-soon threshold must be between 1 and 1440 minutes (24 hours).",
        ));
    }
    // Checked before anything is saved, so a bad time loses nothing else typed.
    let digest_times = match &input.digest_times {
        Some(t) => Some(
            countersign_core::settings::normalize_digest_times(t)
                .map_err(|e| UiError::new("settings", digest_message(&e)))?,
        ),
        None => None,
    };
    // Saving a real server leaves the demo.
    let wants_server = opt(input.server_url.clone()).is_some();
    if wants_server && shell.is_demo() && opt(input.token.clone()).is_some() {
        super::leave_demo(&app, &shell).await?;
    }
    let engine = shell.engine();
    let current = engine.settings()?;
    let server = opt(input.server_url);
    let org = opt(input.org);
    let token = opt(input.token);
    let endpoint_changed = server != current.server_url || org != current.org;
    match (server, org, token) {
        (Some(server), Some(org), Some(token)) => {
            engine
                .login_with(&server, &org, &token, input.allow_insecure_http)
                .await?;
        }
        (Some(_), Some(_), None) if endpoint_changed => {
            return Err(UiError::new(
                "settings",
                "Enter the token for this server and organisation.",
            ));
        }
        (None, _, _) | (_, None, _) if endpoint_changed => {
            return Err(UiError::new(
                "settings",
                "Both the server URL and the organisation are needed.",
            ));
        }
        _ => {}
    }
    let notifications = input.notifications_enabled;
    let (approve_button, digest_on) = (input.approve_from_notification, input.digest_enabled);
    let undo = input.undo_window_secs;
    off_runtime(engine, move |e| {
        e.set_expiring_soon_secs(minutes * 60)?;
        if let Some(secs) = undo {
            e.set_undo_window_secs(secs)?;
        }
        if let Some(on) = approve_button {
            e.set_approve_from_notification(on)?;
        }
        if digest_on.is_some() || digest_times.is_some() {
            let s = e.settings()?;
            e.set_digest(
                digest_on.unwrap_or(s.digest_enabled),
                &digest_times.unwrap_or(s.digest_times),
            )?;
        }
        Ok(e.set_notifications_enabled(notifications)?)
    })
    .await?;
    // The threshold or the digest may move the planner's next wake-up.
    shell.replan.notify_one();
    let autolaunch = app.autolaunch();
    let on = autolaunch.is_enabled().unwrap_or(false);
    if input.start_at_login != on {
        let r = if input.start_at_login {
            autolaunch.enable()
        } else {
            autolaunch.disable()
        };
        r.map_err(|e| UiError::new("autostart", format!("Start at login: {e}")))?;
    }
    super::bridge::emit_state(&app);
    let app2 = app.clone();
    off_runtime(shell.engine(), move |e| settings_view(&app2, e)).await
}

/// A digest-time refusal as the settings form shows it (no "bad settings value:" prefix).
fn digest_message(e: &CoreError) -> String {
    match e {
        CoreError::Settings(m) => {
            let mut m = m.clone();
            if let Some(first) = m.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!("{m}.")
        }
        other => other.to_string(),
    }
}

/// Reasons to offer in the deny field: the approver's recent ones, then the org's most
/// used (from the local cache, so it works offline).
#[tauri::command]
pub async fn deny_reasons(shell: State<'_, Shell>) -> UiResult<Vec<DenyReason>> {
    off_runtime(shell.engine(), |e| Ok(e.deny_reasons(DENY_REASONS_SHOWN)?)).await
}

/// How many reasons the deny field lists: enough for the habits of an org, few enough
/// to read at a glance.
const DENY_REASONS_SHOWN: usize = 8;

#[tauri::command]
pub async fn start_demo(app: AppHandle, shell: State<'_, Shell>) -> UiResult<AppState> {
    super::enter_demo(&app, &shell)
        .await
        .map_err(|e| UiError::new("demo", format!("{e:#}")))?;
    off_runtime(shell.engine(), move |_| app_state_of(&app.state::<Shell>())).await
}

#[tauri::command]
pub async fn set_notifications_paused(app: AppHandle, paused: bool) -> UiResult<()> {
    super::set_paused(&app, paused);
    Ok(())
}

/// Lets the shell pick its window from a command without a `Window` argument.
pub fn main_window(app: &AppHandle) -> Option<tauri::WebviewWindow> {
    app.get_webview_window("main")
}
