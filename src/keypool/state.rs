//! What the pool knows about each key: in-flight counts and usage per model.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::resilience::clock::after;
use crate::resilience::policy;

use crate::secret::{KeyId, Secret};

/// Usage counters for one key and one model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Attempts that reached the provider (whatever their outcome).
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Counters for today and since the key was first seen. `lifetime` includes
/// today; the daily reset zeroes `daily` only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub daily: Counters,
    pub lifetime: Counters,
}

/// How one leased attempt ended, as reported by whoever held the lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The provider answered with success; tokens as it reported them.
    Success {
        prompt_tokens: u64,
        completion_tokens: u64,
    },
    /// The provider refused the request itself (400/404/413/422): not the
    /// key's fault, so no penalty.
    ClientError,
    /// The attempt failed in a way that is the key's or provider's problem;
    /// `hint` is how long the provider asked us to wait.
    Failure {
        kind: FailureKind,
        hint: Option<Duration>,
    },
    /// The client went away (or stopped reading) after a stream began: the
    /// provider served it, so it counts as a request, but not as a success
    /// or a failure. Tokens are those reported before the end, if any.
    Interrupted {
        prompt_tokens: u64,
        completion_tokens: u64,
    },
    /// The request ended before the attempt produced anything: nothing to
    /// count, only the key to release.
    Abandoned,
}

/// Why an attempt failed; shown (with the masked key) when every key failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// 401/403: the provider rejected the key.
    KeyRejected,
    /// 402 or a quota-exhausted answer.
    Quota,
    /// 429.
    RateLimited,
    /// 408, 5xx, connection or timeout problems, unreadable bodies.
    Transient,
}

/// One key of one provider.
#[derive(Debug)]
pub struct KeyState {
    pub secret: Secret,
    pub id: KeyId,
    pub masked: String,
    /// Requests in flight on this key, all models together.
    pub in_flight: u32,
    /// Monotonic sequence number of the last lease; smaller = used longer ago.
    pub last_used: u64,
    /// Rejected by the provider (401/403): unusable for every model until
    /// then.
    pub locked_until: Option<DateTime<Utc>>,
    /// Consecutive rejections; each lockout is longer.
    pub lockouts: u32,
    /// Lockout state changed since the last write to the store.
    pub dirty: bool,
    pub models: HashMap<String, ModelState>,
}

/// One key's state for one model.
#[derive(Debug, Default)]
pub struct ModelState {
    pub in_flight: u32,
    pub usage: Usage,
    /// Resting after failures: not used for this model until then.
    pub cooldown_until: Option<DateTime<Utc>>,
    /// The cooldown's end came from the provider (a hint), so the daily
    /// reset keeps it.
    pub hinted: bool,
    pub consecutive_failures: u32,
    pub last_failure: Option<FailureKind>,
    /// Changed since the last write to the store.
    pub dirty: bool,
}

// === impl Counters ===

impl Counters {
    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Success {
                prompt_tokens,
                completion_tokens,
            } => {
                self.requests += 1;
                self.successes += 1;
                self.prompt_tokens += prompt_tokens;
                self.completion_tokens += completion_tokens;
            }
            Outcome::Interrupted {
                prompt_tokens,
                completion_tokens,
            } => {
                self.requests += 1;
                self.prompt_tokens += prompt_tokens;
                self.completion_tokens += completion_tokens;
            }
            Outcome::ClientError => self.requests += 1,
            Outcome::Failure { .. } => {
                self.requests += 1;
                self.failures += 1;
            }
            Outcome::Abandoned => {}
        }
    }
}

// === impl FailureKind ===

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::KeyRejected => "key_rejected",
            FailureKind::Quota => "quota",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Transient => "transient",
        }
    }
}

// === impl KeyState ===

impl KeyState {
    pub fn new(secret: Secret) -> KeyState {
        KeyState {
            id: secret.id(),
            masked: secret.mask(),
            secret,
            in_flight: 0,
            last_used: 0,
            locked_until: None,
            lockouts: 0,
            dirty: false,
            models: HashMap::new(),
        }
    }

    pub fn in_flight_for(&self, model: &str) -> u32 {
        self.models.get(model).map_or(0, |m| m.in_flight)
    }

    pub fn successes_today(&self, model: &str) -> u64 {
        self.models
            .get(model)
            .map_or(0, |m| m.usage.daily.successes)
    }

    pub fn model_mut(&mut self, model: &str) -> &mut ModelState {
        self.models.entry(model.to_owned()).or_default()
    }

    /// When this key can serve `model` again: `None` if it can now.
    pub fn unavailable_until(&self, model: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cooldown = self.models.get(model).and_then(|m| m.cooldown_until);
        [self.locked_until, cooldown]
            .into_iter()
            .flatten()
            .filter(|until| *until > now)
            .max()
    }

    /// Whether the key is locked out (rejected) at `now`.
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// Applies an attempt's outcome to the key's health: resets failure
    /// counters on success, cools the key down for the model or locks it on
    /// failure. A cooldown is never shortened by a later, shorter one.
    /// `next_reset` ends a quota cooldown without a hint.
    pub fn apply(
        &mut self,
        model: &str,
        outcome: Outcome,
        now: DateTime<Utc>,
        next_reset: DateTime<Utc>,
    ) {
        let (kind, hint) = match outcome {
            Outcome::Success { .. } => {
                if self.lockouts > 0 || self.locked_until.is_some() {
                    self.lockouts = 0;
                    self.locked_until = None;
                    self.dirty = true;
                }
                let state = self.model_mut(model);
                state.consecutive_failures = 0;
                return;
            }
            Outcome::Failure { kind, hint } => (kind, hint),
            Outcome::ClientError | Outcome::Interrupted { .. } | Outcome::Abandoned => return,
        };
        if kind == FailureKind::KeyRejected {
            self.lockouts += 1;
            let until = after(now, policy::lockout(self.lockouts));
            self.locked_until = Some(self.locked_until.map_or(until, |old| old.max(until)));
            self.dirty = true;
            self.model_mut(model).last_failure = Some(kind);
            return;
        }
        let state = self.model_mut(model);
        state.consecutive_failures += 1;
        state.last_failure = Some(kind);
        let (until, hinted) = match (kind, hint) {
            (FailureKind::Quota, Some(hint)) => (after(now, hint), true),
            (FailureKind::Quota, None) => (next_reset, false),
            (_, hint) => {
                let hint = if kind == FailureKind::RateLimited {
                    hint
                } else {
                    None
                };
                let (rest, hinted) = policy::rate_limit_cooldown(state.consecutive_failures, hint);
                (after(now, rest), hinted)
            }
        };
        match state.cooldown_until {
            Some(existing) if existing > now && existing >= until => {}
            _ => {
                state.cooldown_until = Some(until);
                state.hinted = hinted;
            }
        }
    }

    /// The daily reset: lockouts, failure counters and ladder cooldowns go;
    /// provider-hinted cooldowns stay; today's usage is zeroed (lifetime
    /// already includes it).
    pub fn daily_reset(&mut self) {
        self.locked_until = None;
        self.lockouts = 0;
        self.dirty = true;
        for state in self.models.values_mut() {
            if !state.hinted {
                state.cooldown_until = None;
            }
            state.consecutive_failures = 0;
            state.last_failure = None;
            state.usage.daily = Counters::default();
            state.dirty = true;
        }
    }

    /// Manual recovery: clears the lockout and, for `model` (or every
    /// model), cooldowns and failure counters. Returns whether anything
    /// changed.
    pub fn clear(&mut self, model: Option<&str>) -> bool {
        let mut changed = false;
        if model.is_none() && (self.locked_until.is_some() || self.lockouts > 0) {
            self.locked_until = None;
            self.lockouts = 0;
            self.dirty = true;
            changed = true;
        }
        for (name, state) in &mut self.models {
            if model.is_some_and(|m| m != name) {
                continue;
            }
            if state.cooldown_until.is_some() || state.consecutive_failures > 0 {
                state.cooldown_until = None;
                state.hinted = false;
                state.consecutive_failures = 0;
                state.dirty = true;
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_record_each_outcome() {
        let mut c = Counters::default();
        c.record(Outcome::Success {
            prompt_tokens: 10,
            completion_tokens: 5,
        });
        c.record(Outcome::Failure {
            kind: FailureKind::RateLimited,
            hint: None,
        });
        c.record(Outcome::ClientError);
        c.record(Outcome::Interrupted {
            prompt_tokens: 0,
            completion_tokens: 0,
        });
        c.record(Outcome::Abandoned);
        assert_eq!(
            c,
            Counters {
                requests: 4,
                successes: 1,
                failures: 1,
                prompt_tokens: 10,
                completion_tokens: 5
            }
        );
    }
}

#[cfg(test)]
mod health_tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn fail(kind: FailureKind, hint: Option<u64>) -> Outcome {
        Outcome::Failure {
            kind,
            hint: hint.map(secs),
        }
    }

    const NOW: &str = "2026-11-24T12:00:00Z";
    const RESET: &str = "2026-11-25T03:00:00Z";

    fn key() -> KeyState {
        KeyState::new(crate::secret::Secret::new("sk-test-health-0001"))
    }

    #[test]
    fn rate_limits_climb_the_ladder_and_success_resets_it() {
        let mut k = key();
        let now = t(NOW);
        let mut ends = Vec::new();
        for _ in 0..6 {
            k.apply("m", fail(FailureKind::RateLimited, None), now, t(RESET));
            ends.push((k.models["m"].cooldown_until.unwrap() - now).num_seconds());
            k.models.get_mut("m").unwrap().cooldown_until = None; // let it expire
        }
        assert_eq!(ends, vec![10, 30, 60, 120, 300, 300]);
        k.apply(
            "m",
            Outcome::Success {
                prompt_tokens: 1,
                completion_tokens: 1,
            },
            now,
            t(RESET),
        );
        assert_eq!(k.models["m"].consecutive_failures, 0);
        k.apply("m", fail(FailureKind::RateLimited, None), now, t(RESET));
        assert_eq!(
            (k.models["m"].cooldown_until.unwrap() - now).num_seconds(),
            10
        );
    }

    #[test]
    fn a_hint_longer_than_the_step_wins_and_is_marked() {
        let mut k = key();
        let now = t(NOW);
        k.apply("m", fail(FailureKind::RateLimited, Some(30)), now, t(RESET));
        assert_eq!(k.unavailable_until("m", now), Some(after(now, secs(30))));
        assert!(k.models["m"].hinted);
        assert_eq!(
            k.unavailable_until("other", now),
            None,
            "other models are unaffected"
        );
    }

    #[test]
    fn a_later_shorter_cooldown_never_shortens_an_existing_one() {
        let mut k = key();
        let now = t(NOW);
        k.apply(
            "m",
            fail(FailureKind::RateLimited, Some(600)),
            now,
            t(RESET),
        );
        let later = after(now, secs(5));
        k.apply(
            "m",
            fail(FailureKind::RateLimited, Some(1)),
            later,
            t(RESET),
        );
        assert_eq!(k.models["m"].cooldown_until, Some(after(now, secs(600))));
        assert!(k.models["m"].hinted);
    }

    #[test]
    fn rejections_lock_every_model_and_escalate() {
        let mut k = key();
        let now = t(NOW);
        k.apply("m", fail(FailureKind::KeyRejected, None), now, t(RESET));
        assert_eq!(k.locked_until, Some(after(now, secs(300))));
        assert_eq!(
            k.unavailable_until("any-model", now),
            Some(after(now, secs(300)))
        );
        let later = after(now, secs(301));
        assert!(!k.is_locked(later));
        k.apply("m", fail(FailureKind::KeyRejected, None), later, t(RESET));
        assert_eq!(k.locked_until, Some(after(later, secs(600))));
        k.apply(
            "n",
            Outcome::Success {
                prompt_tokens: 0,
                completion_tokens: 0,
            },
            after(later, secs(700)),
            t(RESET),
        );
        assert_eq!((k.lockouts, k.locked_until), (0, None));
    }

    #[test]
    fn quota_cools_until_the_hint_or_the_daily_reset() {
        let mut k = key();
        let now = t(NOW);
        k.apply("m", fail(FailureKind::Quota, None), now, t(RESET));
        assert_eq!(k.models["m"].cooldown_until, Some(t(RESET)));
        assert!(!k.models["m"].hinted);
        k.apply("n", fail(FailureKind::Quota, Some(3600)), now, t(RESET));
        assert_eq!(k.models["n"].cooldown_until, Some(after(now, secs(3600))));
        assert!(k.models["n"].hinted);
    }

    #[test]
    fn transient_failures_use_the_ladder_and_ignore_hints() {
        let mut k = key();
        let now = t(NOW);
        k.apply("m", fail(FailureKind::Transient, Some(900)), now, t(RESET));
        assert_eq!(k.models["m"].cooldown_until, Some(after(now, secs(10))));
    }

    #[test]
    fn the_daily_reset_keeps_only_hinted_cooldowns() {
        let mut k = key();
        let now = t(NOW);
        k.apply(
            "ladder",
            fail(FailureKind::RateLimited, None),
            now,
            t(RESET),
        );
        k.apply(
            "hinted",
            fail(FailureKind::RateLimited, Some(7200)),
            now,
            t(RESET),
        );
        k.apply("x", fail(FailureKind::KeyRejected, None), now, t(RESET));
        k.model_mut("ladder").usage.daily.requests = 5;
        k.model_mut("ladder").usage.lifetime.requests = 9;
        k.daily_reset();
        assert_eq!(k.models["ladder"].cooldown_until, None);
        assert_eq!(
            k.models["hinted"].cooldown_until,
            Some(after(now, secs(7200)))
        );
        assert_eq!(k.models["hinted"].consecutive_failures, 0);
        assert_eq!((k.locked_until, k.lockouts), (None, 0));
        assert_eq!(k.models["ladder"].usage.daily.requests, 0);
        assert_eq!(k.models["ladder"].usage.lifetime.requests, 9);
    }

    #[test]
    fn manual_clear_by_model_or_whole_key() {
        let mut k = key();
        let now = t(NOW);
        k.apply("a", fail(FailureKind::RateLimited, None), now, t(RESET));
        k.apply("b", fail(FailureKind::RateLimited, None), now, t(RESET));
        assert!(k.clear(Some("a")));
        assert_eq!(k.unavailable_until("a", now), None);
        assert!(k.unavailable_until("b", now).is_some());
        assert!(k.clear(None));
        assert_eq!(k.unavailable_until("b", now), None);
        assert!(!k.clear(None));
    }
}
