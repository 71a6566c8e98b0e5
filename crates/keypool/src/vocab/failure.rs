//! Why an upstream attempt failed, in one shape from the classifier to the
//! key pool.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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

/// A failure that is the key's or the provider's problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// How long the provider asked us to wait, if it said.
    pub hint: Option<Duration>,
}

/// The verdict on one upstream attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: use the answer.
    Success,
    /// The provider refused the request itself (or the call looped back
    /// into a proxy): return its answer after this one attempt, with no
    /// penalty to the key.
    ClientError,
    /// The key or the provider failed.
    Failed(Failure),
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

    /// Whether the same key may be tried again (after a backoff) before
    /// rotating. Only transient faults are worth it.
    pub fn retry_same_key(self) -> bool {
        match self {
            FailureKind::Transient => true,
            FailureKind::KeyRejected | FailureKind::Quota | FailureKind::RateLimited => false,
        }
    }
}

// === impl Failure ===

impl Failure {
    /// A failure of `kind` with no wait asked for.
    pub fn of(kind: FailureKind) -> Failure {
        Failure { kind, hint: None }
    }

    /// A transient fault without a hint: what anything unexpected counts as.
    pub fn transient() -> Failure {
        Failure::of(FailureKind::Transient)
    }
}
