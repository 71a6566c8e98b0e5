//! Hourly history per provider: requests, failures and rate limits in each
//! of the last [`HISTORY_HOURS`] hours, for the status page's chart.
//!
//! Counted where the pool counts usage (each reported outcome), as one
//! counter increment; written behind with usage, never synced per request.
//! Older buckets are dropped, from memory and from the store, when the hour
//! turns. In Redis mode the pool has no store: the counts also ride in the
//! usage batches (`shared::usage`) into per-hour hashes that expire, which
//! the reports read back; the replica's own buckets, in memory, are shown
//! while Redis does not answer.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::writer::Change;
use super::KeyPool;
use crate::store::{HourCounts, Store};
use crate::vocab::Outcome;

/// Hours of history kept: the chart shows 24, the rest covers a day seen
/// from any time zone and a proxy down for a while.
pub const HISTORY_HOURS: i64 = 48;

const SECONDS_PER_HOUR: i64 = 3600;

/// One hour of one provider, as operators see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourReport {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: HourCounts,
}

/// The buckets of every provider.
#[derive(Default)]
pub(super) struct History {
    /// Provider → hour (Unix hours) → counts and whether they changed
    /// since the last write.
    buckets: HashMap<String, BTreeMap<i64, (HourCounts, bool)>>,
    /// Buckets dropped from memory, still to delete from the store.
    pruned: Vec<(String, i64)>,
    /// The newest hour counted: the window ends there.
    newest: i64,
}

// === impl HourReport ===

impl HourReport {
    /// Hour `hour` (since the Unix epoch) with `counts`.
    pub(super) fn of(hour: i64, counts: HourCounts) -> Option<HourReport> {
        Some(HourReport {
            hour: DateTime::from_timestamp(hour.checked_mul(SECONDS_PER_HOUR)?, 0)?,
            counts,
        })
    }
}

// === impl History ===

impl History {
    /// The buckets saved in `store` that are still inside the window.
    pub(super) fn loaded(store: Option<&Store>, now: DateTime<Utc>) -> History {
        let mut history = History {
            newest: hour_of(now),
            ..History::default()
        };
        for ((provider, hour), counts) in store.map(Store::load_history).unwrap_or_default() {
            let buckets = history.buckets.entry(provider.clone()).or_default();
            buckets.insert(hour, (counts, false));
            if hour > history.newest {
                history.newest = hour;
            }
        }
        history.prune();
        history
    }

    /// Counts one outcome of `provider` at `now`; gives the hour it went
    /// into, if any.
    pub(super) fn record(
        &mut self,
        provider: &str,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Option<i64> {
        if outcome == Outcome::Abandoned {
            return None;
        }
        let hour = hour_of(now);
        if hour > self.newest {
            self.newest = hour;
            self.prune();
        }
        if hour <= self.newest - HISTORY_HOURS {
            return None;
        }
        let buckets = match self.buckets.get_mut(provider) {
            Some(buckets) => buckets,
            None => self.buckets.entry(provider.to_string()).or_default(),
        };
        let (counts, dirty) = buckets.entry(hour).or_default();
        counts.record(outcome);
        *dirty = true;
        Some(hour)
    }

    /// Drops the buckets that left the window.
    fn prune(&mut self) {
        let oldest = self.newest - HISTORY_HOURS + 1;
        for (provider, buckets) in &mut self.buckets {
            let kept = buckets.split_off(&oldest);
            for hour in std::mem::replace(buckets, kept).into_keys() {
                self.pruned.push((provider.clone(), hour));
            }
        }
        self.buckets.retain(|_, buckets| !buckets.is_empty());
    }

    /// The hours changed since the last call, and the pruned ones to
    /// delete, for the store (see `writer`); marked saved.
    pub(super) fn take_changes(&mut self, changes: &mut Vec<Change>) {
        for (provider, hour) in self.pruned.drain(..) {
            changes.push(Change::HourPruned { provider, hour });
        }
        for (provider, buckets) in &mut self.buckets {
            for (hour, (counts, dirty)) in buckets.iter_mut().filter(|(_, (_, d))| *d) {
                *dirty = false;
                changes.push(Change::Hour {
                    provider: provider.clone(),
                    hour: *hour,
                    counts: *counts,
                });
            }
        }
    }

    pub(super) fn forget_pruned(&mut self) {
        self.pruned.clear();
    }

    /// Marks every bucket changed (the store was opened anew).
    pub(super) fn mark_all_dirty(&mut self) {
        for (_, dirty) in self.buckets.values_mut().flat_map(BTreeMap::values_mut) {
            *dirty = true;
        }
    }

    /// Every provider's buckets, oldest first; hours without attempts are
    /// left out.
    pub(super) fn report(&self) -> BTreeMap<String, Vec<HourReport>> {
        self.buckets
            .iter()
            .map(|(provider, buckets)| {
                let hours = buckets
                    .iter()
                    .filter_map(|(hour, (counts, _))| HourReport::of(*hour, *counts))
                    .collect();
                (provider.clone(), hours)
            })
            .collect()
    }
}

// === impl KeyPool: history ===

impl KeyPool {
    /// Counts an outcome of `provider` in its history, here and, with
    /// shared state, in the next usage batch.
    pub(super) fn count_history(&mut self, provider: &str, outcome: Outcome, now: DateTime<Utc>) {
        let hour = self.history.record(provider, outcome, now);
        if let (Some(hour), Some(replica)) = (hour, &mut self.shared) {
            replica.count_hour(provider, hour, outcome);
        }
    }
}

/// The hour `t` falls in, counted from the Unix epoch.
pub(super) fn hour_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(SECONDS_PER_HOUR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Failure, FailureKind};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    const OK: Outcome = Outcome::Success {
        prompt_tokens: 0,
        completion_tokens: 0,
    };

    #[test]
    fn outcomes_land_in_their_hour_and_provider() {
        let mut history = History::loaded(None, at("2026-12-04T10:00:00Z"));
        history.record("openai", OK, at("2026-12-04T10:59:59Z"));
        let limited = Outcome::Failed(Failure::of(FailureKind::RateLimited));
        history.record("openai", limited, at("2026-12-04T11:00:00Z"));
        history.record("gemini", OK, at("2026-12-04T11:30:00Z"));
        history.record("gemini", Outcome::Abandoned, at("2026-12-04T11:30:00Z"));
        let report = history.report();
        let openai = &report["openai"];
        assert_eq!(openai.len(), 2);
        assert_eq!(openai[0].hour, at("2026-12-04T10:00:00Z"));
        assert_eq!(openai[0].counts.requests, 1);
        assert_eq!(openai[1].hour, at("2026-12-04T11:00:00Z"));
        assert_eq!(openai[1].counts.rate_limited, 1);
        assert_eq!(report["gemini"][0].counts.requests, 1);
        let json = serde_json::to_value(&openai[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"hour": "2026-12-04T11:00:00Z", "requests": 1,
                "failures": 1, "rate_limited": 1})
        );
    }

    /// Writes what changed, as the writer thread would: how many changes.
    fn save(history: &mut History, store: &Store) -> usize {
        let mut changes = Vec::new();
        history.take_changes(&mut changes);
        let n = changes.len();
        let batch = crate::keypool::writer::Batch {
            store: store.clone(),
            epoch: 0,
            changes,
        };
        crate::keypool::writer::apply(&batch).unwrap();
        n
    }

    #[test]
    fn hours_older_than_the_window_are_dropped_from_memory_and_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let start = at("2026-12-01T00:30:00Z");
        let mut history = History::loaded(Some(&store), start);
        history.record("openai", OK, start);
        history.record("openai", OK, at("2026-12-01T01:30:00Z"));
        assert!(save(&mut history, &store) > 0);
        assert_eq!(save(&mut history, &store), 0, "nothing changed since");
        // 48 hours after the first hour, it leaves the window.
        history.record("openai", OK, at("2026-12-03T00:00:00Z"));
        // A late report of an hour outside the window is not counted.
        history.record("openai", OK, start);
        let hours: Vec<_> = history.report()["openai"].iter().map(|h| h.hour).collect();
        assert_eq!(
            hours,
            [at("2026-12-01T01:00:00Z"), at("2026-12-03T00:00:00Z")]
        );
        save(&mut history, &store);
        store.flush().unwrap();
        let reloaded = History::loaded(Some(&store), at("2026-12-03T00:10:00Z"));
        assert_eq!(reloaded.report(), history.report());
        // Loaded two days later, every bucket is too old.
        let later = History::loaded(Some(&store), at("2026-12-05T01:00:00Z"));
        assert!(later.report().is_empty());
    }
}
