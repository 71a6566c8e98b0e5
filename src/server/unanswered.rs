//! What the client is told when a rotation ends without an answer: every
//! key rests, is busy, was tried, or the deadline passed. Each message
//! names the provider, the model and every key tried (masked) with why it
//! failed.

use std::time::Duration;

use crate::error::{retry_after_secs, ApiError};
use crate::keypool::{AcquireError, Rest, RestCause};
use crate::vocab::FailureKind;

/// The failed attempts of one request, for its final error message.
#[derive(Default)]
pub struct Failures {
    lines: Vec<String>,
    /// Keys that failed transiently; at the second, rotation stops.
    pub transient_keys: u32,
}

// === impl Failures ===

impl Failures {
    pub fn record(&mut self, masked: &str, kind: FailureKind, why: &str) {
        self.lines
            .push(format!("{masked} ({}: {why})", kind.as_str()));
        self.transient_keys += u32::from(kind == FailureKind::Transient);
    }

    fn describe(&self) -> String {
        self.lines.join(", ")
    }
}

/// Every key that is not resting is busy (a leg that may not wait).
pub fn busy(provider: &str, model: &str, failures: &Failures) -> ApiError {
    ApiError::NoAvailableKeys(format!(
        "every usable key of `{provider}` is busy with `{model}`{}",
        tried_so_far(failures)
    ))
}

/// The answer when no key could be had.
pub fn no_key(
    error: AcquireError,
    provider: &str,
    model: &str,
    timeout: Duration,
    failures: &Failures,
) -> ApiError {
    match error {
        AcquireError::Exhausted { rest: Some(rest) } | AcquireError::Resting(rest) => {
            resting(rest, provider, model, failures)
        }
        AcquireError::Exhausted { rest: None } => ApiError::NoAvailableKeys(format!(
            "no key of `{provider}` could serve `{model}`: {}. Check the keys in .env, or retry \
             later",
            if failures.lines.is_empty() {
                "the pool has no keys".to_string()
            } else {
                format!("every key failed: {}", failures.describe())
            }
        )),
        AcquireError::DeadlinePassed => deadline_passed(provider, model, timeout, failures),
        AcquireError::Disabled => ApiError::NoAvailableKeys(format!(
            "every key of `{provider}` is disabled, so none can serve `{model}`: enable one with \
             POST /v1/admin/keys/{{id}}/enable (the ids are in GET /v1/admin/keys), or add one \
             with POST /v1/admin/keys"
        )),
        AcquireError::UnknownProvider => {
            ApiError::NoAvailableKeys(format!("`{provider}` has no keys"))
        }
        AcquireError::PoolGone => ApiError::Unavailable("the key pool stopped"),
    }
}

/// Every key rests past the deadline: 429 only when they rest for rate
/// limits or quota (the client's to wait out); an outage or rejected keys
/// are a 503.
pub fn resting(rest: Rest, provider: &str, model: &str, failures: &Failures) -> ApiError {
    let Rest { retry_after, cause } = rest;
    let secs = retry_after_secs(retry_after);
    let tried = tried_so_far(failures);
    match cause {
        RestCause::RateLimited => ApiError::RateLimited {
            message: format!(
                "every key of `{provider}` is rate-limited or out of quota for `{model}`; the \
                 first is usable again in {secs}s{tried}"
            ),
            retry_after,
        },
        RestCause::Failing => ApiError::KeysResting {
            message: format!(
                "every key of `{provider}` rests for `{model}` after provider failures (5xx, \
                 timeouts, connection errors): every key failed, the provider looks down; the \
                 first key is usable again in {secs}s{tried}"
            ),
            retry_after,
        },
        RestCause::Locked => ApiError::NoAvailableKeys(format!(
            "every key of `{provider}` was rejected by the provider (401/403) and is locked out \
             for {secs}s: check the keys in .env{tried}"
        )),
    }
}

/// The same transient failure on two keys.
pub fn upstream_failed(provider: &str, model: &str, failures: &Failures) -> ApiError {
    ApiError::UpstreamFailed(format!(
        "`{provider}` failed this request for `{model}` on two keys ({}): the request or the \
         provider is at fault, not the keys, so no further key was tried. Check the request, or \
         retry later",
        failures.describe()
    ))
}

fn tried_so_far(failures: &Failures) -> String {
    if failures.lines.is_empty() {
        String::new()
    } else {
        format!(" (this request: {})", failures.describe())
    }
}

pub fn deadline_passed(
    provider: &str,
    model: &str,
    timeout: Duration,
    failures: &Failures,
) -> ApiError {
    let tried = if failures.lines.is_empty() {
        "every key stayed busy".to_string()
    } else {
        format!("failed attempts: {}", failures.describe())
    };
    ApiError::Timeout(format!(
        "no answer for `{provider}/{model}` within the global timeout of {}s ({tried}); raise \
         GLOBAL_TIMEOUT or MAX_CONCURRENT_REQUESTS_PER_KEY_{}, or add keys",
        timeout.as_secs_f64(),
        provider.to_ascii_uppercase()
    ))
}
