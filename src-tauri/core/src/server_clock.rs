//! Server time. A laptop clock can be hours or days off (dual boot, VMs, a dead
//! CMOS battery); expiry is the server's, so local expiry, "expires in", countdowns
//! and the notification planner read the server's time as this device best knows
//! it: the local clock plus an offset estimated from the `Date` header of every
//! answer, smoothed, and persisted so it holds offline and across restarts.
//!
//! Between answers the device clock can jump (a wrong NTP answer, someone setting it):
//! the offset measured before the jump is then wrong by the jump. Each answer is also
//! pinned to the monotonic clock, so when the device clock has moved more than the
//! monotonic clock since the last answer, the estimate is the server's time at that
//! answer plus the monotonic time elapsed, and the jumped clock is ignored until the
//! next answer measures it again.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

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

/// A monotonic clock; replaceable so tests can hold it still while the wall clock jumps.
pub type Monotonic = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The last answer, on both clocks.
#[derive(Clone, Copy)]
struct Anchor {
    at: Instant,
    local: DateTime<Utc>,
    server: DateTime<Utc>,
}

pub struct ServerClock {
    local: Clock,
    monotonic: Monotonic,
    offset_ms: AtomicI64,
    known: AtomicBool,
    /// Only answers in this process: an `Instant` means nothing across restarts.
    anchor: Mutex<Option<Anchor>>,
}

impl ServerClock {
    pub fn new(local: Clock) -> Self {
        Self::with_monotonic(local, Arc::new(Instant::now))
    }

    pub fn with_monotonic(local: Clock, monotonic: Monotonic) -> Self {
        ServerClock {
            local,
            monotonic,
            offset_ms: AtomicI64::new(0),
            known: AtomicBool::new(false),
            anchor: Mutex::new(None),
        }
    }

    /// The device's own clock.
    pub fn local_now(&self) -> DateTime<Utc> {
        (self.local)()
    }

    /// The server's time as estimated (the local clock until a first answer).
    pub fn now(&self) -> DateTime<Utc> {
        let local = self.local_now();
        let by_offset = local + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        let Some(a) = *self.anchor.lock().unwrap_or_else(PoisonError::into_inner) else {
            return by_offset;
        };
        let elapsed = (self.monotonic)().saturating_duration_since(a.at);
        let Ok(elapsed) = Duration::from_std(elapsed) else {
            return by_offset;
        };
        // NTP slews the clock by milliseconds; more than JUMP_MS of disagreement is the
        // device clock being set, and the time since the answer is the monotonic one.
        if ((local - a.local) - elapsed).num_milliseconds().abs() > JUMP_MS {
            a.server + elapsed
        } else {
            by_offset
        }
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
            Some(cur) if (sample - cur).abs() <= DEADBAND_MS => cur,
            Some(cur) if (sample - cur).abs() <= JUMP_MS => cur + (sample - cur) / 4,
            _ => sample,
        };
        self.offset_ms.store(next, Ordering::Relaxed);
        self.known.store(true, Ordering::Relaxed);
        *self.anchor.lock().unwrap_or_else(PoisonError::into_inner) = Some(Anchor {
            at: (self.monotonic)(),
            local: received,
            server: received + Duration::milliseconds(next),
        });
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

    /// The device clock jumps 23 h ahead after an answer: the estimate follows the
    /// monotonic clock, not the jump, until the next answer measures the new offset.
    #[test]
    fn a_wall_clock_jump_after_an_answer_is_not_taken_for_elapsed_time() {
        use std::sync::atomic::AtomicU64;
        let t0 = Utc::now();
        let jump_s = Arc::new(AtomicI64::new(0));
        let mono_ms = Arc::new(AtomicU64::new(0));
        let base = Instant::now();
        let local: Clock = {
            let jump_s = jump_s.clone();
            let mono_ms = mono_ms.clone();
            Arc::new(move || {
                t0 + Duration::milliseconds(mono_ms.load(Ordering::SeqCst) as i64)
                    + Duration::seconds(jump_s.load(Ordering::SeqCst))
            })
        };
        let monotonic: Monotonic = {
            let mono_ms = mono_ms.clone();
            Arc::new(move || {
                base + std::time::Duration::from_millis(mono_ms.load(Ordering::SeqCst))
            })
        };
        let c = ServerClock::with_monotonic(local, monotonic);
        // The device clock is right: the server's Date says the same second.
        c.observe(t0, t0 + Duration::milliseconds(100), t0);
        let at_answer = c.now();
        // A minute passes on both clocks: the estimate moves a minute.
        mono_ms.store(60_000, Ordering::SeqCst);
        assert_eq!((c.now() - at_answer).num_seconds(), 60);
        // The device clock jumps 23 h: the estimate still moved a minute (and a second).
        jump_s.store(23 * 3600, Ordering::SeqCst);
        mono_ms.store(61_000, Ordering::SeqCst);
        assert_eq!((c.now() - at_answer).num_seconds(), 61);
        // The next answer measures the jumped clock: offset -23 h, the same estimate.
        let local_now = c.local_now();
        c.observe(local_now, local_now, t0 + Duration::seconds(61));
        assert!((c.offset_ms().unwrap() + 23 * 3_600_000).abs() < 1_000);
        assert!(
            (c.now() - at_answer - Duration::seconds(61))
                .num_milliseconds()
                .abs()
                < 1_000
        );
    }

    #[test]
    fn parses_http_dates() {
        let t = parse_http_date("Wed, 25 Nov 2026 18:43:31 GMT").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-25T18:43:31+00:00");
        assert!(parse_http_date("yesterday").is_none());
    }
}
