//! Carries the engine's events to the window (Tauri events), the tray (count) and the
//! notifier (the core's notification plan).
//!
//! Changes flow as data: the window is told *which* approvals changed (it re-reads
//! only those rows), the facets only when they changed, and the status only when it
//! changed. Nothing runs on a timer except the one wake-up the notification planner
//! asks for (the next approval to enter the expiring-soon threshold).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use countersign_core::conn_state::EngineEvent;
use countersign_core::{Engine, Facets};
use serde::Serialize;
use serde_json::json;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::broadcast::error::RecvError;

use super::commands::{self, Status};
use super::notification_actions;
use super::notifier::{self, Toast};
use super::shell::Shell;
use super::tray::Tray;

pub const EV_APPROVALS: &str = "cs:approvals-changed";
pub const EV_STATUS: &str = "cs:status";
pub const EV_OUTBOX: &str = "cs:outbox-changed";
pub const EV_OPEN: &str = "cs:open-approval";
pub const EV_STATE: &str = "cs:state";

/// Payload of [`EV_APPROVALS`].
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct ApprovalsChanged {
    /// The approvals whose cached state changed; `None` when the bridge lost track
    /// (lagged behind a huge burst) and the window should re-read what it shows.
    pub ids: Option<Vec<String>>,
    /// The filter values, only when they changed.
    pub facets: Option<Facets>,
}

fn log_err<E: std::fmt::Display>(what: &str, r: Result<(), E>) {
    if let Err(e) = r {
        tracing::warn!("{what}: {e}");
    }
}

pub fn emit_state(app: &AppHandle) {
    let shell = app.state::<Shell>();
    match commands::app_state_of(&shell) {
        Ok(s) => log_err("emit state", app.emit(EV_STATE, s)),
        Err(e) => tracing::warn!("app state: {}", e.message),
    }
}

/// Shows what the core plans to announce (unless paused) and marks it announced.
/// Blocking (store reads and writes): runs inside `Engine::blocking`.
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
        let approve_button = engine
            .settings()
            .map(|s| s.approve_from_notification)
            .unwrap_or(false);
        for n in &plan {
            let app2 = app.clone();
            notifier::show(
                Toast {
                    summary: n.title.clone(),
                    body: n.body.clone(),
                    approval_id: n.approval_id.clone(),
                    actions: notification_actions::for_kind(n.kind, approve_button),
                },
                Arc::new(move |action, id| notification_actions::on_action(&app2, action, id)),
            );
        }
    } else {
        tracing::info!(count = plan.len(), "notifications paused; not shown");
    }
    if let Err(e) = engine.mark_announced(&plan) {
        tracing::warn!("mark announced: {e}");
    }
}

/// How [`open_approval`] brings the window forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raise {
    /// The user's own click (a notification its daemon reported): shown and focused.
    Focus,
    /// Something any process can do (a link): no keyboard focus, attention requested.
    Attention,
}

/// Brings the window forward, on the approval when there is one.
pub fn open_approval(app: &AppHandle, id: Option<String>, raise: Raise) {
    match raise {
        Raise::Focus => super::show_main_window(app),
        Raise::Attention => super::surface_main_window(app),
    }
    if let Some(id) = id {
        log_err("emit open", app.emit(EV_OPEN, json!({ "id": id })));
    }
}

/// What a burst of engine events asks the bridge to do.
#[derive(Default, Debug)]
struct Todo {
    /// Changed approvals; `lost` when some events were missed.
    ids: BTreeSet<String>,
    approvals: bool,
    lost: bool,
    /// A pull may have brought new agents or actions.
    pulled: bool,
    status: bool,
    outbox: bool,
}

impl Todo {
    fn add(&mut self, ev: Result<EngineEvent, RecvError>) -> bool {
        match ev {
            Ok(EngineEvent::ApprovalsChanged { ids }) => {
                self.approvals = true;
                self.status = true;
                self.ids.extend(ids);
            }
            Ok(EngineEvent::Synced { .. }) => {
                self.status = true;
                self.pulled = true;
            }
            Ok(EngineEvent::ConnectionChanged { .. }) => self.status = true,
            Ok(EngineEvent::OutboxChanged) => {
                self.outbox = true;
                self.status = true;
            }
            // Missed some: everything may have changed.
            Err(RecvError::Lagged(_)) => {
                self.approvals = true;
                self.lost = true;
                self.pulled = true;
                self.status = true;
                self.outbox = true;
            }
            Err(RecvError::Closed) => return false,
        }
        true
    }
}

/// Events come in bursts (a sync touches many approvals); one recount per burst is enough.
const COALESCE: Duration = Duration::from_millis(150);

/// What the bridge last told the window, so it repeats nothing that did not change.
#[derive(Default)]
struct Sent {
    status: Option<Status>,
    facets: Option<Facets>,
}

/// Does one burst's work on a blocking thread (store reads, the notifier's D-Bus call).
fn apply(app: &AppHandle, engine: &Engine, todo: &Todo, sent: &mut Sent) {
    if todo.status {
        match commands::status_of(engine) {
            Ok(st) if sent.status.as_ref() != Some(&st) => {
                if let Some(tray) = app.try_state::<Tray>() {
                    log_err("tray", tray.set_count(st.pending_count));
                }
                log_err("emit status", app.emit(EV_STATUS, &st));
                sent.status = Some(st);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("status: {}", e.message),
        }
    }
    if todo.approvals {
        // Local decisions never bring new filter values; a pull that changed rows may.
        let facets = if todo.lost || (todo.pulled && todo.approvals) {
            match engine.facets() {
                Ok(f) if sent.facets.as_ref() != Some(&f) => {
                    sent.facets = Some(f.clone());
                    Some(f)
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("facets: {e}");
                    None
                }
            }
        } else {
            None
        };
        {
            let payload = ApprovalsChanged {
                ids: (!todo.lost).then(|| todo.ids.iter().cloned().collect()),
                facets,
            };
            log_err("emit approvals", app.emit(EV_APPROVALS, payload));
        }
    }
    if todo.outbox {
        log_err("emit outbox", app.emit(EV_OUTBOX, ()));
    }
    if todo.approvals || todo.outbox {
        announce(app, engine);
    }
}

/// How long until the notification planner next has something to say on its own.
fn until_next_due(engine: &Engine) -> Option<Duration> {
    match engine.next_notification_due() {
        Ok(Some(at)) => Some(
            (at - engine.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                // Past the boundary when we look, not a hair before it; and never a
                // busy loop should marking an announcement keep failing.
                .max(Duration::from_secs(1)),
        ),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("next notification: {e}");
            None
        }
    }
}

/// Runs until the engine's event channel closes or the task is aborted (engine switch).
pub async fn run(app: AppHandle, engine: Engine) {
    let mut rx = engine.subscribe();
    // The status and the filter values as they are now; no rows to re-read (the window
    // reads its own first page), so nothing is reloaded twice at start.
    let first = Todo {
        status: true,
        approvals: true,
        pulled: true,
        ..Todo::default()
    };
    let (app2, mut sent2) = (app.clone(), Sent::default());
    let replan = app.state::<Shell>().replan.clone();
    let (mut sent_back, mut due) = engine
        .blocking(move |e| {
            apply(&app2, e, &first, &mut sent2);
            announce(&app2, e);
            Ok((sent2, until_next_due(e)))
        })
        .await
        .unwrap_or_else(|_| (Sent::default(), None));
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
            _ = async {
                match due {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            } => {
                // An approval entered the expiring-soon threshold, a snooze ended or a
                // digest slot came: only the planner has work (the empty `todo` makes
                // `apply` do nothing else).
            }
            _ = replan.notified() => {
                // A snooze or the reminder settings moved the next wake-up.
            }
        }
        let app2 = app.clone();
        let mut s = std::mem::take(&mut sent_back);
        match engine
            .blocking(move |e| {
                apply(&app2, e, &todo, &mut s);
                if !(todo.approvals || todo.outbox) {
                    announce(&app2, e);
                }
                Ok((s, until_next_due(e)))
            })
            .await
        {
            Ok((s, d)) => {
                sent_back = s;
                due = d;
            }
            Err(e) => tracing::warn!("bridge: {e}"),
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
        assert!(t.status && !t.approvals && !t.outbox);
        assert!(t.add(Ok(EngineEvent::ApprovalsChanged {
            ids: vec!["appr-2".into(), "appr-1".into()]
        })));
        assert!(t.add(Ok(EngineEvent::ApprovalsChanged {
            ids: vec!["appr-1".into()]
        })));
        assert!(t.add(Ok(EngineEvent::OutboxChanged)));
        assert!(t.outbox && t.approvals && !t.lost);
        assert_eq!(t.ids.iter().collect::<Vec<_>>(), ["appr-1", "appr-2"]);
        let mut lagged = Todo::default();
        assert!(lagged.add(Err(RecvError::Lagged(3))));
        assert!(lagged.lost && lagged.status && lagged.outbox && lagged.pulled);
        assert!(!Todo::default().add(Err(RecvError::Closed)));
    }
}
