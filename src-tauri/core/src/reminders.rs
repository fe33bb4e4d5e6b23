//! The engine's side of acting from a notification: snoozing an approval ("Remind me in
//! 1 h"), and gathering what the planner needs for snoozes and the daily digest.

use chrono::{DateTime, Duration, Utc};

use crate::api;
use crate::engine::Engine;
use crate::error::{CoreError, Result};
use crate::notify_plan::{self, Reminders};
use crate::settings::{self, Settings};
use crate::store::Store;

/// Notes of a decision taken with the "Approve" button of a notification, so the audit
/// trail says the approver did not open the detail.
pub const APPROVED_FROM_NOTIFICATION: &str = "Approved from a notification";

impl Engine {
    /// Announces `id` again at `now + after` (replacing an earlier snooze of it). A
    /// snooze of an approval that is decided or expired by then simply never fires.
    pub fn snooze(&self, id: &str, after: Duration) -> Result<DateTime<Utc>> {
        if !api::is_valid_approval_id(id) {
            return Err(CoreError::Invalid(format!(
                "{id:?} is not an approval id (appr-...)"
            )));
        }
        if after <= Duration::zero() {
            return Err(CoreError::Invalid("a snooze must last some time".into()));
        }
        let now = self.now();
        let until = now + after;
        self.store().snooze(id, until, now)?;
        Ok(until)
    }

    /// What the planner needs for reminders: live snoozes, the digest times (none when
    /// the digest is off) and what already fired.
    pub(crate) fn reminders_of(
        &self,
        store: &Store,
        s: &Settings,
        now: DateTime<Utc>,
    ) -> Result<Reminders> {
        let digest_times = if s.digest_enabled {
            s.digest_times
                .iter()
                .filter_map(|t| match settings::parse_digest_time(t) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        // Saved settings are checked; this is an older or hand-edited file.
                        tracing::warn!("digest time ignored: {e}");
                        None
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Reminders {
            snoozes: store.live_snoozes(now)?,
            fired_snoozes: store.announced_keys(notify_plan::KEY_SNOOZE)?,
            fired_digests: if digest_times.is_empty() {
                Default::default()
            } else {
                store.announced_keys(notify_plan::KEY_DIGEST)?
            },
            digest_times,
        })
    }

    /// Turns the "Approve" button on notifications on or off.
    pub fn set_approve_from_notification(&self, on: bool) -> Result<()> {
        let store = self.store();
        let mut s = store.load_settings()?;
        s.approve_from_notification = on;
        store.save_settings(&s)
    }

    /// Turns the digest on or off at two local times ("HH:MM"), checked and normalised.
    pub fn set_digest(&self, enabled: bool, times: &[String]) -> Result<()> {
        let times = settings::normalize_digest_times(times)?;
        let store = self.store();
        let mut s = store.load_settings()?;
        s.digest_enabled = enabled;
        s.digest_times = times;
        store.save_settings(&s)
    }
}
