//! "Retry later" hints from upstream responses, the generic ones.
//!
//! Owns reading the waits any HTTP API may ask for: `Retry-After`,
//! `retry-after-ms` and `x-ratelimit-reset*`. [`retry_hint`] gives the
//! longest of them, clamped to [`MAX_HINT`]. A provider's own hints (Gemini's
//! `RetryInfo`, Anthropic's rate-limit headers) live in its wire format,
//! which reads them with the value parsers here and combines them with
//! [`longest`]. Pure: no I/O, no clock (callers pass `now`), no web framework
//! (headers come through [`Headers`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::clock::until;

/// Header access, so the module does not depend on a web framework.
pub trait Headers {
    /// The first value of header `name` (lower-case), if present and text.
    fn get_str(&self, name: &str) -> Option<&str>;
    /// Every header name, lower-case, for prefix matching.
    fn names(&self) -> Vec<String>;
}

/// Name/value pairs with case-insensitive lookup, for tests and simple callers.
impl Headers for [(&str, &str)] {
    fn get_str(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn names(&self) -> Vec<String> {
        self.iter().map(|(k, _)| k.to_ascii_lowercase()).collect()
    }
}

/// Longest hint honoured; anything longer is clamped (a provider bug must not
/// bench a key for days). A day covers the longest real window, daily quotas.
pub const MAX_HINT: Duration = Duration::from_secs(24 * 3600);

const NANOS_PER_SEC: u128 = 1_000_000_000;
const NANOS_PER_MILLI: u128 = 1_000_000;
/// Fraction digits kept; nanoseconds are the finest unit, so more add nothing.
const MAX_FRACTION_DIGITS: usize = 9;
/// A bare reset number above this is a unix time in seconds: 1e9 s is
/// September 2001, and no rate-limit window is 31 years long.
const EPOCH_SECS_MIN: u128 = 1_000_000_000;
/// A bare reset number above this is a unix time in milliseconds: as seconds
/// it would be the year 33658, as milliseconds it is September 2001.
const EPOCH_MILLIS_MIN: u128 = 1_000_000_000_000;

/// The longest wait the generic headers ask for, measured from `now`,
/// clamped to [`MAX_HINT`]; `None` if there is no valid, non-zero, future
/// hint.
pub fn retry_hint(headers: &(impl Headers + ?Sized), now: DateTime<Utc>) -> Option<Duration> {
    let after = headers.get_str("retry-after");
    let after_ms = headers.get_str("retry-after-ms");
    let fixed = [
        after.and_then(|v| parse_retry_after(v, now)),
        after_ms.and_then(|v| Some(nanos_to_duration(decimal_nanos(v.trim(), NANOS_PER_MILLI)?))),
    ];
    let resets = headers.names().into_iter().filter_map(|name| {
        if !name.starts_with("x-ratelimit-reset") {
            return None;
        }
        parse_reset_value(headers.get_str(&name)?, now)
    });
    longest(fixed.into_iter().chain(resets.map(Some)))
}

/// The longest non-zero hint of `hints`, clamped to [`MAX_HINT`].
pub fn longest(hints: impl IntoIterator<Item = Option<Duration>>) -> Option<Duration> {
    hints
        .into_iter()
        .flatten()
        .filter(|d| !d.is_zero())
        .max()
        .map(|d| d.min(MAX_HINT))
}

/// A `Retry-After` value: delta-seconds (`"30"`, also `"1.5"`) or an
/// IMF-fixdate HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`). A date not
/// after `now` gives `None`; `"0"` gives zero.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Some(nanos) = decimal_nanos(value, NANOS_PER_SEC) {
        return Some(nanos_to_duration(nanos));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some(until(now, date.with_timezone(&Utc))).filter(|d| !d.is_zero())
}

/// A Go-style duration: `"1m30s"`, `"250ms"`, `"2m59.56s"`, `"1.5m"`, or a
/// plain number of seconds (`"30"`). Units: h, m, s, ms, us/µs, ns. Signs,
/// exponents and unknown units give `None`.
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Some(nanos) = decimal_nanos(value, NANOS_PER_SEC) {
        return Some(nanos_to_duration(nanos));
    }
    if value.is_empty() {
        return None;
    }
    let mut rest = value;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = rest.split_at(num_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let unit_nanos = match unit {
            "h" => 3600 * NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "s" => NANOS_PER_SEC,
            "ms" => NANOS_PER_MILLI,
            "us" | "µs" | "μs" => 1_000,
            "ns" => 1,
            _ => return None,
        };
        total = total.saturating_add(decimal_nanos(num, unit_nanos)?);
        rest = tail;
    }
    Some(nanos_to_duration(total))
}

/// An `x-ratelimit-reset*` / `anthropic-ratelimit-*-reset` value: a Go-style
/// duration, a unix time (seconds above 1e9, milliseconds above 1e12), or an
/// RFC 3339 timestamp. Times not after `now` give `None`.
pub fn parse_reset_value(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Some(secs) = decimal_nanos(value, NANOS_PER_SEC) {
        let target = if secs > EPOCH_MILLIS_MIN * NANOS_PER_SEC {
            decimal_nanos(value, NANOS_PER_MILLI)?
        } else if secs > EPOCH_SECS_MIN * NANOS_PER_SEC {
            secs
        } else {
            return Some(nanos_to_duration(secs));
        };
        let now_nanos =
            i128::from(now.timestamp()) * 1_000_000_000 + i128::from(now.timestamp_subsec_nanos());
        let delta = i128::try_from(target).unwrap_or(i128::MAX) - now_nanos;
        return u128::try_from(delta)
            .ok()
            .filter(|&d| d > 0)
            .map(nanos_to_duration);
    }
    if let Some(duration) = parse_go_duration(value) {
        return Some(duration);
    }
    let date = DateTime::parse_from_rfc3339(value).ok()?;
    Some(until(now, date.with_timezone(&Utc))).filter(|d| !d.is_zero())
}

/// Nanoseconds in a plain decimal (`"12"`, `"1.5"`, `".5"`) of `unit`
/// nanoseconds each; `None` for anything else (signs, exponents, `inf`).
fn decimal_nanos(num: &str, unit: u128) -> Option<u128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let all_digits = int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits {
        return None;
    }
    let digits = |s: &[u8]| {
        s.iter().fold(0u128, |acc, b| {
            acc.saturating_mul(10).saturating_add(u128::from(b - b'0'))
        })
    };
    let frac = &frac.as_bytes()[..frac.len().min(MAX_FRACTION_DIGITS)];
    let scale = 10u128.pow(u32::try_from(frac.len()).unwrap_or(0));
    let whole = digits(int.as_bytes()).saturating_mul(unit);
    Some(whole.saturating_add(digits(frac) * unit / scale))
}

/// Nanoseconds to a `Duration`, saturating instead of overflowing.
fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    let sub = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, sub)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Tue 2026-11-24 21:00:00 UTC = unix 1795554000.
    fn now() -> DateTime<Utc> {
        "2026-11-24T21:00:00Z".parse().unwrap()
    }

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn go_durations() {
        #[rustfmt::skip]
        let cases = [
            ("1s", ms(1_000)), ("6m0s", ms(360_000)), ("1m30s", ms(90_000)),
            ("2m59.56s", ms(179_560)), ("7.66s", ms(7_660)), ("250ms", ms(250)),
            ("20ms", ms(20)), ("0.5s", ms(500)), ("1.5m", ms(90_000)),
            ("1h2m3s", ms(3_723_000)), ("30", ms(30_000)), ("0s", Some(Duration::ZERO)),
            ("38.365207569s", Some(Duration::new(38, 365_207_569))),
            ("100us", Some(Duration::from_micros(100))), ("100µs", Some(Duration::from_micros(100))),
            ("5μs", Some(Duration::from_micros(5))),
            ("3ns", Some(Duration::from_nanos(3))),
            ("", None), ("s", None), ("ms", None), ("1x", None), ("1s2", None),
            ("-1s", None), ("1..5s", None), ("1e3s", None), ("inf", None), ("soon", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input), want, "{input:?}");
        }
    }

    #[test]
    fn retry_after_values() {
        #[rustfmt::skip]
        let cases = [
            ("20", ms(20_000)), (" 30 ", ms(30_000)), ("1.5", ms(1_500)),
            ("0", Some(Duration::ZERO)),
            ("Tue, 24 Nov 2026 21:02:00 GMT", ms(120_000)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("Tue, 24 Nov 2026 21:00:00 GMT", None),
            ("-5", None), ("1e3", None), ("NaN", None), ("tomorrow", None), ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_retry_after(input, now()), want, "{input:?}");
        }
    }

    #[test]
    fn reset_values() {
        #[rustfmt::skip]
        let cases = [
            ("6m0s", ms(360_000)), ("1.5", ms(1_500)),
            ("1795554060", ms(60_000)), ("1795554000.5", ms(500)), ("1795554090000", ms(90_000)),
            ("2026-11-24T21:03:00Z", ms(180_000)), ("2026-11-24T22:00:30+01:00", ms(30_000)),
            ("1795553000", None), ("1795553000000", None), ("2025-01-01T00:00:00Z", None),
            ("garbage", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_reset_value(input, now()), want, "{input:?}");
        }
    }

    #[test]
    fn retry_hint_scenarios() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<Duration>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("openai", &[("x-ratelimit-limit-requests", "500"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "1s"), ("x-ratelimit-reset-tokens", "6m0s"),
                ("retry-after", "20")], ms(360_000)),
            ("groq", &[("retry-after", "2"), ("x-ratelimit-reset-requests", "2m59.56s"),
                ("x-ratelimit-reset-tokens", "7.66s")], ms(179_560)),
            ("openrouter", &[("X-RateLimit-Limit", "20"), ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", "1795554060000")], ms(60_000)),
            ("http-date", &[("Retry-After", "Tue, 24 Nov 2026 21:02:00 GMT")], ms(120_000)),
            ("retry-after-ms", &[("retry-after-ms", "1500.5"), ("retry-after", "1")],
                Some(Duration::from_micros(1_500_500))),
            ("garbage", &[("retry-after", "soon"), ("retry-after-ms", "-1"),
                ("x-ratelimit-reset", "later")], None),
            ("past", &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
                ("x-ratelimit-reset", "2026-11-24T20:59:00Z")], None),
            ("zero", &[("retry-after", "0"), ("x-ratelimit-reset-requests", "0s")], None),
            ("huge", &[("retry-after", "999999999")], Some(MAX_HINT)),
            ("huge reset", &[("x-ratelimit-reset-tokens", "99999999999999999999999h")],
                Some(MAX_HINT)),
            ("garbage beside good", &[("retry-after", "soon"),
                ("x-ratelimit-reset-requests", "12s")], ms(12_000)),
            ("not generic", &[("anthropic-ratelimit-tokens-reset", "2026-11-24T21:03:00Z")],
                None),
            ("none", &[], None),
        ];
        for (name, headers, want) in cases {
            assert_eq!(retry_hint(*headers, now()), *want, "{name}");
        }
    }

    #[test]
    fn the_longest_hint_wins_within_the_cap() {
        assert_eq!(longest([None, ms(5), Some(Duration::ZERO), ms(9)]), ms(9));
        assert_eq!(longest([Some(MAX_HINT * 2)]), Some(MAX_HINT));
        assert_eq!(longest([None, Some(Duration::ZERO)]), None);
    }
}
