//! The hop mark. Every upstream call carries `x-llm-key-proxy-hop: <id>`,
//! an id drawn once per process. A request that arrives carrying this
//! process's own id was sent by the proxy to itself — a provider whose base
//! URL points back at the proxy — and is refused at once with `508
//! loop_detected` instead of recursing (see `ApiError::LoopDetected`).

use std::sync::LazyLock;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

/// The header that marks the proxy's own upstream calls.
pub const HOP_HEADER: HeaderName = HeaderName::from_static("x-llm-key-proxy-hop");

/// This process's id: random, so two proxies chained on purpose (a proxy
/// in front of another one) do not take each other for a loop. Built once;
/// a call clones it (a reference count, no formatting per request).
static HOP_ID: LazyLock<HeaderValue> = LazyLock::new(|| {
    let id = uuid::Uuid::new_v4().simple().to_string();
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("llm-key-proxy"))
});

/// The value every upstream call of this process carries in [`HOP_HEADER`].
pub fn mark() -> HeaderValue {
    HOP_ID.clone()
}

/// Whether a request carries this process's own mark: it came from here.
pub fn is_own(headers: &HeaderMap) -> bool {
    headers.get_all(HOP_HEADER).any(|v| v == *HOP_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_mark_is_a_loop() {
        let mut headers = HeaderMap::new();
        assert!(!is_own(&headers));
        headers.insert(HOP_HEADER, HeaderValue::from_static("another-proxy"));
        assert!(
            !is_own(&headers),
            "another proxy's mark is a chain, not a loop"
        );
        headers.append(HOP_HEADER, mark());
        assert!(is_own(&headers));
        assert_eq!(mark(), mark(), "one id per process");
        assert_eq!(mark().len(), 32);
    }
}
