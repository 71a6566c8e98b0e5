//! Proactive per-key limits: the requests per minute (`rpm`), requests per
//! day (`rpd`) and tokens per minute (`tpm`) a provider allows one key for
//! one model. A key that has reached one of them for a model is not leased
//! for it until the window holding the count ends: the pool treats it as
//! resting (for a rate limit) until then, so a request waits for it, moves
//! to another key or target, or is answered 429 with `Retry-After`, exactly
//! as for a cooldown — without calling the provider.
//!
//! Windows are fixed, not sliding: the minute window is the calendar minute
//! (UTC), so `rpm = 10` allows ten requests in 12:00:00–12:00:59 and ten
//! more from 12:01:00; the day window runs from the provider's daily reset
//! to the next. Every call to the provider counts as a request (a retry on
//! the same key too). Tokens are prompt + completion tokens from each
//! answer's usage; while a request is in flight, its prompt's estimate
//! stands in for them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::schedule::DailySchedule;
use crate::vocab::glob;

/// The caps of one (key, model); `None` = no cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    pub rpm: Option<u64>,
    pub rpd: Option<u64>,
    pub tpm: Option<u64>,
}

/// A provider's caps by model glob (see [`LimitRules::caps`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitRules {
    rules: Vec<(String, Caps)>,
}

/// One (key, model)'s counts in its current windows; persisted with usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Windows {
    /// The minute counted: Unix seconds / 60.
    pub minute: i64,
    pub minute_requests: u64,
    pub minute_tokens: u64,
    /// The day counted: the Unix time (ms) of the daily reset it began at.
    pub day: i64,
    pub day_requests: u64,
}

/// Where the windows stand at one moment, for one provider's schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    minute: i64,
    /// The day's start (the provider's daily reset), Unix ms.
    pub day: i64,
    pub next_minute: DateTime<Utc>,
    pub next_day: DateTime<Utc>,
}

// === impl Caps ===

impl Caps {
    pub fn is_none(&self) -> bool {
        self.rpm.is_none() && self.rpd.is_none() && self.tpm.is_none()
    }
}

// === impl LimitRules ===

impl LimitRules {
    /// Rules as `(model glob, caps)`; a cap a rule leaves `None` falls to
    /// the next rule that matches.
    pub fn new(rules: Vec<(String, Caps)>) -> LimitRules {
        LimitRules { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.iter().all(|(_, caps)| caps.is_none())
    }

    /// The caps for `model`: each from the most specific glob (the
    /// longest) that matches `model` and sets it; among globs as long,
    /// the first given.
    pub fn caps(&self, model: &str) -> Caps {
        let mut best: [(Option<usize>, Option<u64>); 3] = [(None, None); 3];
        for (pattern, caps) in &self.rules {
            if !glob(pattern, model) {
                continue;
            }
            let len = pattern.chars().count();
            for (slot, cap) in best.iter_mut().zip([caps.rpm, caps.rpd, caps.tpm]) {
                if cap.is_some() && slot.0.is_none_or(|l| len > l) {
                    *slot = (Some(len), cap);
                }
            }
        }
        Caps {
            rpm: best[0].1,
            rpd: best[1].1,
            tpm: best[2].1,
        }
    }
}

// === impl Span ===

impl Span {
    /// The windows at `now` for a provider whose days start at `schedule`.
    pub fn at(now: DateTime<Utc>, schedule: &DailySchedule) -> Span {
        let minute = now.timestamp().div_euclid(60);
        let next_minute = DateTime::from_timestamp((minute + 1) * 60, 0).unwrap_or(now);
        Span {
            minute,
            day: schedule.last_at_or_before(now).timestamp_millis(),
            next_minute,
            next_day: schedule.next_after(now),
        }
    }
}

// === impl Windows ===

impl Windows {
    /// The counts as they stand in `span` (a window that ended counts 0).
    pub fn current(&self, span: &Span) -> Windows {
        let mut now = *self;
        if now.minute != span.minute {
            now.minute = span.minute;
            now.minute_requests = 0;
            now.minute_tokens = 0;
        }
        if now.day != span.day {
            now.day = span.day;
            now.day_requests = 0;
        }
        now
    }

    /// Counts a call to the provider, and `tokens` expected of it.
    pub fn request(&mut self, span: &Span, tokens: u64) {
        *self = self.current(span);
        self.minute_requests += 1;
        self.day_requests += 1;
        self.minute_tokens = self.minute_tokens.saturating_add(tokens);
    }

    /// An answer used `used` tokens where `reserved` were expected.
    pub fn tokens(&mut self, span: &Span, reserved: u64, used: u64) {
        *self = self.current(span);
        self.minute_tokens = self
            .minute_tokens
            .saturating_sub(reserved)
            .saturating_add(used);
    }

    /// Until when a key with these counts may not be leased under `caps`:
    /// the end of every window whose cap is reached; `None` if none is.
    pub fn capped_until(&self, caps: &Caps, span: &Span) -> Option<DateTime<Utc>> {
        let now = self.current(span);
        let minute = caps.rpm.is_some_and(|cap| now.minute_requests >= cap)
            || caps.tpm.is_some_and(|cap| now.minute_tokens >= cap);
        let day = caps.rpd.is_some_and(|cap| now.day_requests >= cap);
        match (minute, day) {
            (_, true) => Some(span.next_day.max(span.next_minute)),
            (true, false) => Some(span.next_minute),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn caps(rpm: Option<u64>, rpd: Option<u64>, tpm: Option<u64>) -> Caps {
        Caps { rpm, rpd, tpm }
    }

    #[test]
    fn the_longest_matching_glob_sets_each_cap() {
        let rules = LimitRules::new(vec![
            ("*".into(), caps(Some(30), Some(1000), None)),
            ("gemini-2.5-pro*".into(), caps(Some(5), None, None)),
            ("gemini-*".into(), caps(Some(15), None, Some(250_000))),
        ]);
        assert_eq!(
            rules.caps("gemini-2.5-pro-exp"),
            caps(Some(5), Some(1000), Some(250_000))
        );
        assert_eq!(
            rules.caps("gemini-2.0-flash"),
            caps(Some(15), Some(1000), Some(250_000))
        );
        assert_eq!(rules.caps("gemma-3"), caps(Some(30), Some(1000), None));
        assert!(LimitRules::default().caps("x").is_none());
    }

    #[test]
    fn a_minute_cap_holds_until_the_next_calendar_minute() {
        let schedule = DailySchedule::default();
        let rpm = caps(Some(2), None, None);
        let mut w = Windows::default();
        let span = Span::at(t("2026-12-04T12:00:10Z"), &schedule);
        w.request(&span, 0);
        assert_eq!(w.capped_until(&rpm, &span), None);
        w.request(&span, 0);
        assert_eq!(w.capped_until(&rpm, &span), Some(t("2026-12-04T12:01:00Z")));
        let later = Span::at(t("2026-12-04T12:01:00Z"), &schedule);
        assert_eq!(w.capped_until(&rpm, &later), None, "a new minute");
        assert_eq!(w.current(&later).minute_requests, 0);
    }

    #[test]
    fn a_daily_cap_holds_until_the_providers_reset() {
        let schedule = DailySchedule::parse("00:00", "America/Los_Angeles").unwrap();
        let rpd = caps(Some(100), Some(2), None);
        let mut w = Windows::default();
        let span = Span::at(t("2026-12-04T12:00:00Z"), &schedule);
        w.request(&span, 0);
        w.request(&span, 0);
        // Midnight in Los Angeles is 08:00 UTC in December.
        assert_eq!(w.capped_until(&rpd, &span), Some(t("2026-12-05T08:00:00Z")));
        let next_day = Span::at(t("2026-12-05T08:00:00Z"), &schedule);
        assert_eq!(w.capped_until(&rpd, &next_day), None);
    }

    #[test]
    fn tokens_reserve_an_estimate_then_count_the_answers_usage() {
        let schedule = DailySchedule::default();
        let tpm = caps(None, None, Some(1000));
        let mut w = Windows::default();
        let span = Span::at(t("2026-12-04T12:00:10Z"), &schedule);
        w.request(&span, 600);
        assert_eq!(w.capped_until(&tpm, &span), None);
        w.request(&span, 600);
        assert_eq!(w.capped_until(&tpm, &span), Some(t("2026-12-04T12:01:00Z")));
        // The answers used less than expected: room again.
        w.tokens(&span, 600, 100);
        w.tokens(&span, 600, 100);
        assert_eq!(w.minute_tokens, 200);
        assert_eq!(w.capped_until(&tpm, &span), None);
    }
}
