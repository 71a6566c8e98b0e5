//! How a leased attempt ended, and the usage it adds up to.

use serde::{Deserialize, Serialize};

use super::Failure;

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
    /// The attempt failed in a way that is the key's or provider's problem.
    Failed(Failure),
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

// === impl Outcome ===

impl Outcome {
    /// Whether this outcome makes a (key, model) state worth keeping: the
    /// provider served the model with the key, or blamed the key. A client
    /// error (a model that does not exist, a malformed request) or an
    /// abandoned attempt does not, so clients naming arbitrary models
    /// cannot make the pool keep state for each of them.
    pub fn earns_record(self) -> bool {
        match self {
            Outcome::Success { .. } | Outcome::Failed(_) | Outcome::Interrupted { .. } => true,
            Outcome::ClientError | Outcome::Abandoned => false,
        }
    }

    /// Prompt plus completion tokens, as the provider reported them.
    pub fn tokens(self) -> u64 {
        match self {
            Outcome::Success {
                prompt_tokens,
                completion_tokens,
            }
            | Outcome::Interrupted {
                prompt_tokens,
                completion_tokens,
            } => prompt_tokens.saturating_add(completion_tokens),
            Outcome::ClientError | Outcome::Failed(_) | Outcome::Abandoned => 0,
        }
    }
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
            Outcome::Failed(_) => {
                self.requests += 1;
                self.failures += 1;
            }
            Outcome::Abandoned => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::FailureKind;

    #[test]
    fn counters_record_each_outcome() {
        let mut c = Counters::default();
        c.record(Outcome::Success {
            prompt_tokens: 10,
            completion_tokens: 5,
        });
        c.record(Outcome::Failed(Failure::of(FailureKind::RateLimited)));
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
