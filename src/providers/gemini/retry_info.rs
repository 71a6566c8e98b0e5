//! Gemini's "retry later" hint: `google.rpc.RetryInfo.retryDelay` in the
//! error body, the one parser of it. [`GeminiFormat`](super::GeminiFormat)
//! adds it to the generic header hints; the OpenAI-compatible format reads
//! it too, since Google serves an OpenAI-compatible endpoint with the same
//! error details (and a Gemini stream's error event keeps them).

use std::time::Duration;

use serde_json::Value;

use crate::resilience::hints::parse_go_duration;

/// Bodies longer than this are not scanned: Google error envelopes are a few
/// KiB, and a large body is a real answer, not worth parsing for hints.
const MAX_BODY_SCAN: usize = 64 * 1024;

/// `RetryInfo.retryDelay` from a Google error body, `{"error": {"details":
/// [...]}}` or that wrapped in a top-level array; the longest if several.
/// Non-JSON or hint-less bodies give `None`.
pub fn retry_delay(body: &[u8]) -> Option<Duration> {
    if body.len() > MAX_BODY_SCAN || !body.windows(10).any(|w| w == b"retryDelay") {
        return None;
    }
    let json: Value = serde_json::from_slice(body).ok()?;
    let envelopes = match &json {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    envelopes
        .into_iter()
        .filter_map(|e| e.get("error")?.get("details")?.as_array())
        .flatten()
        .filter(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .filter_map(|d| parse_go_duration(d.get("retryDelay")?.as_str()?))
        .max()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    const GEMINI_429: &str = r#"{"error": {
  "code": 429,
  "message": "You exceeded your current quota, please check your plan and billing details.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: gemini-2.0-flash\nPlease retry in 38.365207569s.",
  "status": "RESOURCE_EXHAUSTED",
  "details": [
    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
      "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
      "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
      "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"}, "quotaValue": "10"}]},
    {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
      "description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}
  ]}}"#;

    #[test]
    fn gemini_bodies() {
        let wrapped = format!("[{GEMINI_429}]");
        let bad = r#"{"error":{"details":[
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"x"}]}}"#;
        let rounded = r#"{"error":{"details":[
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.2s"}]}}"#;
        #[rustfmt::skip]
        let cases: [(&str, &[u8], _); 7] = [
            ("object", GEMINI_429.as_bytes(), ms(38_000)),
            ("array", wrapped.as_bytes(), ms(38_000)),
            ("fraction", rounded.as_bytes(), ms(1_200)),
            ("html", b"<html>retryDelay 502 Bad Gateway</html>", None),
            ("no info", br#"{"error":{"code":429,"details":[]}}"#, None),
            ("bad delay", bad.as_bytes(), None), ("empty", b"", None),
        ];
        for (name, body, want) in cases {
            assert_eq!(retry_delay(body), want, "{name}");
        }
    }
}
