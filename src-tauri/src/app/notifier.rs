//! Native notifications through notify-rust. Where the platform reports a click
//! (freedesktop `ActionInvoked`, Windows toasts), the click opens that approval.

use std::sync::Arc;

/// What to do when the user clicks a notification: open this approval (or the queue).
pub type OnClick = Arc<dyn Fn(Option<String>) + Send + Sync>;

/// One notification to show.
#[derive(Debug, Clone)]
pub struct Toast {
    pub summary: String,
    pub body: String,
    /// The approval a click should open, when the notification is about one.
    pub approval_id: Option<String>,
}

/// Shows `toast` and, on a worker thread, waits for a click to hand to `on_click`.
/// Errors (no notification daemon, denied permission) are logged: a missing toast must
/// never stop the app.
pub fn show(toast: Toast, on_click: OnClick) {
    let mut n = notify_rust::Notification::new();
    n.appname("Countersign")
        .summary(&toast.summary)
        .body(&toast.body)
        .auto_icon();
    #[cfg(not(target_os = "macos"))]
    {
        // "default" is what freedesktop servers send for a click on the body.
        n.action("default", "Open").action("open", "Review");
    }
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        n.hint(notify_rust::Hint::Category("im.received".into()))
            .hint(notify_rust::Hint::DesktopEntry("countersign".into()));
    }
    // Talking to the notification server can block on D-Bus: keep it off the caller.
    let spawned = std::thread::Builder::new()
        .name("notification".into())
        .spawn(move || match n.show() {
            Ok(handle) => {
                tracing::info!(summary = %toast.summary, "notification shown");
                #[cfg(not(target_os = "macos"))]
                {
                    let id = toast.approval_id.clone();
                    handle.wait_for_action(move |action| {
                        if action == "default" || action == "open" {
                            on_click(id);
                        }
                    });
                }
                #[cfg(target_os = "macos")]
                {
                    // macOS brings the app forward on a click; nothing to wait for.
                    let _ = (handle, on_click);
                }
            }
            Err(e) => tracing::warn!("could not show a notification: {e}"),
        });
    if let Err(e) = spawned {
        tracing::warn!("could not start the notification thread: {e}");
    }
}
