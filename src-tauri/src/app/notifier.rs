//! Native notifications with action buttons.
//!
//! - freedesktop (Linux, BSD): [`super::xdg_notifications`] on the session bus; buttons are
//!   the spec's actions and a click on the body is the `"default"` action. A click is acted
//!   on only when the notification daemon itself reports it, for a notification this app
//!   showed and a button it offered (any process on the bus can emit the signal). Servers
//!   without the "actions" capability show no buttons, and a click still opens the approval.
//! - Windows: notify-rust turns actions into toast buttons and reports which was pressed.
//! - macOS (notify-rust's NSUserNotification path): the actions sit behind one "Options"
//!   button (NSUserNotification shows one action button, the rest in its drop-down); a
//!   click on the body is `"default"`, which opens the approval.
//!
//! On every platform only a button the notification offered is acted on.

use std::sync::Arc;

/// Action ids, as the notification server reports them back.
pub const ACTION_DEFAULT: &str = "default";
pub const ACTION_REVIEW: &str = "open";
pub const ACTION_SNOOZE: &str = "snooze";
pub const ACTION_APPROVE: &str = "approve";
/// "Undo" on the notification that says an approval is about to be sent.
pub const ACTION_UNDO: &str = "undo";

/// What to do when the user acts on a notification: `(action id, approval id)`.
pub type OnAction = Arc<dyn Fn(&str, Option<String>) + Send + Sync>;

/// One notification to show.
#[derive(Debug, Clone)]
pub struct Toast {
    pub summary: String,
    pub body: String,
    /// The approval a click should open, when the notification is about one.
    pub approval_id: Option<String>,
    /// Buttons besides the click on the body: `(action id, label)`.
    pub actions: Vec<(String, String)>,
}

/// The buttons as sent: on freedesktop the body click is the `"default"` action, listed
/// (servers show no button for it). macOS and Windows report a body click without it:
/// listed there, it would only be a second "Open" button beside "Review".
fn offered(toast: &Toast) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if cfg!(all(unix, not(target_os = "macos"))) {
        out.push((ACTION_DEFAULT.to_string(), "Open".to_string()));
    }
    out.extend(toast.actions.iter().cloned());
    out
}

/// Shows `toast` and hands a click on it to `on_action`. Errors (no notification
/// daemon, denied permission) are logged: a missing toast must never stop the app.
pub fn show(toast: Toast, on_action: OnAction) {
    // Talking to the notification server can block on D-Bus (and waiting for an action
    // blocks until one comes): keep it off the caller.
    let spawned = std::thread::Builder::new()
        .name("notification".into())
        .spawn(move || show_blocking(toast, on_action));
    if let Err(e) = spawned {
        tracing::warn!("could not start the notification thread: {e}");
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn show_blocking(toast: Toast, on_action: OnAction) {
    match super::xdg_notifications::show(&toast, &offered(&toast), on_action) {
        Ok(id) => tracing::info!(id, summary = %toast.summary, "notification shown"),
        Err(e) => tracing::warn!("could not show a notification: {e}"),
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn show_blocking(toast: Toast, on_action: OnAction) {
    let actions = offered(&toast);
    let mut n = notify_rust::Notification::new();
    n.appname("Countersign")
        .summary(&toast.summary)
        .body(&toast.body)
        .auto_icon();
    for (id, label) in &actions {
        n.action(id, label);
    }
    match n.show() {
        Ok(handle) => {
            tracing::info!(summary = %toast.summary, "notification shown");
            let id = toast.approval_id.clone();
            let keys: Vec<String> = actions.into_iter().map(|(k, _)| k).collect();
            let act = move |action: &str| {
                // The body click is always the approval's; any other key must be a
                // button this notification offered.
                if action == ACTION_DEFAULT || keys.iter().any(|k| k == action) {
                    on_action(action, id.clone());
                } else {
                    tracing::warn!("notification action ignored: action={action:?}: not offered");
                }
            };
            // The typed response on every platform: Windows reports a click on the
            // toast's body as `Default` (its `wait_for_action` folds that into
            // "__closed"), macOS as `Default` too.
            let waited =
                handle.wait_for_response(move |response: &notify_rust::NotificationResponse| {
                    match response {
                        notify_rust::NotificationResponse::Default => act(ACTION_DEFAULT),
                        notify_rust::NotificationResponse::Action(action) => act(action),
                        // Dismissed or expired without an action; no inline replies here.
                        _ => {}
                    }
                });
            if let Err(e) = waited {
                tracing::debug!("notification response: {e}");
            }
        }
        Err(e) => tracing::warn!("could not show a notification: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_click_is_offered_where_the_platform_reports_it_as_an_action() {
        let toast = Toast {
            summary: "s".into(),
            body: "b".into(),
            approval_id: None,
            actions: vec![(ACTION_REVIEW.into(), "Review".into())],
        };
        let keys: Vec<String> = offered(&toast).into_iter().map(|(k, _)| k).collect();
        if cfg!(all(unix, not(target_os = "macos"))) {
            assert_eq!(keys, [ACTION_DEFAULT, ACTION_REVIEW]);
        } else {
            assert_eq!(keys, [ACTION_REVIEW]);
        }
    }
}
