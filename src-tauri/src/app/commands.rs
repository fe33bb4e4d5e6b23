//! Tauri commands: a thin layer over `countersign_core::Engine`. Shapes are documented
//! in `ui/js/api.js`; every command returns `Result<T, UiError>`.

use chrono::{DateTime, Utc};
use countersign_core::api::{ApprovalStatus, AuditEntry, DecisionKind, Stats};
use countersign_core::conn_state::ConnState;
use countersign_core::store::approvals::{QueueItem, QueueQuery};
use countersign_core::store::outbox::{OutboxEntry, OutboxState};
use countersign_core::Engine;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use tauri_plugin_autostart::ManagerExt;

use super::error::{UiError, UiResult};
use super::shell::Shell;

/// Rows the UI may ask for at once; the rest is reached by filtering.
const MAX_ROWS: u32 = 2000;

#[derive(Debug, Serialize, Clone)]
pub struct Connection {
    pub state: &'static str,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize, Clone, Copy)]
pub struct OutboxCounts {
    pub queued: u64,
    pub rejected: u64,
}

#[derive(Debug, Serialize, Clone)]
pub struct AppState {
    pub configured: bool,
    pub demo: bool,
    pub server_url: Option<String>,
    pub org: Option<String>,
    pub subject: Option<String>,
    pub pending_count: u64,
    pub connection: Connection,
    pub outbox: OutboxCounts,
    pub notifications_paused: bool,
}

/// A decision of this device shown on a row or in the detail.
#[derive(Debug, Serialize)]
pub struct Local {
    pub state: &'static str,
    pub kind: DecisionKind,
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub agent_id: String,
    pub agent_name: Option<String>,
    pub action: String,
    pub reason_code: String,
    pub summary: String,
    pub status: ApprovalStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub local: Option<Local>,
}

impl From<QueueItem> for Row {
    fn from(q: QueueItem) -> Row {
        Row {
            local: q.pending_decision.map(|p| Local {
                state: "queued",
                kind: p.kind,
                message: None,
            }),
            id: q.id,
            agent_id: q.agent,
            agent_name: q.agent_name,
            action: q.action,
            reason_code: q.reason_code,
            summary: q.summary,
            status: q.status,
            created_at: q.created_at,
            expires_at: q.expires_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RowPage {
    pub items: Vec<Row>,
    pub total: u64,
}

fn local_of(e: &OutboxEntry) -> Option<Local> {
    let state = match e.state {
        OutboxState::Queued | OutboxState::Sending => "queued",
        OutboxState::Rejected | OutboxState::Expired => "rejected",
        OutboxState::Applied => return None,
    };
    Some(Local {
        state,
        kind: e.kind,
        message: (state == "rejected").then(|| e.explain()),
    })
}

pub fn connection(engine: &Engine) -> UiResult<Connection> {
    let status = engine.status()?;
    let (state, message) = match status.conn {
        ConnState::NotConfigured => ("unconfigured", None),
        ConnState::Syncing => ("syncing", None),
        ConnState::Online => ("online", None),
        ConnState::Offline { last_error, .. } => ("offline", Some(last_error)),
        ConnState::Unauthorized { message } => ("unauthorized", Some(message)),
        ConnState::Untrusted { message } => ("untrusted", Some(message)),
    };
    Ok(Connection {
        state,
        last_synced_at: status.last_synced,
        message,
    })
}

pub fn pending_count(engine: &Engine) -> UiResult<u64> {
    let page = engine.list(&QueueQuery {
        status: Some(ApprovalStatus::Pending),
        limit: 1,
        ..QueueQuery::default()
    })?;
    Ok(page.total)
}

/// `rejected` counts failed decisions the approver has not dismissed yet (persisted
/// in the core, so the banner survives a restart until they are acknowledged).
pub fn outbox_counts(engine: &Engine) -> UiResult<OutboxCounts> {
    let queued = engine.status()?.outbox_pending;
    let rejected = engine
        .outbox(&[OutboxState::Rejected, OutboxState::Expired])?
        .len() as u64;
    Ok(OutboxCounts { queued, rejected })
}

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
        pending_count: pending_count(&engine)?,
        connection: connection(&engine)?,
        outbox: outbox_counts(&engine)?,
        notifications_paused: shell.paused(),
    })
}

#[tauri::command]
pub async fn app_state(shell: State<'_, Shell>) -> UiResult<AppState> {
    app_state_of(&shell)
}

#[tauri::command]
pub async fn list_approvals(shell: State<'_, Shell>, query: QueueQuery) -> UiResult<RowPage> {
    let mut q = query;
    q.limit = q.limit.clamp(1, MAX_ROWS);
    let page = shell.engine().list(&q)?;
    Ok(RowPage {
        items: page.items.into_iter().map(Row::from).collect(),
        total: page.total,
    })
}

#[derive(Debug, Serialize)]
pub struct FacetLists {
    pub agents: Vec<String>,
    pub actions: Vec<String>,
}

#[tauri::command]
pub async fn facets(shell: State<'_, Shell>) -> UiResult<FacetLists> {
    let f = shell.engine().facets()?;
    Ok(FacetLists {
        agents: f.agents,
        actions: f.actions,
    })
}

#[derive(Debug, Serialize)]
pub struct Detail {
    pub approval: countersign_core::api::Approval,
    pub audit: Vec<AuditEntry>,
    pub local: Option<Local>,
}

#[tauri::command]
pub async fn approval_detail(shell: State<'_, Shell>, id: String) -> UiResult<Detail> {
    let engine = shell.engine();
    // Fresh audit trail when online; the cached one otherwise.
    let d = match engine.refresh_detail(&id).await {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!("detail of {id} from the cache: {e}");
            engine.detail(&id)?
        }
    };
    let mut approval = d.approval;
    // The status the user sees (local expiry, optimistic decision) wins over the cached one.
    approval.status = d.status;
    Ok(Detail {
        approval,
        audit: d.audit.map(|t| t.entries).unwrap_or_default(),
        local: d.local_decision.as_ref().and_then(local_of),
    })
}

fn opt(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[tauri::command]
pub async fn decide(
    shell: State<'_, Shell>,
    id: String,
    kind: DecisionKind,
    reason: Option<String>,
    notes: Option<String>,
) -> UiResult<Row> {
    let engine = shell.engine();
    let notes = opt(notes);
    let queued = match kind {
        DecisionKind::Approve => engine.decide_approve(&id, notes.as_deref())?,
        DecisionKind::Deny => {
            let reason = opt(reason)
                .ok_or_else(|| UiError::new("invalid_input", "A reason is required to deny."))?;
            engine.decide_deny(&id, &reason, notes.as_deref())?
        }
    };
    if let Some((_, why)) = queued.skipped.first() {
        return Err(UiError::new("not_decidable", format!("{id}: {why}")));
    }
    let d = engine.detail(&id)?;
    let a = d.approval;
    Ok(Row {
        local: d.local_decision.as_ref().and_then(local_of),
        id: a.id,
        agent_id: a.agent.id,
        agent_name: a.agent.name,
        action: a.action,
        reason_code: a.reason_code,
        summary: a.summary,
        status: d.status,
        created_at: a.created_at,
        expires_at: a.expires_at,
    })
}

#[derive(Debug, Serialize)]
pub struct BulkOutcome {
    pub queued: usize,
    pub skipped: Vec<(String, String)>,
}

#[tauri::command]
pub async fn decide_bulk(
    shell: State<'_, Shell>,
    ids: Vec<String>,
    kind: DecisionKind,
    reason: Option<String>,
    notes: Option<String>,
) -> UiResult<BulkOutcome> {
    let engine = shell.engine();
    let notes = opt(notes);
    let queued = match kind {
        DecisionKind::Approve => engine.bulk_approve(&ids, notes.as_deref())?,
        DecisionKind::Deny => {
            let reason = opt(reason)
                .ok_or_else(|| UiError::new("invalid_input", "A reason is required to deny."))?;
            engine.bulk_deny(&ids, &reason, notes.as_deref())?
        }
    };
    Ok(BulkOutcome {
        queued: queued.entries.len(),
        skipped: queued.skipped,
    })
}

#[tauri::command]
pub async fn stats(
    shell: State<'_, Shell>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> UiResult<Stats> {
    Ok(shell.engine().local_stats(from, to)?)
}

#[derive(Debug, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub approval_id: String,
    pub kind: DecisionKind,
    pub reason: Option<String>,
    pub notes: Option<String>,
    pub state: &'static str,
    pub attempts: u32,
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[tauri::command]
pub async fn outbox(shell: State<'_, Shell>) -> UiResult<Vec<OutboxItem>> {
    let engine = shell.engine();
    let entries = engine.outbox(&[
        OutboxState::Queued,
        OutboxState::Sending,
        OutboxState::Rejected,
        OutboxState::Expired,
    ])?;
    let mut items: Vec<OutboxItem> = entries
        .iter()
        .map(|e| {
            let l = local_of(e);
            OutboxItem {
                id: e.seq,
                approval_id: e.approval_id.clone(),
                kind: e.kind,
                reason: e.reason.clone(),
                notes: e.notes.clone(),
                state: l.as_ref().map(|l| l.state).unwrap_or("queued"),
                attempts: e.attempts,
                message: l.and_then(|l| l.message).or_else(|| e.last_error.clone()),
                created_at: e.decided_at,
            }
        })
        .collect();
    items.reverse();
    Ok(items)
}

/// Acknowledges a rejected/expired decision (`id` = `OutboxItem.id`); the core keeps
/// the row and emits `OutboxChanged`, which repaints the banner and badge.
#[tauri::command]
pub async fn dismiss_outbox(shell: State<'_, Shell>, id: i64) -> UiResult<()> {
    shell.engine().dismiss_outbox(id)?;
    Ok(())
}

#[tauri::command]
pub async fn sync_now(shell: State<'_, Shell>) -> UiResult<()> {
    shell.engine().sync_now().await?;
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct SettingsView {
    pub server_url: Option<String>,
    pub org: Option<String>,
    pub has_token: bool,
    pub expiring_soon_minutes: i64,
    pub notifications_enabled: bool,
    pub start_at_login: bool,
}

fn settings_view(app: &AppHandle, engine: &Engine) -> UiResult<SettingsView> {
    let s = engine.settings()?;
    Ok(SettingsView {
        has_token: s.endpoint().is_some() && engine.client().is_ok(),
        server_url: s.server_url,
        org: s.org,
        expiring_soon_minutes: s.expiring_soon_secs / 60,
        notifications_enabled: s.notifications_enabled,
        start_at_login: app.autolaunch().is_enabled().unwrap_or(false),
    })
}

#[tauri::command]
pub async fn get_settings(app: AppHandle, shell: State<'_, Shell>) -> UiResult<SettingsView> {
    settings_view(&app, &shell.engine())
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
}

#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    shell: State<'_, Shell>,
    settings: SettingsInput,
) -> UiResult<SettingsView> {
    let input = settings;
    let minutes = input.expiring_soon_minutes;
    if !(1..=7 * 24 * 60).contains(&minutes) {
        return Err(UiError::new(
            "settings",
            "The expiring-soon threshold must be between 1 minute and 7 days.",
        ));
    }
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
            engine.login(&server, &org, &token).await?;
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
    engine.set_expiring_soon_secs(minutes * 60)?;
    engine.set_notifications_enabled(input.notifications_enabled)?;
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
    settings_view(&app, &shell.engine())
}

#[tauri::command]
pub async fn start_demo(app: AppHandle, shell: State<'_, Shell>) -> UiResult<AppState> {
    super::enter_demo(&app, &shell)
        .await
        .map_err(|e| UiError::new("demo", format!("{e:#}")))?;
    app_state_of(&shell)
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
