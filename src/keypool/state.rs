//! What the pool knows about each key: in-flight counts and usage per model.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
    /// The provider's lease sequence when the last rejection was recorded:
    /// a rejection of a lease taken at or before it ran alongside that one
    /// and does not lengthen the lockout again. Not persisted.
    pub rejected_at_seq: u64,
    /// Lockout state changed since the last write to the store.
    pub dirty: bool,
    /// Removed from the configuration by a reload: never leased again, hidden
    /// from reports, kept in place so positions of leases in flight stay
    /// valid.
    pub retired: bool,
    pub models: HashMap<String, ModelState>,
}

/// One key's state for one model. It exists while a lease for the model is
/// in flight, and stays (in memory and on disk) only once it is a record:
/// see [`Outcome::earns_record`].
#[derive(Debug, Default)]
pub struct ModelState {
    pub in_flight: u32,
    /// The provider answered for this model with this key (a success, a
    /// key-level failure, a stream cut short), or the state was loaded
    /// from the store. Only records are kept, reported and saved.
    pub recorded: bool,
    /// The pool's lease sequence number when this model was last leased;
    /// the least recently used records are evicted first.
    pub touched: u64,
    pub usage: Usage,
    /// Resting after failures: not used for this model until then.
    pub cooldown_until: Option<DateTime<Utc>>,
    /// The cooldown's end came from the provider (a hint), so the daily
    /// reset keeps it.
    pub hinted: bool,
    pub consecutive_failures: u32,
    pub last_failure: Option<FailureKind>,
    /// The provider's lease sequence when the last failure was recorded: a
    /// failure of a lease taken at or before it was in flight at the same
    /// time and is not another step of the ladder. Not persisted.
    pub failed_at_seq: u64,
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

// === impl Outcome ===

impl Outcome {
    /// Whether this outcome makes a (key, model) state worth keeping: the
    /// provider served the model with the key, or blamed the key. A client
    /// error (a model that does not exist, a malformed request) or an
    /// abandoned attempt does not, so clients naming arbitrary models
    /// cannot make the pool keep state for each of them.
    pub fn earns_record(self) -> bool {
        match self {
            Outcome::Success { .. } | Outcome::Failure { .. } | Outcome::Interrupted { .. } => true,
            Outcome::ClientError | Outcome::Abandoned => false,
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
            rejected_at_seq: 0,
            dirty: false,
            retired: false,
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
