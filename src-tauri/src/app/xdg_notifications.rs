//! Notifications on freedesktop desktops (Linux, the BSDs), spoken on the session bus with
//! zbus (the version notify-rust brings) instead of through notify-rust, which acts on an
//! `ActionInvoked` signal whoever sent it.
//!
//! One connection for the app's life. Before each notification the unique name owning
//! `org.freedesktop.Notifications` is resolved and the notification is sent to that name;
//! one listener reads every `ActionInvoked` / `NotificationClosed` and hands a click on
//! only when [`Registry`] finds it genuine (that daemon, an id it gave this app, a button
//! that notification offered). Refused ones are logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;

use super::notification_registry::{Registry, Shown};
use super::notifier::{OnAction, Toast};

const NAME: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
const DBUS: &str = "org.freedesktop.DBus";
const DBUS_PATH: &str = "/org/freedesktop/DBus";

/// What an accepted click runs.
struct Payload {
    approval_id: Option<String>,
    on_action: OnAction,
}

struct Bus {
    conn: zbus::Connection,
    registry: Mutex<Registry<Payload>>,
    /// Whether each daemon (by unique name) renders markup in bodies.
    markup: Mutex<HashMap<String, bool>>,
}

/// The connection, made on first use (a session without a bus must not stop the app).
static BUS: Mutex<Option<Arc<Bus>>> = Mutex::new(None);

fn bus() -> zbus::Result<Arc<Bus>> {
    let mut slot = BUS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = slot.as_ref() {
        return Ok(b.clone());
    }
    let b = zbus::block_on(connect())?;
    *slot = Some(b.clone());
    Ok(b)
}

async fn connect() -> zbus::Result<Arc<Bus>> {
    let conn = zbus::Connection::session().await?;
    // Every sender: a forged signal is read too, to be refused and logged.
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(NAME)
        .path(PATH)
        .build()?;
    // Subscribed before the first notification is shown, so no click is missed.
    let stream = zbus::MessageStream::for_match_rule(rule, &conn, None).await?;
    let bus = Arc::new(Bus {
        conn,
        registry: Mutex::new(Registry::default()),
        markup: Mutex::new(HashMap::new()),
    });
    let b2 = bus.clone();
    std::thread::Builder::new()
        .name("notification-signals".into())
        .spawn(move || zbus::block_on(listen(b2, stream)))
        .map_err(|e| zbus::Error::Failure(format!("starting the signal listener: {e}")))?;
    Ok(bus)
}

async fn listen(bus: Arc<Bus>, mut stream: zbus::MessageStream) {
    while let Some(msg) = stream.next().await {
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("notification signal: {e}");
                continue;
            }
        };
        let header = msg.header();
        let sender = header.sender().map(|s| s.as_str().to_string());
        let member = header.member().map(|m| m.as_str().to_string());
        match member.as_deref() {
            Some("ActionInvoked") => match msg.body().deserialize::<(u32, String)>() {
                Ok((id, action)) => bus.on_action(sender.as_deref(), id, &action),
                Err(e) => tracing::debug!("ActionInvoked: {e}"),
            },
            Some("NotificationClosed") => {
                if let Ok((id, _reason)) = msg.body().deserialize::<(u32, u32)>() {
                    let closed = bus
                        .registry
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .closed(sender.as_deref(), id);
                    if let Err(e) = closed {
                        tracing::debug!("NotificationClosed ignored: id={id}: {e}");
                    }
                }
            }
            _ => {}
        }
    }
    tracing::warn!("the session bus closed: notification clicks are no longer heard");
}

impl Bus {
    fn on_action(&self, sender: Option<&str>, id: u32, action: &str) {
        let taken = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .action(sender, id, action);
        match taken {
            Ok(shown) => {
                let action = action.to_string();
                // The handler may block on the store; the listener must keep reading.
                let spawned = std::thread::Builder::new()
                    .name("notification-action".into())
                    .spawn(move || (shown.payload.on_action)(&action, shown.payload.approval_id));
                if let Err(e) = spawned {
                    tracing::warn!("could not start the notification action: {e}");
                }
            }
            // In the message, not only as fields: what was refused is read by people.
            Err(e) => tracing::warn!("notification action ignored: id={id} action={action:?}: {e}"),
        }
    }

    /// The unique name of the notification daemon now, starting it if the desktop
    /// starts it on demand.
    async fn daemon(&self) -> zbus::Result<String> {
        let owner = || async {
            self.conn
                .call_method(Some(DBUS), DBUS_PATH, Some(DBUS), "GetNameOwner", &(NAME,))
                .await?
                .body()
                .deserialize::<String>()
        };
        match owner().await {
            Ok(name) => Ok(name),
            Err(_) => {
                self.conn
                    .call_method(
                        Some(DBUS),
                        DBUS_PATH,
                        Some(DBUS),
                        "StartServiceByName",
                        &(NAME, 0u32),
                    )
                    .await?;
                owner().await
            }
        }
    }

    /// Whether `daemon` renders body markup. Unknown counts as yes: escaping for a daemon
    /// that shows text as is costs looks, not escaping for one that renders would let an
    /// agent's `<a href>` or `<b>` through.
    async fn renders_markup(&self, daemon: &str) -> bool {
        if let Some(m) = self
            .markup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(daemon)
        {
            return *m;
        }
        let caps = async {
            self.conn
                .call_method(Some(daemon), PATH, Some(NAME), "GetCapabilities", &())
                .await?
                .body()
                .deserialize::<Vec<String>>()
        };
        let markup = match caps.await {
            Ok(caps) => caps.iter().any(|c| c == "body-markup"),
            Err(e) => {
                tracing::debug!("notification capabilities: {e}");
                true
            }
        };
        self.markup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(daemon.to_string(), markup);
        markup
    }

    async fn notify(
        &self,
        toast: &Toast,
        actions: &[(String, String)],
        on_action: OnAction,
    ) -> zbus::Result<u32> {
        let daemon = self.daemon().await?;
        let body = if self.renders_markup(&daemon).await {
            escape_markup(&toast.body)
        } else {
            toast.body.clone()
        };
        let flat: Vec<&str> = actions
            .iter()
            .flat_map(|(id, label)| [id.as_str(), label.as_str()])
            .collect();
        let hints: HashMap<&str, zbus::Variant<'_>> = HashMap::from([
            ("category", zbus::Variant::from("im.received")),
            ("desktop-entry", zbus::Variant::from("countersign")),
        ]);
        let icon = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .unwrap_or_else(|| "countersign".into());
        let id: u32 = self
            .conn
            .call_method(
                Some(daemon.as_str()),
                PATH,
                Some(NAME),
                "Notify",
                &(
                    "Countersign",
                    0u32,
                    icon.as_str(),
                    toast.summary.as_str(),
                    body.as_str(),
                    flat,
                    hints,
                    -1i32,
                ),
            )
            .await?
            .body()
            .deserialize()?;
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(
                id,
                Shown {
                    daemon,
                    actions: actions.iter().map(|(id, _)| id.clone()).collect(),
                    payload: Payload {
                        approval_id: toast.approval_id.clone(),
                        on_action,
                    },
                },
            );
        Ok(id)
    }
}

/// Shows `toast` with `actions` (`(key, label)`, the body click's `default` included) and
/// returns the daemon's id for it. Blocking: runs on the notification thread.
pub fn show(toast: &Toast, actions: &[(String, String)], on_action: OnAction) -> zbus::Result<u32> {
    let bus = bus()?;
    zbus::block_on(bus.notify(toast, actions, on_action))
}

/// The body as text in the markup freedesktop daemons render (a subset of HTML): `&`,
/// `<` and `>` escaped, so agent text shows as written and never becomes bold, a link or
/// an image.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_body_is_shown_as_text() {
        assert_eq!(
            escape_markup("<b>x</b> & <a href=\"https://e.x\">y</a> <img src=x>"),
            "&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href=\"https://e.x\"&gt;y&lt;/a&gt; &lt;img src=x&gt;"
        );
        // Already escaped text is escaped again: it is text, not markup.
        assert_eq!(escape_markup("&lt;"), "&amp;lt;");
        assert_eq!(escape_markup("plain ⟨U+202E⟩ text"), "plain ⟨U+202E⟩ text");
    }
}
