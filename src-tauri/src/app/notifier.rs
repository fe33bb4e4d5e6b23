//! Native notifications through notify-rust, with action buttons.
//!
//! - freedesktop (Linux, BSD): buttons are the spec's actions; a click on the body is
//!   the `"default"` action. Servers without the "actions" capability show no buttons,
//!   and a click still opens the approval.
//! - Windows: notify-rust turns actions into toast buttons and reports which was pressed.
//! - macOS (notify-rust's NSUserNotification path): the actions sit behind one "Options"
//!   button (NSUserNotification shows one action button, the rest in its drop-down); a
//!   click on the body is `"default"`, which opens the approval.

use std::sync::Arc;

/// Action ids, as the notification server reports them back.
pub const ACTION_DEFAULT: &str = "default";
pub const ACTION_REVIEW: &str = "open";
pub const ACTION_SNOOZE: &str = "snooze";
pub const ACTION_APPROVE: &str = "approve";

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

/// Shows `toast` and, on a worker thread, waits for an action to hand to `on_action`.
/// Errors (no notification daemon, denied permission) are logged: a missing toast must
/// never stop the app.
pub fn show(toast: Toast, on_action: OnAction) {
    let mut n = notify_rust::Notification::new();
    n.appname("Countersign")
        .summary(&toast.summary)
        .body(&toast.body)
        .auto_icon();
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        // "default" is what freedesktop servers send for a click on the body (they show
        // no button for it). macOS and Windows report a body click without it: listed
        // there, it would only be a second "Open" button beside "Review".
        n.action(ACTION_DEFAULT, "Open");
    }
    for (id, label) in &toast.actions {
        n.action(id, label);
    }
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        n.hint(notify_rust::Hint::Category("im.received".into()))
            .hint(notify_rust::Hint::DesktopEntry("countersign".into()));
    }
    // Talking to the notification server can block on D-Bus (and waiting for an action
    // blocks until one comes): keep it off the caller.
    let spawned = std::thread::Builder::new()
        .name("notification".into())
        .spawn(move || match n.show() {
            Ok(handle) => {
                tracing::info!(summary = %toast.summary, "notification shown");
                let id = toast.approval_id.clone();
                // The typed response on every platform: Windows reports a click on the
                // toast's body as `Default` (its `wait_for_action` folds that into
                // "__closed"), freedesktop and macOS as `Default` too.
                let waited = handle.wait_for_response(
                    move |response: &notify_rust::NotificationResponse| match response {
                        notify_rust::NotificationResponse::Default => on_action(ACTION_DEFAULT, id),
                        notify_rust::NotificationResponse::Action(action) => on_action(action, id),
                        // Dismissed or expired without an action; no inline replies here.
                        _ => {}
                    },
                );
                if let Err(e) = waited {
                    tracing::debug!("notification response: {e}");
                }
            }
            Err(e) => tracing::warn!("could not show a notification: {e}"),
        });
    if let Err(e) = spawned {
        tracing::warn!("could not start the notification thread: {e}");
    }
}
