//! Anthropic's "retry later" hint: the `anthropic-ratelimit-*-reset`
//! headers, one per limit (requests, input and output tokens), each the
//! RFC 3339 time its window resets. The one reader of them;
//! [`AnthropicFormat`](super::AnthropicFormat) adds it to the generic
//! header hints, and so does the OpenAI-compatible format, which Anthropic
//! also serves.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::resilience::hints::{longest, parse_reset_value, Headers};

/// The latest reset any `anthropic-ratelimit-*-reset` header names,
/// measured from `now` and clamped like every hint; `None` when there is
/// none in the future.
pub fn reset_hint(headers: &(impl Headers + ?Sized), now: DateTime<Utc>) -> Option<Duration> {
    longest(headers.names().into_iter().map(|name| {
        if !(name.starts_with("anthropic-ratelimit-") && name.ends_with("-reset")) {
            return None;
        }
        parse_reset_value(headers.get_str(&name)?, now)
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Tue 2026-11-24 21:00:00 UTC.
    fn now() -> DateTime<Utc> {
        "2026-11-24T21:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_latest_reset_decides() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<Duration>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("anthropic", &[("anthropic-ratelimit-requests-limit", "4000"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", "2026-11-24T21:03:00Z"),
                ("anthropic-ratelimit-tokens-reset", "2026-11-24T21:00:05Z"),
                ("retry-after", "5")], Some(Duration::from_secs(180))),
            ("past", &[("anthropic-ratelimit-tokens-reset", "2026-11-24T20:59:00Z")], None),
            ("garbage", &[("anthropic-ratelimit-tokens-reset", "later")], None),
            ("generic only", &[("x-ratelimit-reset", "30s")], None),
        ];
        for (name, headers, want) in cases {
            assert_eq!(reset_hint(*headers, now()), *want, "{name}");
        }
    }
}
