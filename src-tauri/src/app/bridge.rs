//! Carries the engine's events to the window (Tauri events), the tray (count) and the
//! notifier (the core's notification plan).

use std::sync::Arc;
use std::time::Duration;

use countersign_core::conn_state::EngineEvent;
use countersign_core::Engine;
use serde_json::json;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::broadcast::error::RecvError;

use super::commands;
use super::notifier::{self, Toast};
use super::shell::Shell;
use super::tray::Tray;

pub const EV_APPROVALS: &str = "cs:approvals-changed";
pub const EV_CONNECTION: &str = "cs:connection";
pub const EV_OUTBOX: &str = "cs:outbox-changed";
pub const EV_OPEN: &str = "cs:open-approval";
pub const EV_STATE: &str = "cs:state";

/// Expiring-soon notifications depend on the clock, not only on changes.
const TICK: Duration = Duration::from_secs(30);

fn log_err<E: std::fmt::Display>(what: &str, r: Result<(), E>) {
    if let Err(e) = r {
        tracing::warn!("{what}: {e}");
    }
}

pub fn emit_outbox(app: &AppHandle, engine: &Engine) {
    match commands::outbox_counts(engine) {
        Ok(c) => log_err("emit outbox", app.emit(EV_OUTBOX, c)),
        Err(e) => tracing::warn!("outbox counts: {}", e.message),
    }
}

pub fn emit_state(app: &AppHandle) {
    let shell = app.state::<Shell>();
    match commands::app_state_of(&shell) {
        Ok(s) => log_err("emit state", app.emit(EV_STATE, s)),
        Err(e) => tracing::warn!("app state: {}", e.message),
    }
}

/// Recounts pending approvals, updates the tray and tells the window.
pub fn refresh_count(app: &AppHandle, engine: &Engine) {
    match commands::pending_count(engine) {
        Ok(n) => {
            if let Some(tray) = app.try_state::<Tray>() {
                log_err("tray", tray.set_count(n));
            }
            log_err(
                "emit approvals",
                app.emit(EV_APPROVALS, json!({ "pending_count": n })),
            );
        }
        Err(e) => tracing::warn!("pending count: {}", e.message),
    }
}

/// Shows what the core plans to announce (unless paused) and marks it announced.
pub fn announce(app: &AppHandle, engine: &Engine) {
    let shell = app.state::<Shell>();
    let plan = match engine.plan_notifications() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("notification plan: {e}");
            return;
        }
    };
    if plan.is_empty() {
        return;
    }
    if !shell.paused() {
        for n in &plan {
            let app2 = app.clone();
            notifier::show(
                Toast {
                    summary: n.title.clone(),
                    body: n.body.clone(),
                    approval_id: n.approval_id.clone(),
                },
                Arc::new(move |id| open_approval(&app2, id)),
            );
        }
    } else {
        tracing::info!(count = plan.len(), "notifications paused; not shown");
    }
    if let Err(e) = engine.mark_announced(&plan) {
        tracing::warn!("mark announced: {e}");
    }
}

/// Brings the window forward, on the approval when there is one.
pub fn open_approval(app: &AppHandle, id: Option<String>) {
    super::show_main_window(app);
    if let Some(id) = id {
        log_err("emit open", app.emit(EV_OPEN, json!({ "id": id })));
    }
}

/// What a burst of engine events asks the bridge to do.
#[derive(Default)]
struct Todo {
    count: bool,
    connection: bool,
    outbox: bool,
}

impl Todo {
    fn add(&mut self, ev: Result<EngineEvent, RecvError>) -> bool {
        match ev {
            Ok(EngineEvent::ApprovalsChanged { .. }) | Ok(EngineEvent::Synced { .. }) => {
                self.count = true;
                self.connection = true;
            }
            Ok(EngineEvent::ConnectionChanged { .. }) => self.connection = true,
            Ok(EngineEvent::OutboxChanged) => {
                self.outbox = true;
                self.count = true;
            }
            // Missed some: everything may have changed.
            Err(RecvError::Lagged(_)) => {
                self.count = true;
                self.connection = true;
                self.outbox = true;
            }
            Err(RecvError::Closed) => return false,
        }
        true
    }
}

/// Events come in bursts (a sync touches many approvals); one recount per burst is enough.
const COALESCE: Duration = Duration::from_millis(150);

/// Runs until the engine's event channel closes or the task is aborted (engine switch).
pub async fn run(app: AppHandle, engine: Engine) {
    let mut rx = engine.subscribe();
    refresh_count(&app, &engine);
    announce(&app, &engine);
    let mut tick = tokio::time::interval(TICK);
    tick.tick().await;
    loop {
        let mut todo = Todo::default();
        tokio::select! {
            ev = rx.recv() => {
                if !todo.add(ev) {
                    break;
                }
                tokio::time::sleep(COALESCE).await;
                loop {
                    match rx.try_recv() {
                        Ok(ev) => { todo.add(Ok(ev)); }
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                            todo.add(Err(RecvError::Lagged(n)));
                        }
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => todo.count = true,
        }
        if todo.connection {
            if let Ok(c) = commands::connection(&engine) {
                log_err("emit connection", app.emit(EV_CONNECTION, c));
            }
        }
        if todo.outbox {
            emit_outbox(&app, &engine);
        }
        if todo.count {
            refresh_count(&app, &engine);
            announce(&app, &engine);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_folded_into_one_todo() {
        let mut t = Todo::default();
        assert!(t.add(Ok(EngineEvent::ConnectionChanged {
            state: countersign_core::ConnState::Syncing
        })));
        assert!(t.connection && !t.count && !t.outbox);
        assert!(t.add(Ok(EngineEvent::OutboxChanged)));
        assert!(t.outbox && t.count);
        let mut lagged = Todo::default();
        assert!(lagged.add(Err(RecvError::Lagged(3))));
        assert!(lagged.count && lagged.connection && lagged.outbox);
        assert!(!Todo::default().add(Err(RecvError::Closed)));
    }
}
