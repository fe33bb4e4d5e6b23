//! Server time. A laptop clock can be hours or days off (dual boot, VMs, a dead
//! CMOS battery); expiry is the server's, so local expiry, "expires in", countdowns
//! and the notification planner read the server's time as this device best knows
//! it: the local clock plus an offset estimated from the `Date` header of every
//! answer, smoothed, and persisted so it holds offline and across restarts.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

use crate::engine::Clock;

/// Offsets beyond this are worth telling the user about ("your clock is off").
pub const CLOCK_OFF_THRESHOLD_MS: i64 = 60_000;
/// A sample this far from the estimate replaces it instead of being averaged in:
/// the local clock was set (NTP, the user) and the old estimate is simply wrong.
const JUMP_MS: i64 = 60_000;
/// `Date` has whole seconds, so samples scatter over a second around the truth:
/// within this of the estimate they say nothing new and leave it alone, which also
/// keeps [`ServerClock::now`] from stepping back and forth by fractions of a second
/// (the outbox schedules by it).
const DEADBAND_MS: i64 = 1_000;
/// Answers slower than this say little about when the server wrote its `Date`.
const MAX_RTT_MS: i64 = 10_000;

pub struct ServerClock {
    local: Clock,
    offset_ms: AtomicI64,
    known: AtomicBool,
}

impl ServerClock {
    pub fn new(local: Clock) -> Self {
        ServerClock {
            local,
            offset_ms: AtomicI64::new(0),
            known: AtomicBool::new(false),
        }
    }

    /// The device's own clock.
    pub fn local_now(&self) -> DateTime<Utc> {
        (self.local)()
    }

    /// The server's time as estimated (the local clock until a first answer).
    pub fn now(&self) -> DateTime<Utc> {
        self.local_now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Server minus local, in milliseconds, once estimated.
    pub fn offset_ms(&self) -> Option<i64> {
        self.known
            .load(Ordering::Relaxed)
            .then(|| self.offset_ms.load(Ordering::Relaxed))
    }

    /// Restores a persisted estimate.
    pub fn restore(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
        self.known.store(true, Ordering::Relaxed);
    }

    /// One answer: sent at `sent` and received at `received` (local clock), stamped
    /// `date` by the server. `Date` has whole seconds, truncated, so the server's
    /// instant was in `[date, date + 1s)`; it is taken to be mid-way, and to fall
    /// mid-way through the round trip.
    pub fn observe(&self, sent: DateTime<Utc>, received: DateTime<Utc>, date: DateTime<Utc>) {
        let rtt = (received - sent).num_milliseconds();
        if !(0..=MAX_RTT_MS).contains(&rtt) {
            return;
        }
        let server_mid = date + Duration::milliseconds(500);
        let local_mid = sent + Duration::milliseconds(rtt / 2);
        let sample = (server_mid - local_mid).num_milliseconds();
        let next = match self.offset_ms() {
            Some(cur) if (sample - cur).abs() <= DEADBAND_MS => return,
            Some(cur) if (sample - cur).abs() <= JUMP_MS => cur + (sample - cur) / 4,
            _ => sample,
        };
        self.offset_ms.store(next, Ordering::Relaxed);
        self.known.store(true, Ordering::Relaxed);
    }
}

/// Parses an HTTP `Date` header (`Wed, 25 Nov 2026 18:43:31 GMT`).
pub fn parse_http_date(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(v.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn estimates_smooths_and_jumps() {
        let c = ServerClock::new(Arc::new(Utc::now));
        assert_eq!(c.offset_ms(), None);
        let t0 = Utc::now();
        // Server two days ahead, answered in 100 ms.
        let date = t0 + Duration::days(2);
        c.observe(t0, t0 + Duration::milliseconds(100), date);
        let first = c.offset_ms().unwrap();
        assert!((first - (2 * 86_400_000 + 450)).abs() <= 1, "{first}");
        // A sample within the Date header's second changes nothing.
        c.observe(t0, t0 + Duration::milliseconds(300), date);
        assert_eq!(c.offset_ms(), Some(first));
        // A sample 2 s off is averaged in, not taken whole.
        c.observe(
            t0,
            t0 + Duration::milliseconds(100),
            date + Duration::seconds(2),
        );
        let second = c.offset_ms().unwrap();
        assert_eq!(second, first + 500);
        // A slow answer is ignored.
        c.observe(t0, t0 + Duration::seconds(30), date + Duration::hours(1));
        assert_eq!(c.offset_ms(), Some(second));
        // A jump (the local clock was fixed) replaces the estimate.
        c.observe(t0, t0 + Duration::milliseconds(100), t0);
        assert!(c.offset_ms().unwrap().abs() < 1000);
    }

    #[test]
    fn parses_http_dates() {
        let t = parse_http_date("Wed, 25 Nov 2026 18:43:31 GMT").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-25T18:43:31+00:00");
        assert!(parse_http_date("yesterday").is_none());
    }
}
