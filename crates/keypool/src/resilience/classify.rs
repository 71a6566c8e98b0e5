//! What one upstream attempt means for the request and for the key — the
//! status table below, in one place. The rotation loop and the pool act on the
//! verdict; nothing else interprets statuses.
//!
//! | outcome | verdict | key state | next |
//! |---|---|---|---|
//! | 2xx | success | failures reset, usage recorded | answer |
//! | 400/404/413/422, other 4xx | client error | none | answer with the upstream's status and body |
//! | 401, 403 | key rejected | lockout, all models | rotate |
//! | 402, 429 with a per-day/insufficient-quota body | quota | cooldown until the hinted reset, else the daily reset | rotate |
//! | 429 | rate limited | cooldown max(hint, ladder) | rotate |
//! | 408, 5xx, transport error, bad body | transient | retry the same key with backoff, then ladder cooldown | retry, then rotate |

use std::time::Duration;

use http::StatusCode;
use serde_json::Value;

use crate::vocab::Verdict;
use crate::vocab::{Failure, FailureKind, TransportError, LOOP_DETECTED};

/// Body fragments that mark a quota spent for the day (or for good), as
/// opposed to a per-minute rate limit: OpenAI `insufficient_quota`, Gemini
/// `…PerDay…` quota ids, Groq "tokens per day (TPD)".
const QUOTA_MARKERS: &[&str] = &[
    "insufficient_quota",
    "perday",
    "per day",
    "per_day",
    "daily",
];

/// Classifies an upstream answer by status and (error) body. A failure
/// carries `hint()`: how long the provider asked us to wait, which only its
/// wire format knows how to read (in the proxy, `WireFormat::retry_hint`).
pub fn classify_status(
    status: StatusCode,
    body: &[u8],
    hint: impl FnOnce() -> Option<Duration>,
) -> Verdict {
    let kind = match status.as_u16() {
        200..=299 => return Verdict::Success,
        401 | 403 => FailureKind::KeyRejected,
        402 => FailureKind::Quota,
        429 if is_quota_exhausted(body) => FailureKind::Quota,
        429 => FailureKind::RateLimited,
        408 => FailureKind::Transient,
        400..=499 => return Verdict::ClientError,
        // A provider whose base URL leads back into this proxy: retrying or
        // rotating would only loop again, and no key is at fault.
        508 if is_loop_detected(body) => return Verdict::ClientError,
        // 5xx, and 1xx/3xx, which an API should never answer with.
        _ => FailureKind::Transient,
    };
    Verdict::Failed(Failure { kind, hint: hint() })
}

/// Every transport problem is transient: a retry or another key may work.
pub fn classify_transport(error: &TransportError) -> Verdict {
    let kind = match error {
        TransportError::Connect(_)
        | TransportError::Timeout
        | TransportError::Body(_)
        | TransportError::Cancelled
        | TransportError::WorkerGone => FailureKind::Transient,
    };
    Verdict::Failed(Failure::of(kind))
}

/// Classifies an `{"error":…}` event that came as a stream's first event
/// (an upstream 200 that is really a failure), by the status or code it
/// carries. `hint` reads the event for a wait, as for [`classify_status`].
pub fn classify_stream_error(data: &str, hint: impl FnOnce() -> Option<Duration>) -> Verdict {
    let value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let error = &value["error"];
    let code = error["code"]
        .as_u64()
        .or_else(|| error["status"].as_u64())
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok());
    let text = data.to_ascii_lowercase();
    let status = match code {
        Some(status) => status,
        None if text.contains("rate_limit") || text.contains("resource_exhausted") => {
            StatusCode::TOO_MANY_REQUESTS
        }
        None if text.contains("invalid_api_key") || text.contains("permission_denied") => {
            StatusCode::UNAUTHORIZED
        }
        None if text.contains("context_length") || text.contains("invalid_request") => {
            StatusCode::BAD_REQUEST
        }
        None => StatusCode::BAD_GATEWAY,
    };
    classify_status(status, data.as_bytes(), hint)
}

/// A 508 in the OpenAI envelope with our `loop_detected` code: a proxy
/// (this one, or another in the loop) refused a call it sent itself.
fn is_loop_detected(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v["error"]["code"].as_str() == Some(LOOP_DETECTED))
}

fn is_quota_exhausted(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    QUOTA_MARKERS.iter().any(|marker| text.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::hints::retry_hint;
    use chrono::{DateTime, Utc};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T21:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn classify(code: u16, headers: &[(&str, &str)], body: &str) -> Verdict {
        classify_status(StatusCode::from_u16(code).unwrap(), body.as_bytes(), || {
            retry_hint(headers, now())
        })
    }

    fn fail(kind: FailureKind, hint: Option<u64>) -> Verdict {
        Verdict::Failed(Failure {
            kind,
            hint: hint.map(Duration::from_secs),
        })
    }

    /// A stream error event, with the generic (header-only) hints: none.
    fn stream(data: &str) -> Verdict {
        classify_stream_error(data, || None)
    }

    #[test]
    fn status_table() {
        use FailureKind::*;
        let table = [
            (200, Verdict::Success),
            (201, Verdict::Success),
            (400, Verdict::ClientError),
            (404, Verdict::ClientError),
            (413, Verdict::ClientError),
            (422, Verdict::ClientError),
            (409, Verdict::ClientError),
            (401, fail(KeyRejected, None)),
            (403, fail(KeyRejected, None)),
            (402, fail(Quota, None)),
            (429, fail(RateLimited, None)),
            (408, fail(Transient, None)),
            (500, fail(Transient, None)),
            (502, fail(Transient, None)),
            (503, fail(Transient, None)),
            (301, fail(Transient, None)),
            (508, fail(Transient, None)),
        ];
        for (code, verdict) in table {
            assert_eq!(classify(code, &[], ""), verdict, "{code}");
        }
    }

    #[test]
    fn a_loop_through_the_proxy_is_handed_back_at_once() {
        let ours = r#"{"error":{"message":"request loop","type":"loop_detected_error","param":null,"code":"loop_detected"}}"#;
        assert_eq!(classify(508, &[], ours), Verdict::ClientError);
        assert_eq!(
            classify(508, &[], r#"{"error":{"code":"other"}}"#),
            fail(FailureKind::Transient, None),
            "another 508 is a provider fault"
        );
    }

    #[test]
    fn rate_limits_carry_their_hint() {
        let v = classify(
            429,
            &[("retry-after", "30")],
            r#"{"error":{"message":"slow down"}}"#,
        );
        assert_eq!(v, fail(FailureKind::RateLimited, Some(30)));
    }

    #[test]
    fn per_day_and_insufficient_quota_bodies_are_quota() {
        let openai = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert_eq!(classify(429, &[], openai), fail(FailureKind::Quota, None));
        let gemini = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}}"#;
        assert_eq!(classify(429, &[], gemini), fail(FailureKind::Quota, None));
        let groq = r#"{"error":{"message":"Rate limit reached for model on tokens per day (TPD): Limit 500000"}}"#;
        assert_eq!(classify(429, &[], groq), fail(FailureKind::Quota, None));
    }

    #[test]
    fn transient_verdicts_allow_a_same_key_retry() {
        assert!(FailureKind::Transient.retry_same_key());
        assert!(!FailureKind::RateLimited.retry_same_key());
        assert_eq!(
            classify_transport(&TransportError::Timeout),
            fail(FailureKind::Transient, None)
        );
    }

    #[test]
    fn stream_error_events_are_classified_by_their_code() {
        let rate = r#"{"error":{"message":"Rate limit","type":"rate_limit_exceeded","code":429}}"#;
        assert_eq!(stream(rate), fail(FailureKind::RateLimited, None));
        let typed = r#"{"error":{"message":"Rate limit","type":"rate_limit_exceeded"}}"#;
        assert_eq!(stream(typed), fail(FailureKind::RateLimited, None));
        let auth = r#"{"error":{"code":"invalid_api_key"}}"#;
        assert_eq!(stream(auth), fail(FailureKind::KeyRejected, None));
        let context = r#"{"error":{"code":"context_length_exceeded"}}"#;
        assert_eq!(stream(context), Verdict::ClientError);
        assert_eq!(
            stream(r#"{"error":"overloaded"}"#),
            fail(FailureKind::Transient, None)
        );
    }
}
