//! Which key serves the next request: a pure function over the pool's state.
//!
//! Among keys that are not excluded (already tried by this request) and have
//! fewer than the per-model limit in flight for the model:
//! 1. keys with nothing in flight at all, then keys busy only with other
//!    models, then keys already busy with this model (when the limit allows
//!    more than one);
//! 2. within a tier, fewest successes today for the model, then least
//!    recently used.

use chrono::{DateTime, Utc};

use super::state::KeyState;
use crate::vocab::FailureKind;

/// Where a key stands for one model at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Retired by a reload or disabled by an operator: not leased.
    Retired,
    /// Has the per-(key, model) limit in flight: free again when one ends.
    Full,
    /// Cooling down for the model or locked out until then.
    Resting(DateTime<Utc>),
    /// Could serve now; the smallest rank is picked.
    Ready(Rank),
}

/// The order of free keys: tier, then successes today for the model, then
/// least recently used; the position breaks the last ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank {
    pub tier: u8,
    pub successes: u64,
    pub last_used: u64,
    pub index: usize,
}

/// Where the key at position `index` stands for `model` at `now`.
/// `limit` is the per-(key, model) concurrency limit; `None` = unlimited.
pub fn standing(
    key: &KeyState,
    index: usize,
    model: &str,
    limit: Option<u32>,
    now: DateTime<Utc>,
) -> Standing {
    if key.retired || key.disabled {
        return Standing::Retired;
    }
    if let Some(until) = key.unavailable_until(model, now) {
        return Standing::Resting(until);
    }
    let state = key.models.get(model);
    let in_flight = state.map_or(0, |m| m.in_flight);
    if limit.is_some_and(|l| in_flight >= l) {
        return Standing::Full;
    }
    let tier = if key.in_flight == 0 {
        0
    } else if in_flight == 0 {
        1
    } else {
        2
    };
    Standing::Ready(Rank {
        tier,
        successes: state.map_or(0, |m| m.usage.daily.successes),
        last_used: key.last_used,
        index,
    })
}

/// The index of the best key for `model`, if any is free now: the smallest
/// [`Rank`] among keys not in `exclude`.
///
/// Linear in the number of keys; the pool answers from its index of keys
/// sorted per model instead, and this is the definition the index is
/// tested against.
pub fn pick(
    keys: &[KeyState],
    model: &str,
    limit: Option<u32>,
    exclude: &[usize],
    now: DateTime<Utc>,
) -> Option<usize> {
    keys.iter()
        .enumerate()
        .filter(|(i, _)| !exclude.contains(i))
        .filter_map(|(i, k)| match standing(k, i, model, limit, now) {
            Standing::Ready(rank) => Some(rank),
            _ => None,
        })
        .min()
        .map(|rank| rank.index)
}

/// When no key is free: whether one is merely busy (it frees up when a
/// request ends), or else when the soonest resting key comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum Later {
    Busy {
        /// The soonest end of a rest among the resting keys, if any: a
        /// waiting request is woken then too, in case that key is back
        /// before a busy one frees up.
        rest_ends: Option<DateTime<Utc>>,
    },
    Resting {
        until: DateTime<Utc>,
        cause: RestCause,
    },
}

/// Why the resting keys rest, as the client is told: a rate limit (429) is
/// the client's to wait out; an outage or rejected keys are the service's
/// problem (503).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestCause {
    /// Every key that is not locked out cools down after a rate limit or a
    /// spent quota (keys locked out may rest besides).
    RateLimited,
    /// Some key cools down after provider failures (5xx, connection
    /// errors, timeouts).
    Failing,
    /// Every resting key is locked out (rejected with 401/403).
    Locked,
}

// === impl RestCause ===

impl RestCause {
    /// The cause for a set of resting keys: fold [`RestCause::of`] over
    /// them, starting from [`RestCause::Locked`].
    pub fn and(self, other: RestCause) -> RestCause {
        use RestCause::*;
        match (self, other) {
            (Failing, _) | (_, Failing) => Failing,
            (RateLimited, _) | (_, RateLimited) => RateLimited,
            (Locked, Locked) => Locked,
        }
    }

    /// Why `key`, which rests for `model` at `now`, rests. A cooldown of
    /// unknown cause (saved before causes were kept) counts as a rate limit.
    pub fn of(key: &KeyState, model: &str, now: DateTime<Utc>) -> RestCause {
        // A locked key rests for its lockout, whatever older cooldown it
        // also has for the model.
        if key.locked_until.is_some_and(|until| until > now) {
            return RestCause::Locked;
        }
        let state = key.models.get(model);
        let cooling = state.filter(|m| m.cooldown_until.is_some_and(|until| until > now));
        // At a limit: a rate limit, which the client is told to wait out.
        let capped = state.is_some_and(|m| m.capped_until.is_some_and(|until| until > now));
        if capped && cooling.is_none() {
            return RestCause::RateLimited;
        }
        match cooling.map(|m| m.last_failure) {
            None => RestCause::Locked,
            Some(Some(FailureKind::Transient)) => RestCause::Failing,
            Some(
                Some(FailureKind::RateLimited | FailureKind::Quota | FailureKind::KeyRejected)
                | None,
            ) => RestCause::RateLimited,
        }
    }
}

/// What waiting would bring, among the keys not in `exclude`.
pub fn later(
    keys: &[KeyState],
    model: &str,
    exclude: &[usize],
    now: DateTime<Utc>,
) -> Option<Later> {
    let mut soonest: Option<DateTime<Utc>> = None;
    let mut cause = RestCause::Locked;
    let mut busy = false;
    for (i, key) in keys.iter().enumerate() {
        if key.retired || key.disabled || exclude.contains(&i) {
            continue;
        }
        match key.unavailable_until(model, now) {
            None => busy = true,
            Some(until) => {
                cause = cause.and(RestCause::of(key, model, now));
                soonest = Some(soonest.map_or(until, |s| s.min(until)));
            }
        }
    }
    if busy {
        return Some(Later::Busy { rest_ends: soonest });
    }
    soonest.map(|until| Later::Resting { until, cause })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn pool(n: usize) -> Vec<KeyState> {
        (0..n)
            .map(|i| KeyState::new(Secret::new(format!("sk-test-key-{i:04}"))))
            .collect()
    }

    fn busy(k: &mut KeyState, model: &str) {
        k.in_flight += 1;
        k.model_mut(model).in_flight += 1;
    }

    #[test]
    fn a_locked_key_rests_for_its_lockout_not_an_older_cooldown() {
        let mut keys = pool(1);
        let state = keys[0].model_mut("m");
        state.cooldown_until = Some(now() + chrono::Duration::seconds(30));
        state.last_failure = Some(FailureKind::Transient);
        assert_eq!(RestCause::of(&keys[0], "m", now()), RestCause::Failing);
        keys[0].locked_until = Some(now() + chrono::Duration::seconds(300));
        assert_eq!(RestCause::of(&keys[0], "m", now()), RestCause::Locked);
    }

    #[test]
    fn idle_keys_come_before_keys_busy_with_other_models() {
        let mut keys = pool(2);
        busy(&mut keys[0], "other");
        keys[1].model_mut("m").usage.daily.successes = 50;
        assert_eq!(pick(&keys, "m", Some(1), &[], now()), Some(1));
    }

    #[test]
    fn a_key_busy_with_another_model_still_serves() {
        let mut keys = pool(1);
        busy(&mut keys[0], "other");
        assert_eq!(pick(&keys, "m", Some(1), &[], now()), Some(0));
        assert_eq!(pick(&keys, "other", Some(1), &[], now()), None);
        assert_eq!(pick(&keys, "other", None, &[], now()), Some(0));
        assert_eq!(pick(&keys, "other", Some(2), &[], now()), Some(0));
    }

    #[test]
    fn keys_busy_with_other_models_come_before_keys_busy_with_this_one() {
        let mut keys = pool(3);
        busy(&mut keys[0], "m");
        busy(&mut keys[1], "other");
        busy(&mut keys[2], "m");
        busy(&mut keys[2], "other");
        keys[1].model_mut("m").usage.daily.successes = 99;
        assert_eq!(pick(&keys, "m", None, &[], now()), Some(1));
        assert_eq!(pick(&keys, "m", Some(2), &[1], now()), Some(0));
    }

    #[test]
    fn fewest_successes_today_then_least_recently_used() {
        let mut keys = pool(3);
        keys[0].model_mut("m").usage.daily.successes = 3;
        keys[1].model_mut("m").usage.daily.successes = 1;
        keys[2].model_mut("m").usage.daily.successes = 1;
        keys[1].last_used = 9;
        keys[2].last_used = 4;
        assert_eq!(pick(&keys, "m", Some(1), &[], now()), Some(2));
        assert_eq!(pick(&keys, "m", Some(1), &[2], now()), Some(1));
        assert_eq!(pick(&keys, "m", Some(1), &[1, 2], now()), Some(0));
        assert_eq!(pick(&keys, "m", Some(1), &[0, 1, 2], now()), None);
    }

    #[test]
    fn resting_keys_are_skipped_and_waiting_says_until_when() {
        let mut keys = pool(2);
        let soon = now() + chrono::Duration::seconds(10);
        let later_on = now() + chrono::Duration::seconds(300);
        keys[0].model_mut("m").cooldown_until = Some(later_on);
        assert_eq!(pick(&keys, "m", Some(1), &[], now()), Some(1));
        keys[1].locked_until = Some(soon);
        assert_eq!(pick(&keys, "m", Some(1), &[], now()), None);
        assert_eq!(pick(&keys, "other", Some(1), &[], now()), Some(0));
        assert_eq!(
            later(&keys, "m", &[], now()),
            Some(Later::Resting {
                until: soon,
                cause: RestCause::RateLimited
            })
        );
        assert_eq!(
            later(&keys, "m", &[0], now()),
            Some(Later::Resting {
                until: soon,
                cause: RestCause::Locked
            })
        );
        busy(&mut keys[0], "x");
        keys[1].locked_until = None;
        busy(&mut keys[1], "x");
        assert_eq!(
            later(&keys, "x", &[], now()),
            Some(Later::Busy { rest_ends: None })
        );
        // Busy with one key while the other cools: woken when it is back.
        keys[1].model_mut("x").cooldown_until = Some(soon);
        assert_eq!(
            later(&keys, "x", &[], now()),
            Some(Later::Busy {
                rest_ends: Some(soon)
            })
        );
        assert_eq!(later(&keys, "m", &[0, 1], now()), None);
    }

    #[test]
    fn retired_keys_are_never_picked() {
        let mut keys = pool(2);
        keys[0].retired = true;
        assert_eq!(pick(&keys, "m", Some(1), &[], now()), Some(1));
        keys[1].retired = true;
        assert_eq!(pick(&keys, "m", Some(1), &[], now()), None);
        assert_eq!(later(&keys, "m", &[], now()), None);
    }
}
