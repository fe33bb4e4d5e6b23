//! Which notifications this app showed, through which notification daemon, with which
//! buttons; a report of a click is acted on only when it matches one of them.
//!
//! On a freedesktop session bus any process may emit `ActionInvoked(id, "approve")`: the
//! signal names no recipient and carries no proof. What the bus does guarantee is the
//! sender's unique name (the bus daemon writes it), so a click counts only when it comes
//! from the unique name that owned `org.freedesktop.Notifications` when the notification
//! was shown, for an id that daemon gave this app, and for a button that notification
//! offered. A report is acted on once: the entry is gone after it.

use std::collections::{HashMap, VecDeque};

/// How many shown notifications are remembered; the oldest go first (a daemon that never
/// reports closing would otherwise grow this for ever). Far more than stay on screen.
const REMEMBERED: usize = 512;

/// One notification as shown.
#[derive(Debug, Clone)]
pub struct Shown<T> {
    /// Unique bus name (`:1.42`) of the daemon that showed it.
    pub daemon: String,
    /// Action keys it offered (`default` included where the body click is one).
    pub actions: Vec<String>,
    /// What to do with an accepted click.
    pub payload: T,
}

/// Why a reported click or close was not acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("sent by {sender}, not by the notification daemon {daemon}")]
    NotTheDaemon { sender: String, daemon: String },
    #[error("notification {0} is not one this app is showing")]
    UnknownId(u32),
    #[error("notification {id} offered no {action:?} button")]
    NotOffered { id: u32, action: String },
}

/// The notifications on screen, by the id their daemon gave them.
#[derive(Debug)]
pub struct Registry<T> {
    shown: HashMap<u32, Shown<T>>,
    order: VecDeque<u32>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self {
            shown: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T> Registry<T> {
    /// Remembers notification `id` as shown (replacing what an earlier daemon gave the
    /// same id).
    pub fn record(&mut self, id: u32, shown: Shown<T>) {
        if self.shown.insert(id, shown).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.shown.remove(&old);
            }
        }
    }

    fn check(&self, sender: Option<&str>, id: u32) -> Result<&Shown<T>, Refused> {
        let shown = self.shown.get(&id).ok_or(Refused::UnknownId(id))?;
        if sender != Some(shown.daemon.as_str()) {
            return Err(Refused::NotTheDaemon {
                sender: sender.unwrap_or("(no sender)").to_string(),
                daemon: shown.daemon.clone(),
            });
        }
        Ok(shown)
    }

    fn forget(&mut self, id: u32) -> Option<Shown<T>> {
        self.order.retain(|i| *i != id);
        self.shown.remove(&id)
    }

    /// `ActionInvoked(id, action)` from `sender`: the notification, taken out, when the
    /// click is genuine; why not otherwise (the notification stays, so a forged signal
    /// cannot dismiss the real one's buttons).
    pub fn action(
        &mut self,
        sender: Option<&str>,
        id: u32,
        action: &str,
    ) -> Result<Shown<T>, Refused> {
        let shown = self.check(sender, id)?;
        if !shown.actions.iter().any(|a| a == action) {
            return Err(Refused::NotOffered {
                id,
                action: action.to_string(),
            });
        }
        self.forget(id).ok_or(Refused::UnknownId(id))
    }

    /// `NotificationClosed(id, _)` from `sender`: forgets it when its daemon says so.
    pub fn closed(&mut self, sender: Option<&str>, id: u32) -> Result<(), Refused> {
        self.check(sender, id)?;
        self.forget(id);
        Ok(())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shown.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(daemon: &str, actions: &[&str], payload: &'static str) -> Shown<&'static str> {
        Shown {
            daemon: daemon.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            payload,
        }
    }

    #[test]
    fn only_the_daemon_that_showed_it_reports_a_click() {
        let mut r = Registry::default();
        r.record(
            7,
            shown(":1.5", &["default", "open", "snooze", "approve"], "appr-1"),
        );
        // Another process on the bus forges the approve: refused, and the real one stays.
        assert_eq!(
            r.action(Some(":1.99"), 7, "approve").unwrap_err(),
            Refused::NotTheDaemon {
                sender: ":1.99".into(),
                daemon: ":1.5".into()
            }
        );
        assert!(matches!(
            r.action(None, 7, "approve"),
            Err(Refused::NotTheDaemon { .. })
        ));
        // Nor can it close it (which would drop the real click).
        assert!(r.closed(Some(":1.99"), 7).is_err());
        assert_eq!(r.len(), 1);
        // The daemon's own report is acted on, once.
        assert_eq!(
            r.action(Some(":1.5"), 7, "approve").unwrap().payload,
            "appr-1"
        );
        assert_eq!(
            r.action(Some(":1.5"), 7, "approve").unwrap_err(),
            Refused::UnknownId(7)
        );
    }

    #[test]
    fn only_ids_this_app_showed_and_buttons_they_offered() {
        let mut r = Registry::default();
        r.record(3, shown(":1.5", &["default", "open"], "appr-3"));
        // An id the app never showed (another app's notification, or made up).
        assert_eq!(
            r.action(Some(":1.5"), 4, "approve").unwrap_err(),
            Refused::UnknownId(4)
        );
        // A button the notification did not offer (no Approve on a digest, or the
        // setting off when it was shown).
        assert_eq!(
            r.action(Some(":1.5"), 3, "approve").unwrap_err(),
            Refused::NotOffered {
                id: 3,
                action: "approve".into()
            }
        );
        assert_eq!(r.action(Some(":1.5"), 3, "open").unwrap().payload, "appr-3");
    }

    #[test]
    fn a_close_from_the_daemon_forgets_and_memory_is_bounded() {
        let mut r = Registry::default();
        r.record(1, shown(":1.5", &["default"], "a"));
        r.closed(Some(":1.5"), 1).unwrap();
        assert_eq!(r.len(), 0);
        assert!(r.action(Some(":1.5"), 1, "default").is_err());
        // A restarted daemon reusing an id: the new notification replaces the old.
        r.record(2, shown(":1.5", &["default"], "old"));
        r.record(2, shown(":1.8", &["default"], "new"));
        assert!(r.action(Some(":1.5"), 2, "default").is_err());
        assert_eq!(r.action(Some(":1.8"), 2, "default").unwrap().payload, "new");
        for id in 0..(REMEMBERED as u32 + 10) {
            r.record(id, shown(":1.8", &["default"], "x"));
        }
        assert_eq!(r.len(), REMEMBERED);
        assert!(
            r.action(Some(":1.8"), 0, "default").is_err(),
            "the oldest went first"
        );
        assert!(r
            .action(Some(":1.8"), REMEMBERED as u32 + 9, "default")
            .is_ok());
    }
}
