//! How long a failing key rests: the cooldown ladder for a (key, model) and
//! the lockout of a rejected key. Pure functions; the pool applies them.

use std::time::Duration;

/// Cooldowns for the 1st, 2nd, … consecutive failure of a key on a model;
/// every further failure rests the key for the last step. Short first steps
/// ride out a burst limit; five minutes caps the cost of a key that is
/// really out.
pub const LADDER: [Duration; 5] = [
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(120),
    Duration::from_secs(300),
];

/// First lockout of a key the provider rejected (401/403), for all models.
pub const LOCKOUT_BASE: Duration = Duration::from_secs(300);

/// Longest lockout: a revoked key is retried at least hourly, so a key that
/// was restored is used again the same day.
pub const LOCKOUT_MAX: Duration = Duration::from_secs(3600);

/// The ladder step for the `n`-th consecutive failure (`n >= 1`).
pub fn ladder_step(n: u32) -> Duration {
    let index = (n.max(1) - 1) as usize;
    LADDER[index.min(LADDER.len() - 1)]
}

/// The cooldown for a rate limit: the provider's hint or the ladder step,
/// whichever is longer. Returns the duration and whether the hint decided
/// it (hinted cooldowns survive the daily reset).
pub fn rate_limit_cooldown(n: u32, hint: Option<Duration>) -> (Duration, bool) {
    let step = ladder_step(n);
    match hint {
        Some(hint) if hint >= step => (hint, true),
        _ => (step, false),
    }
}

/// The lockout for the `n`-th consecutive rejection (`n >= 1`): 5 min,
/// 10 min, 20 min, 40 min, then an hour.
pub fn lockout(n: u32) -> Duration {
    let doublings = n.max(1).saturating_sub(1).min(16);
    LOCKOUT_BASE
        .saturating_mul(1u32 << doublings)
        .min(LOCKOUT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn ladder_escalates_then_stays_at_five_minutes() {
        let steps: Vec<u64> = (1..=7).map(|n| ladder_step(n).as_secs()).collect();
        assert_eq!(steps, vec![10, 30, 60, 120, 300, 300, 300]);
        assert_eq!(ladder_step(0), secs(10));
    }

    #[test]
    fn rate_limit_takes_the_longer_of_hint_and_step() {
        assert_eq!(rate_limit_cooldown(1, None), (secs(10), false));
        assert_eq!(rate_limit_cooldown(1, Some(secs(30))), (secs(30), true));
        assert_eq!(rate_limit_cooldown(3, Some(secs(5))), (secs(60), false));
        assert_eq!(rate_limit_cooldown(3, Some(secs(60))), (secs(60), true));
    }

    #[test]
    fn lockouts_double_up_to_an_hour() {
        let steps: Vec<u64> = (1..=7).map(|n| lockout(n).as_secs()).collect();
        assert_eq!(steps, vec![300, 600, 1200, 2400, 3600, 3600, 3600]);
        assert_eq!(lockout(u32::MAX), LOCKOUT_MAX);
    }
}
