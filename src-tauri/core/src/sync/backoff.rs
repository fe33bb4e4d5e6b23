//! Exponential backoff with full jitter for transient failures.

use std::time::Duration;

use rand::Rng;

pub const BASE: Duration = Duration::from_millis(500);
pub const MAX: Duration = Duration::from_secs(60);

/// Upper bound of the wait after `attempts` failures: base × 2^(attempts-1), capped.
pub fn ceiling(attempts: u32, base: Duration, max: Duration) -> Duration {
    let exp = attempts.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << exp).min(max)
}

/// A random wait in [ceiling/2, ceiling]: spread so that many clients coming back
/// online at once do not hit the server in lockstep, yet never zero.
pub fn delay(attempts: u32, base: Duration, max: Duration) -> Duration {
    let c = ceiling(attempts, base, max);
    let ms = c.as_millis() as u64;
    let lo = ms / 2;
    Duration::from_millis(rand::thread_rng().gen_range(lo..=ms.max(lo)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let b = Duration::from_millis(100);
        let m = Duration::from_secs(5);
        assert_eq!(ceiling(1, b, m), Duration::from_millis(100));
        assert_eq!(ceiling(2, b, m), Duration::from_millis(200));
        assert_eq!(ceiling(4, b, m), Duration::from_millis(800));
        assert_eq!(ceiling(30, b, m), m);
        assert_eq!(ceiling(u32::MAX, b, m), m);
        for n in 1..40 {
            let d = delay(n, b, m);
            let c = ceiling(n, b, m);
            assert!(d <= c && d >= c / 2, "attempt {n}: {d:?} vs {c:?}");
        }
    }
}
