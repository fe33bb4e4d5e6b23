//! What the buttons of a notification offer and do: "Review" opens the approval,
//! "Remind me in 1 h" snoozes it (the core announces it again), and "Approve", only
//! when the approver turned it on in Settings, queues an approval like one made in the
//! window: held for the undo window, with an "Undo" notification that takes it back.
//!
//! Only clicks the notification daemon reports for a button the notification offered
//! reach here (see `notifier`). Such a click is the user's own, so "Review" brings the
//! window forward with focus, as a click on the tray's "Open" does; a link, which any
//! process can open, only requests attention (see `deep_link`).

use countersign_core::api::DecisionKind;
use countersign_core::reminders::APPROVED_FROM_NOTIFICATION;
use countersign_core::NotificationKind;
use tauri::{AppHandle, Manager};

use super::notifier::{
    self, Toast, ACTION_APPROVE, ACTION_DEFAULT, ACTION_REVIEW, ACTION_SNOOZE, ACTION_UNDO,
};
use super::shell::Shell;

/// Overrides the snooze (seconds), so the end-to-end suite sees a reminder come back
/// without waiting an hour. Not a setting: an hour is what the button says.
pub const SNOOZE_ENV: &str = "CS_SNOOZE_SECS";
const SNOOZE_DEFAULT_SECS: i64 = 3600;

fn snooze_secs() -> i64 {
    std::env::var(SNOOZE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(SNOOZE_DEFAULT_SECS)
}

/// "Remind me in 1 h" (or the override, e.g. "Remind me in 3 s").
fn snooze_label(secs: i64) -> String {
    let span = match secs {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    };
    format!("Remind me in {span}")
}

/// The buttons of a notification of `kind`. Only notifications about one approval
/// waiting for a decision get the snooze and (when enabled) the approve button.
pub fn for_kind(kind: NotificationKind, approve_button: bool) -> Vec<(String, String)> {
    let mut out = vec![(ACTION_REVIEW.to_string(), "Review".to_string())];
    if matches!(
        kind,
        NotificationKind::NewApproval | NotificationKind::Reminder
    ) {
        out.push((ACTION_SNOOZE.to_string(), snooze_label(snooze_secs())));
        if approve_button {
            out.push((ACTION_APPROVE.to_string(), "Approve".to_string()));
        }
    }
    out
}

/// Runs on the notification's own thread (blocking is fine there): the engine is called
/// directly, as synchronous callers do.
pub fn on_action(app: &AppHandle, action: &str, id: Option<String>) {
    match (action, id) {
        (ACTION_DEFAULT | ACTION_REVIEW, id) => {
            super::bridge::open_approval(app, id, super::bridge::Raise::Focus)
        }
        (ACTION_SNOOZE, Some(id)) => snooze(app, &id),
        (ACTION_APPROVE, Some(id)) => approve(app, &id),
        (other, id) => tracing::debug!(action = other, ?id, "notification action ignored"),
    }
}

fn snooze(app: &AppHandle, id: &str) {
    let shell = app.state::<Shell>();
    match shell
        .engine()
        .snooze(id, chrono::Duration::seconds(snooze_secs()))
    {
        Ok(until) => {
            tracing::info!(approval = %id, %until, "snoozed from a notification");
            shell.replan.notify_one();
        }
        Err(e) => tracing::warn!(approval = %id, "snooze: {e}"),
    }
}

fn approve(app: &AppHandle, id: &str) {
    let engine = app.state::<Shell>().engine();
    // Checked again at click time: the setting may have been turned off since.
    let enabled = engine
        .settings()
        .map(|s| s.approve_from_notification)
        .unwrap_or(false);
    let refused = if !enabled {
        Some("approving from a notification is turned off in Settings".to_string())
    } else {
        // The window's path: held on this device for the undo window before it is sent.
        match engine.decide_undoable(
            &[id.to_string()],
            DecisionKind::Approve,
            Some(APPROVED_FROM_NOTIFICATION),
            None,
        ) {
            // Queued: the outbox delivers it (offline too), and its events repaint.
            Ok(q) if !q.entries.is_empty() => {
                offer_undo(app, id, &q.entries);
                None
            }
            Ok(q) => Some(
                q.skipped
                    .into_iter()
                    .map(|(_, why)| why)
                    .next()
                    .unwrap_or_else(|| "it could not be queued".into()),
            ),
            Err(e) => Some(e.to_string()),
        }
    };
    match refused {
        None => tracing::info!(approval = %id, "approved from a notification"),
        Some(why) => {
            tracing::info!(approval = %id, "approve from a notification refused: {why}");
            let app2 = app.clone();
            notifier::show(
                Toast {
                    summary: format!("Nothing was approved: {id}"),
                    body: why,
                    approval_id: Some(id.to_string()),
                    actions: vec![(ACTION_REVIEW.to_string(), "Review".to_string())],
                },
                std::sync::Arc::new(move |action, id| on_action(&app2, action, id)),
            );
        }
    }
}

/// "Approving appr-x in 5 s" with an Undo button, for a decision held on this device
/// (nothing when the undo window is 0: it is sent at once, as from the window).
fn offer_undo(app: &AppHandle, id: &str, entries: &[countersign_core::OutboxEntry]) {
    let engine = app.state::<Shell>().engine();
    let Some((seq, until)) = entries
        .iter()
        .find_map(|e| e.send_after.map(|at| (e.seq, at)))
    else {
        return;
    };
    let secs = (until - engine.now()).num_seconds().max(1);
    let app2 = app.clone();
    notifier::show(
        Toast {
            summary: format!("Approving {id} in {secs} s"),
            body: "Undo takes it back before it is sent.".into(),
            approval_id: Some(id.to_string()),
            actions: vec![
                (ACTION_UNDO.to_string(), "Undo".to_string()),
                (ACTION_REVIEW.to_string(), "Review".to_string()),
            ],
        },
        std::sync::Arc::new(move |action, aid| {
            if action == ACTION_UNDO {
                undo(&app2, seq);
            } else {
                on_action(&app2, action, aid);
            }
        }),
    );
}

/// Takes back the held decision `seq` (refused, and logged, once it is being sent).
fn undo(app: &AppHandle, seq: i64) {
    match app.state::<Shell>().engine().cancel_queued(seq) {
        Ok(id) => tracing::info!(approval = %id, seq, "approve from a notification undone"),
        Err(e) => tracing::warn!(seq, "undo from a notification: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_follow_the_kind_and_the_setting() {
        let ids = |v: Vec<(String, String)>| v.into_iter().map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(
            ids(for_kind(NotificationKind::NewApproval, false)),
            ["open", "snooze"]
        );
        assert_eq!(
            ids(for_kind(NotificationKind::Reminder, true)),
            ["open", "snooze", "approve"]
        );
        assert_eq!(ids(for_kind(NotificationKind::Digest, true)), ["open"]);
        assert_eq!(snooze_label(3600), "Remind me in 1 h");
        assert_eq!(snooze_label(300), "Remind me in 5 min");
        assert_eq!(snooze_label(3), "Remind me in 3 s");
    }
}
