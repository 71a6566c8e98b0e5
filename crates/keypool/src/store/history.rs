//! The `history` tree: hourly counts per provider, for the status page's
//! chart. `<provider>\0<hour>` → [`HourCounts`], the hour as Unix seconds
//! of its start divided by 3600, in decimal. The pool bounds how many hours
//! it keeps (see `keypool::history`).

use serde::{Deserialize, Serialize};

use super::{load, save, Store};
use crate::vocab::Outcome;

/// What one provider's attempts came to in one hour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HourCounts {
    /// Attempts that reached the provider (whatever their outcome).
    pub requests: u64,
    /// Attempts that failed through the key or the provider, rate limits
    /// included.
    pub failures: u64,
    /// Of those, refusals for rate (429) or quota.
    pub rate_limited: u64,
}

// === impl HourCounts ===

impl HourCounts {
    /// Adds `other`, field by field.
    pub fn add(&mut self, other: HourCounts) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.rate_limited += other.rate_limited;
    }

    /// Counts one attempt, as `Counters::record` does.
    pub fn record(&mut self, outcome: Outcome) {
        use crate::vocab::FailureKind::{KeyRejected, Quota, RateLimited, Transient};
        match outcome {
            Outcome::Abandoned => {}
            Outcome::Success { .. } | Outcome::Interrupted { .. } | Outcome::ClientError => {
                self.requests += 1;
            }
            Outcome::Failed(failure) => {
                self.requests += 1;
                self.failures += 1;
                match failure.kind {
                    Quota | RateLimited => self.rate_limited += 1,
                    KeyRejected | Transient => {}
                }
            }
        }
    }
}

// === impl Store: history ===

impl Store {
    /// Every hourly bucket, as `(provider, hour, counts)`; unreadable ones
    /// are skipped with a warning.
    pub fn load_history(&self) -> Vec<((String, i64), HourCounts)> {
        load(&self.history, |parts| match parts {
            [provider, hour] => Some((provider.to_string(), hour.parse().ok()?)),
            _ => None,
        })
    }

    pub fn save_hour(&self, provider: &str, hour: i64, counts: &HourCounts) -> Result<(), String> {
        self.check()?;
        save(&self.history, format!("{provider}\0{hour}"), counts)
    }

    /// Deletes a bucket the pool no longer keeps.
    pub fn remove_hour(&self, provider: &str, hour: i64) -> Result<(), String> {
        self.check()?;
        self.history
            .remove(format!("{provider}\0{hour}").into_bytes())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Failure, FailureKind};

    #[test]
    fn an_hour_counts_requests_failures_and_rate_limits() {
        let mut hour = HourCounts::default();
        for outcome in [
            Outcome::Success {
                prompt_tokens: 1,
                completion_tokens: 1,
            },
            Outcome::ClientError,
            Outcome::Abandoned,
            Outcome::Failed(Failure::of(FailureKind::RateLimited)),
            Outcome::Failed(Failure::of(FailureKind::Quota)),
            Outcome::Failed(Failure::transient()),
        ] {
            hour.record(outcome);
        }
        let expected = HourCounts {
            requests: 5,
            failures: 3,
            rate_limited: 2,
        };
        assert_eq!(hour, expected);
    }

    #[test]
    fn buckets_round_trip_and_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let counts = HourCounts {
            requests: 3,
            failures: 1,
            rate_limited: 1,
        };
        {
            let store = Store::open(dir.path()).unwrap();
            store.save_hour("openai", 491_000, &counts).unwrap();
            store.save_hour("openai", 491_001, &counts).unwrap();
            store.remove_hour("openai", 491_000).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.load_history(),
            vec![(("openai".to_string(), 491_001), counts)]
        );
    }
}
