//! A key's health: what an attempt's outcome does to it (cooldowns per
//! model, lockouts), the daily reset, and manual recovery. The rules' numbers
//! live in [`crate::resilience::policy`].

use chrono::{DateTime, Utc};

use super::state::KeyState;
use crate::resilience::clock::after;
use crate::resilience::policy;
use crate::vocab::{Counters, Failure, FailureKind, Outcome};

/// Where an attempt stands in its provider's lease sequence: the number of
/// its lease, and the latest lease handed out when it ended. Failures of
/// attempts that were in flight together count as one step of the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseSpan {
    pub taken: u64,
    pub latest: u64,
}

// === impl KeyState: health ===

impl KeyState {
    /// When this key can serve `model` again: `None` if it can now.
    pub fn unavailable_until(&self, model: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let state = self.models.get(model);
        let cooldown = state.and_then(|m| m.cooldown_until);
        let capped = state.and_then(|m| m.capped_until);
        [self.locked_until, cooldown, capped]
            .into_iter()
            .flatten()
            .filter(|until| *until > now)
            .max()
    }

    /// Whether the key is at one of its provider's limits for `model`.
    pub fn is_capped(&self, model: &str, now: DateTime<Utc>) -> bool {
        self.models
            .get(model)
            .and_then(|m| m.capped_until)
            .is_some_and(|until| until > now)
    }

    /// Whether the key is locked out (rejected) at `now`.
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// Applies an attempt's outcome to the key's health: resets failure
    /// counters on success, cools the key down for the model or locks it on
    /// failure. A cooldown is never shortened by a later, shorter one.
    /// `next_reset` ends a quota cooldown without a hint. A failure of an
    /// attempt leased before the last recorded one (see `LeaseSpan`)
    /// cools or locks the key, but does not climb the ladder again: a burst
    /// of concurrent 429s is one step, not thirty.
    pub fn apply(
        &mut self,
        model: &str,
        outcome: Outcome,
        span: LeaseSpan,
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
                // A model with no state yet has no failures to clear.
                if let Some(state) = self.models.get_mut(model) {
                    state.consecutive_failures = 0;
                }
                return;
            }
            Outcome::Failed(Failure { kind, hint }) => (kind, hint),
            Outcome::ClientError | Outcome::Interrupted { .. } | Outcome::Abandoned => return,
        };
        if kind == FailureKind::KeyRejected {
            if span.taken > self.rejected_at_seq || self.lockouts == 0 {
                self.lockouts += 1;
            }
            self.rejected_at_seq = span.latest;
            let until = after(now, policy::lockout(self.lockouts));
            self.locked_until = Some(self.locked_until.map_or(until, |old| old.max(until)));
            self.dirty = true;
            self.model_mut(model).last_failure = Some(kind);
            return;
        }
        let state = self.model_mut(model);
        if span.taken > state.failed_at_seq || state.consecutive_failures == 0 {
            state.consecutive_failures += 1;
        }
        state.failed_at_seq = span.latest;
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
    use std::time::Duration;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn fail(kind: FailureKind, hint: Option<u64>) -> Outcome {
        Outcome::Failed(Failure {
            kind,
            hint: hint.map(secs),
        })
    }

    impl KeyState {
        /// Applies `outcome` as an attempt leased after every earlier one.
        fn fresh(
            &mut self,
            model: &str,
            outcome: Outcome,
            now: DateTime<Utc>,
            reset: DateTime<Utc>,
        ) {
            static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            let taken = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let span = LeaseSpan {
                taken,
                latest: taken,
            };
            self.apply(model, outcome, span, now, reset);
        }
    }

    /// Attempts leased together (sequence 1..=30), ending one after another.
    fn burst(k: &mut KeyState, model: &str, kind: FailureKind, now: DateTime<Utc>) {
        for taken in 1..=30 {
            let span = LeaseSpan { taken, latest: 30 };
            k.apply(model, fail(kind, None), span, now, t(RESET));
        }
    }

    #[test]
    fn concurrent_failures_are_one_step_of_the_ladder() {
        let mut k = key();
        let now = t(NOW);
        burst(&mut k, "m", FailureKind::RateLimited, now);
        assert_eq!(k.models["m"].consecutive_failures, 1);
        assert_eq!(k.unavailable_until("m", now), Some(after(now, secs(10))));
        // An attempt leased after those failures climbs one step.
        let later = after(now, secs(11));
        let span = LeaseSpan {
            taken: 31,
            latest: 31,
        };
        k.apply(
            "m",
            fail(FailureKind::RateLimited, None),
            span,
            later,
            t(RESET),
        );
        assert_eq!(k.models["m"].consecutive_failures, 2);
        assert_eq!(
            k.unavailable_until("m", later),
            Some(after(later, secs(30)))
        );
        // Rejections the same way: one lockout step for the burst.
        let mut k = key();
        burst(&mut k, "m", FailureKind::KeyRejected, now);
        assert_eq!(k.lockouts, 1);
        assert_eq!(k.locked_until, Some(after(now, secs(300))));
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
            k.fresh("m", fail(FailureKind::RateLimited, None), now, t(RESET));
            ends.push((k.models["m"].cooldown_until.unwrap() - now).num_seconds());
            k.models.get_mut("m").unwrap().cooldown_until = None; // let it expire
        }
        assert_eq!(ends, vec![10, 30, 60, 120, 300, 300]);
        k.fresh(
            "m",
            Outcome::Success {
                prompt_tokens: 1,
                completion_tokens: 1,
            },
            now,
            t(RESET),
        );
        assert_eq!(k.models["m"].consecutive_failures, 0);
        k.fresh("m", fail(FailureKind::RateLimited, None), now, t(RESET));
        assert_eq!(
            (k.models["m"].cooldown_until.unwrap() - now).num_seconds(),
            10
        );
    }

    #[test]
    fn a_hint_longer_than_the_step_wins_and_is_marked() {
        let mut k = key();
        let now = t(NOW);
        k.fresh("m", fail(FailureKind::RateLimited, Some(30)), now, t(RESET));
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
        k.fresh(
            "m",
            fail(FailureKind::RateLimited, Some(600)),
            now,
            t(RESET),
        );
        let later = after(now, secs(5));
        k.fresh(
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
        k.fresh("m", fail(FailureKind::KeyRejected, None), now, t(RESET));
        assert_eq!(k.locked_until, Some(after(now, secs(300))));
        assert_eq!(
            k.unavailable_until("any-model", now),
            Some(after(now, secs(300)))
        );
        let later = after(now, secs(301));
        assert!(!k.is_locked(later));
        k.fresh("m", fail(FailureKind::KeyRejected, None), later, t(RESET));
        assert_eq!(k.locked_until, Some(after(later, secs(600))));
        k.fresh(
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
        k.fresh("m", fail(FailureKind::Quota, None), now, t(RESET));
        assert_eq!(k.models["m"].cooldown_until, Some(t(RESET)));
        assert!(!k.models["m"].hinted);
        k.fresh("n", fail(FailureKind::Quota, Some(3600)), now, t(RESET));
        assert_eq!(k.models["n"].cooldown_until, Some(after(now, secs(3600))));
        assert!(k.models["n"].hinted);
    }

    #[test]
    fn transient_failures_use_the_ladder_and_ignore_hints() {
        let mut k = key();
        let now = t(NOW);
        k.fresh("m", fail(FailureKind::Transient, Some(900)), now, t(RESET));
        assert_eq!(k.models["m"].cooldown_until, Some(after(now, secs(10))));
    }

    #[test]
    fn the_daily_reset_keeps_only_hinted_cooldowns() {
        let mut k = key();
        let now = t(NOW);
        k.fresh(
            "ladder",
            fail(FailureKind::RateLimited, None),
            now,
            t(RESET),
        );
        k.fresh(
            "hinted",
            fail(FailureKind::RateLimited, Some(7200)),
            now,
            t(RESET),
        );
        k.fresh("x", fail(FailureKind::KeyRejected, None), now, t(RESET));
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
        k.fresh("a", fail(FailureKind::RateLimited, None), now, t(RESET));
        k.fresh("b", fail(FailureKind::RateLimited, None), now, t(RESET));
        assert!(k.clear(Some("a")));
        assert_eq!(k.unavailable_until("a", now), None);
        assert!(k.unavailable_until("b", now).is_some());
        assert!(k.clear(None));
        assert_eq!(k.unavailable_until("b", now), None);
        assert!(!k.clear(None));
    }
}
