//! Wall-clock time, injectable so cooldowns and the daily reset can be
//! tested without waiting.
//!
//! Cooldowns are wall-clock instants (they survive restarts), so the pool
//! reads time through [`Clock`] rather than `Instant`.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

/// A clock that only moves when told to (tests, simulations).
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

// === impl SystemClock ===

impl Clock for SystemClock {
    // The one sanctioned read of the wall clock (clippy.toml).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

// === impl ManualClock ===

impl ManualClock {
    pub fn at(start: DateTime<Utc>) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: std::time::Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += ChronoDuration::from_std(by).unwrap_or(ChronoDuration::zero());
        }
    }

    pub fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = to;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|now| *now)
            .unwrap_or_else(|e| *e.into_inner())
    }
}

/// `at + by`, saturating instead of overflowing.
pub fn after(at: DateTime<Utc>, by: std::time::Duration) -> DateTime<Utc> {
    ChronoDuration::from_std(by)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Time from `now` until `then` (zero if `then` has passed).
pub fn until(now: DateTime<Utc>, then: DateTime<Utc>) -> std::time::Duration {
    (then - now).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .to_utc();
        let clock = ManualClock::at(start);
        assert_eq!(clock.now(), start);
        clock.advance(std::time::Duration::from_secs(90));
        assert_eq!(
            clock.now(),
            after(start, std::time::Duration::from_secs(90))
        );
        assert_eq!(
            until(start, clock.now()),
            std::time::Duration::from_secs(90)
        );
        assert_eq!(until(clock.now(), start), std::time::Duration::ZERO);
    }
}
