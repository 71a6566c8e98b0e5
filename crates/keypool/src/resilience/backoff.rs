//! Backoff between retries of one key: `base × 2^n` plus up to `base` of
//! jitter, so clients retrying together do not retry in lockstep. One place
//! owns it; the rotation loop calls it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wait before retry number `n` (0-based) of the same key.
pub fn delay(base: Duration, n: u32) -> Duration {
    let exponential = base.saturating_mul(1u32 << n.min(16));
    exponential.saturating_add(jitter(base))
}

/// A pseudo-random duration in `[0, max)`. Sub-second clock noise is random
/// enough to spread retries; no RNG crate needed.
// A noise source, not a time: the injected clock would make it constant.
#[allow(clippy::disallowed_methods)]
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // xorshift scrambles the low-entropy clock bits.
    let mut x = u64::from(nanos) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let max_nanos = max.as_nanos().max(1) as u64;
    Duration::from_nanos(x % max_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_bounded_jitter() {
        let base = Duration::from_secs(1);
        for n in 0..4 {
            let d = delay(base, n);
            let floor = base * (1 << n);
            assert!(d >= floor && d < floor + base, "{n}: {d:?}");
        }
    }

    #[test]
    fn never_overflows() {
        assert!(delay(Duration::from_secs(u64::MAX / 4), 40) > Duration::ZERO);
        assert_eq!(delay(Duration::ZERO, 3), Duration::ZERO);
    }
}
