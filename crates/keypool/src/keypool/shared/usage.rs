//! Usage into the shared state, exactly once: the pool counts as always,
//! and what it counted goes to Redis in numbered batches per provider
//! (`usage.lua`), one in flight at a time. A batch that failed is sent
//! again with the same number, and Redis applies a number once, so every
//! batch — replayed after an outage too — counts once. New usage goes into
//! the next batch. The provider's hourly history (see `keypool::history`)
//! rides in the same batches.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use actix::prelude::*;

use super::Replica;
use crate::keypool::state::KeyState;
use crate::keypool::KeyPool;
use crate::shared_state::{SharedState, UsageEntry};
use crate::store::HourCounts;
use crate::vocab::{Counters, Outcome};

/// How often a stopping replica sends a batch of its last usage that
/// got no answer (each try bounded by the operation timeout).
const LAST_USAGE_TRIES: usize = 5;

/// One provider's usage on its way to Redis.
#[derive(Default)]
pub(super) struct UsageQueue {
    /// Counted since the last batch, per (key position, model, period).
    pending: HashMap<(usize, String, i64), Counters>,
    /// History counted since the last batch, per hour.
    hours: BTreeMap<i64, HourCounts>,
    /// The batch being sent (again, after a failure).
    sending: Option<Batch>,
    /// Its call is under way.
    flying: bool,
    /// The last batch number used.
    last: u64,
}

impl UsageQueue {
    /// The usage counted since the last batch as the next numbered batch;
    /// `None` when nothing was counted.
    fn next_batch(&mut self) -> Option<Batch> {
        if self.pending.is_empty() && self.hours.is_empty() {
            return None;
        }
        self.last += 1;
        let entries = self
            .pending
            .drain()
            .map(|((index, model, period), counts)| (index, model, period, counts))
            .collect();
        Some(Batch {
            number: self.last,
            entries,
            hours: std::mem::take(&mut self.hours).into_iter().collect(),
        })
    }
}

struct Batch {
    number: u64,
    entries: Vec<(usize, String, i64, Counters)>,
    hours: Vec<(i64, HourCounts)>,
}

/// `a + b`, field by field.
pub(super) fn plus(a: Counters, b: Counters) -> Counters {
    Counters {
        requests: a.requests + b.requests,
        successes: a.successes + b.successes,
        failures: a.failures + b.failures,
        prompt_tokens: a.prompt_tokens + b.prompt_tokens,
        completion_tokens: a.completion_tokens + b.completion_tokens,
    }
}

/// `after - before`, field by field (never below zero).
pub(in crate::keypool) fn minus(after: Counters, before: Counters) -> Counters {
    Counters {
        requests: after.requests.saturating_sub(before.requests),
        successes: after.successes.saturating_sub(before.successes),
        failures: after.failures.saturating_sub(before.failures),
        prompt_tokens: after.prompt_tokens.saturating_sub(before.prompt_tokens),
        completion_tokens: after
            .completion_tokens
            .saturating_sub(before.completion_tokens),
    }
}

// === impl Replica: usage ===

impl Replica {
    /// Notes usage the pool just counted for key `index` of `provider`.
    pub(in crate::keypool) fn count(
        &mut self,
        provider: &str,
        index: usize,
        model: &str,
        period: i64,
        delta: Counters,
    ) {
        if delta == Counters::default() {
            return;
        }
        let queue = self.usage.entry(provider.to_string()).or_default();
        let entry = queue
            .pending
            .entry((index, model.to_string(), period))
            .or_default();
        *entry = plus(*entry, delta);
    }

    /// Notes an outcome of `provider` for its history hour `hour`.
    pub(in crate::keypool) fn count_hour(&mut self, provider: &str, hour: i64, outcome: Outcome) {
        let queue = match self.usage.get_mut(provider) {
            Some(queue) => queue,
            None => self.usage.entry(provider.to_string()).or_default(),
        };
        queue.hours.entry(hour).or_default().record(outcome);
    }

    /// History counted here and not yet applied in Redis, per hour.
    pub(super) fn unsent_hours(&self, provider: &str) -> BTreeMap<i64, HourCounts> {
        let mut out: BTreeMap<i64, HourCounts> = BTreeMap::new();
        let Some(queue) = self.usage.get(provider) else {
            return out;
        };
        let batch = queue.sending.iter().flat_map(|b| b.hours.iter().copied());
        let pending = queue.hours.iter().map(|(hour, counts)| (*hour, *counts));
        for (hour, counts) in batch.chain(pending) {
            out.entry(hour).or_default().add(counts);
        }
        out
    }

    /// Usage counted here and not yet applied in Redis, per (key position,
    /// model): for the reset period `period`, and in all.
    pub(super) fn unsent(
        &self,
        provider: &str,
        period: i64,
    ) -> HashMap<(usize, String), (Counters, Counters)> {
        let mut out: HashMap<(usize, String), (Counters, Counters)> = HashMap::new();
        let Some(queue) = self.usage.get(provider) else {
            return out;
        };
        let batch = queue.sending.iter().flat_map(|b| b.entries.iter());
        let pending = queue.pending.iter().map(|((i, m, p), c)| (i, m, p, c));
        for (index, model, at, counts) in batch.map(|(i, m, p, c)| (i, m, p, c)).chain(pending) {
            let entry = out.entry((*index, model.clone())).or_default();
            if *at == period {
                entry.0 = plus(entry.0, *counts);
            }
            entry.1 = plus(entry.1, *counts);
        }
        out
    }
}

// === impl KeyPool: usage batches ===

impl KeyPool {
    /// Sends each provider's next batch (or the failed one again), one in
    /// flight per provider, while Redis answers.
    pub(super) fn flush_usage(&mut self, ctx: &mut Context<Self>) {
        let Some(replica) = &mut self.shared else {
            return;
        };
        if !replica.state.is_up() {
            return;
        }
        for (provider, queue) in &mut replica.usage {
            if queue.flying {
                continue;
            }
            if queue.sending.is_none() {
                queue.sending = queue.next_batch();
            }
            let Some(batch) = &queue.sending else {
                continue;
            };
            let Some(keys) = self.providers.get(provider).map(|p| p.keys()) else {
                queue.sending = None;
                continue;
            };
            let entries = entries_of(&replica.state, keys, batch);
            let hours = batch.hours.clone();
            queue.flying = true;
            let (state, id, number) = (replica.state.clone(), replica.id.clone(), batch.number);
            let names = state.names(provider);
            let name = provider.clone();
            let send = async move {
                let scripts = state.scripts();
                let (names, id, batch) = (&names, &id, (&entries[..], &hours[..]));
                state
                    .run("usage", |mut conn| async move {
                        scripts.usage(&mut conn, names, id, number, batch).await
                    })
                    .await
                    .is_some()
            };
            ctx.spawn(
                actix::fut::wrap_future::<_, Self>(send).map(move |applied, pool, _| {
                    let Some(queue) = pool.shared.as_mut().and_then(|r| r.usage.get_mut(&name))
                    else {
                        return;
                    };
                    queue.flying = false;
                    if applied {
                        queue.sending = None;
                    }
                }),
            );
        }
    }
}

// === impl KeyPool: the last usage, at shutdown ===

impl KeyPool {
    /// At shutdown: each provider's usage not yet applied (the batch in
    /// flight, sent again with its number, then what is pending), as one
    /// future that sends it in order. `None` without shared state or while
    /// Redis does not answer.
    pub(in crate::keypool) fn last_usage(&mut self) -> Option<impl Future<Output = ()> + 'static> {
        // Tried even while degraded: the caller bounds the wait, and usage
        // not sent now is lost with the process.
        let replica = self.shared.as_mut()?;
        let mut calls = Vec::new();
        for (provider, queue) in &mut replica.usage {
            let Some(keys) = self.providers.get(provider).map(|p| p.keys()) else {
                continue;
            };
            let mut batches: Vec<Batch> = queue.sending.take().into_iter().collect();
            batches.extend(queue.next_batch());
            for batch in batches {
                let entries = entries_of(&replica.state, keys, &batch);
                calls.push((
                    replica.state.names(provider),
                    batch.number,
                    entries,
                    batch.hours,
                ));
            }
        }
        let (state, id) = (replica.state.clone(), replica.id.clone());
        Some(async move {
            let (scripts, id) = (state.scripts(), &id);
            for (names, number, entries, hours) in &calls {
                let batch = (&entries[..], &hours[..]);
                // A batch applies once, however often it is sent: an
                // operation timed out on a loaded machine is sent again.
                for _ in 0..LAST_USAGE_TRIES {
                    let sent = state
                        .run("usage", |mut conn| async move {
                            scripts.usage(&mut conn, names, id, *number, batch).await
                        })
                        .await;
                    if sent.is_some() {
                        break;
                    }
                }
            }
        })
    }
}

/// A batch's entries with their keys' Redis ids.
fn entries_of(state: &SharedState, keys: &[KeyState], batch: &Batch) -> Vec<UsageEntry> {
    batch
        .entries
        .iter()
        .filter_map(|(index, model, period, counts)| {
            let kid = state.key_id(&keys.get(*index)?.secret);
            Some((kid, model.clone(), *period, *counts))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Failure, FailureKind};

    #[test]
    fn history_alone_makes_a_batch_and_goes_in_one_batch_only() {
        let mut queue = UsageQueue::default();
        assert!(queue.next_batch().is_none());
        let limited = Outcome::Failed(Failure::of(FailureKind::RateLimited));
        queue.hours.entry(7).or_default().record(limited);
        let batch = queue.next_batch().unwrap();
        assert!(batch.entries.is_empty());
        let counts = HourCounts {
            requests: 1,
            failures: 1,
            rate_limited: 1,
        };
        assert_eq!(batch.hours, [(7, counts)]);
        assert!(queue.next_batch().is_none(), "counted once");
    }
}
