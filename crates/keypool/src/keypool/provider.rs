//! One provider's keys, the index that ranks them per model, and the
//! requests waiting for them.
//!
//! Every change to a key goes through this type, which keeps the [`Index`]
//! in step: a lease or an outcome refreshes the one key, and
//! [`ProviderPool::keys_mut`] (for changes to many keys) drops the index.

use std::collections::{HashMap, VecDeque};

use actix::Addr;
use chrono::{DateTime, Utc};

use super::health::LeaseSpan;
use super::index::Index;
use super::records::MAX_RECORDS_PER_KEY;
use super::select::Later;
use super::state::KeyState;
use super::touched::Touched;
use super::{KeyPool, Lease, Waiter, Wake};
use crate::resilience::limits::{Caps, LimitRules, Span};
use crate::resilience::schedule::DailySchedule;
use crate::secret::{KeyId, Secret};
use crate::shared_state::{local_time, Health, Refusal};
use crate::vocab::{Counters, Outcome};

/// The keys of one provider and the requests waiting for them.
pub(super) struct ProviderPool {
    /// Requests in flight per (key, model); `None` = unlimited.
    limit: Option<u32>,
    keys: Vec<KeyState>,
    index: Index,
    /// Per model, the requests waiting for a key, oldest first.
    pub(super) waiters: HashMap<String, VecDeque<Waiter>>,
    /// Source of `KeyState::last_used` values.
    seq: u64,
    /// Records evicted from memory (past [`MAX_RECORDS_PER_KEY`]), to
    /// delete from the store on its next write.
    pub(super) evicted: Vec<(KeyId, String)>,
    /// Per-(key, model) caps, and when the provider's days begin.
    limits: LimitRules,
    days: DailySchedule,
    /// The key the next capped write-behind starts at (see
    /// `KeyPool::write_behind`), so that every key's changes get their turn.
    pub(super) write_from: usize,
    /// The keys that may have changes to write: every mutable access to a
    /// key marks it, once the key is found (a position from a message is
    /// never taken on trust: the bitset grows to the largest one marked).
    touched: Touched,
}

// === impl ProviderPool ===

impl ProviderPool {
    pub(super) fn new(limit: Option<u32>, keys: Vec<KeyState>) -> ProviderPool {
        ProviderPool {
            limit,
            keys,
            index: Index::default(),
            waiters: HashMap::new(),
            seq: 0,
            evicted: Vec::new(),
            limits: LimitRules::default(),
            days: DailySchedule::default(),
            write_from: 0,
            touched: Touched::all(),
        }
    }

    /// Sets the caps and the provider's days, and rests (or frees) every
    /// key as its counts stand under them.
    pub(super) fn set_limits(
        &mut self,
        limits: LimitRules,
        days: DailySchedule,
        now: DateTime<Utc>,
    ) {
        if self.limits == limits && self.days == days {
            return;
        }
        self.limits = limits;
        self.days = days;
        self.recap_all(now);
    }

    /// Rests (or frees) every key as its counts stand under the limits:
    /// after they change, and after counts are loaded.
    pub(super) fn recap_all(&mut self, now: DateTime<Utc>) {
        if self.limits.is_empty()
            && !self
                .keys
                .iter()
                .any(|k| k.models.values().any(|m| m.capped_until.is_some()))
        {
            return;
        }
        let span = Span::at(now, &self.days);
        self.touched.mark_all();
        for key in &mut self.keys {
            for (model, state) in &mut key.models {
                let caps = self.limits.caps(model);
                state.capped_until = state.windows.capped_until(&caps, &span);
            }
        }
        self.index.clear();
    }

    /// The caps of `model`, and where their windows stand at `now`.
    pub(super) fn caps(&self, model: &str, now: DateTime<Utc>) -> Option<(Caps, Span)> {
        if self.limits.is_empty() {
            return None;
        }
        let caps = self.limits.caps(model);
        (!caps.is_none()).then(|| (caps, Span::at(now, &self.days)))
    }

    /// Models the index holds now (for tests of its bound).
    #[cfg(test)]
    pub(super) fn indexed_models(&self) -> usize {
        self.index.models()
    }

    pub(super) fn keys(&self) -> &[KeyState] {
        &self.keys
    }

    /// The keys, to change many at once (a reset, a reload, loading saved
    /// state): the index is rebuilt afterwards.
    pub(super) fn keys_mut(&mut self) -> &mut Vec<KeyState> {
        self.index.clear();
        self.touched.mark_all();
        &mut self.keys
    }

    /// The keys, to update bookkeeping that never changes which key is
    /// picked (the `dirty` flags). The index is kept.
    pub(super) fn keys_for_bookkeeping(&mut self) -> &mut [KeyState] {
        self.touched.mark_all();
        &mut self.keys
    }

    /// The next key after `from` (round to the start) that may have
    /// changes to write, no longer marked: the caller takes them all.
    pub(super) fn next_touched(&mut self, from: usize) -> Option<(usize, &mut KeyState)> {
        let index = self.touched.take_from(from, self.keys.len())?;
        Some((index, self.keys.get_mut(index)?))
    }

    /// Requests in flight per (key, model); `None` = unlimited.
    pub(super) fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// Key `index`'s lifetime usage of `model` (zero if none).
    pub(super) fn lifetime(&self, index: usize, model: &str) -> Counters {
        self.keys
            .get(index)
            .and_then(|k| k.models.get(model))
            .map_or(Counters::default(), |m| m.usage.lifetime)
    }

    /// The number of the latest lease handed out.
    pub(super) fn latest_seq(&self) -> u64 {
        self.seq
    }

    /// Takes key `index`'s health for `model` as the shared state has it
    /// after an outcome (times on Redis's clock, read at `now`).
    pub(super) fn adopt(&mut self, index: usize, model: &str, health: &Health, now: DateTime<Utc>) {
        let Some(key) = self.keys.get_mut(index) else {
            return;
        };
        self.touched.mark(index);
        key.locked_until = local_time(now, health.now, health.locked_until);
        key.lockouts = health.lockouts;
        key.dirty = true;
        if let Some(state) = key.models.get_mut(model) {
            state.cooldown_until = local_time(now, health.now, health.cooldown_until);
            state.consecutive_failures = health.failures;
            state.dirty = true;
        }
        self.index.refresh(&self.keys, index, self.limit, now);
    }

    /// Merges why the shared state refused keys (their positions) for
    /// `model` into the local view: rests only lengthen (`max`).
    pub(super) fn merge_rests(
        &mut self,
        model: &str,
        rests: &[(usize, Refusal)],
        redis_now: i64,
        now: DateTime<Utc>,
    ) {
        for (index, refusal) in rests {
            let Some(key) = self.keys.get_mut(*index) else {
                continue;
            };
            self.touched.mark(*index);
            match refusal {
                // Disabled on another replica: learnt here at once.
                Refusal::Disabled => key.disabled = true,
                Refusal::Locked { until } => {
                    if let Some(at) = local_time(now, redis_now, *until) {
                        key.locked_until = Some(key.locked_until.map_or(at, |old| old.max(at)));
                    }
                }
                Refusal::Cooling { until, cause } => {
                    if let Some(at) = local_time(now, redis_now, *until) {
                        let state = key.model_mut(model);
                        state.recorded = true;
                        state.cooldown_until = Some(state.cooldown_until.map_or(at, |o| o.max(at)));
                        if cause.is_some() {
                            state.last_failure = *cause;
                        }
                    }
                }
                Refusal::Capped { until } => {
                    if let Some(at) = local_time(now, redis_now, *until) {
                        let state = key.model_mut(model);
                        state.capped_until = Some(state.capped_until.map_or(at, |o| o.max(at)));
                    }
                }
                Refusal::Full | Refusal::Free => continue,
            }
            self.index.refresh(&self.keys, *index, self.limit, now);
        }
    }

    pub(super) fn set_limit(&mut self, limit: Option<u32>) {
        if self.limit != limit {
            self.limit = limit;
            self.index.clear();
        }
    }

    /// The best free key for `model` not in `exclude` (see
    /// [`super::select::pick`]).
    pub(super) fn pick(
        &mut self,
        model: &str,
        exclude: &[usize],
        now: DateTime<Utc>,
    ) -> Option<usize> {
        self.index.pick(&self.keys, model, self.limit, exclude, now)
    }

    /// Whether key `index` could serve `model` now: not retired, resting
    /// or at its limit for the model.
    pub(super) fn ready_now(&self, index: usize, model: &str, now: DateTime<Utc>) -> bool {
        self.keys.get(index).is_some_and(|key| {
            matches!(
                super::select::standing(key, index, model, self.limit, now),
                super::select::Standing::Ready(_)
            )
        })
    }

    /// What waiting would bring (see [`super::select::later`]).
    pub(super) fn later(
        &mut self,
        model: &str,
        exclude: &[usize],
        now: DateTime<Utc>,
    ) -> Option<Later> {
        self.index
            .later(&self.keys, model, self.limit, exclude, now)
    }

    /// Marks key `index` busy with `model`; its secret, to send upstream,
    /// and the lease's number in the sequence.
    pub(super) fn take(
        &mut self,
        index: usize,
        model: &str,
        tokens: u64,
        now: DateTime<Utc>,
    ) -> Option<(Secret, u64)> {
        let capped = self.caps(model, now);
        self.seq += 1;
        let key = self.keys.get_mut(index)?;
        self.touched.mark(index);
        key.in_flight += 1;
        key.last_used = self.seq;
        let state = match key.models.get_mut(model) {
            Some(state) => state,
            None => key.model_mut(model),
        };
        state.in_flight += 1;
        state.touched = self.seq;
        if let Some((caps, span)) = capped {
            // The call counts now, so no other request can pass the cap.
            state.windows.request(&span, tokens);
            state.capped_until = state.windows.capped_until(&caps, &span);
            state.recorded = true;
            state.dirty = true;
        }
        let secret = key.secret.clone();
        self.index.refresh(&self.keys, index, self.limit, now);
        Some((secret, self.seq))
    }

    /// Marks key `index` busy with `model` and hands out its lease.
    pub(super) fn lease(
        &mut self,
        provider: &str,
        index: usize,
        model: &str,
        tokens: u64,
        pool: Addr<KeyPool>,
        now: DateTime<Utc>,
    ) -> Option<Lease> {
        let (secret, seq) = self.take(index, model, tokens, now)?;
        Some(Lease::new(pool, provider, model, index, secret, seq).reserving(tokens))
    }

    /// Ends one attempt on key `index`, leased as number `taken`: releases
    /// it, applies the outcome to its health and counts it. An outcome that
    /// earns no record (see [`Outcome::earns_record`]) on a model the key
    /// has no record of only releases the key: the lease's in-flight state
    /// goes with it.
    pub(super) fn finish(
        &mut self,
        index: usize,
        model: &str,
        outcome: Outcome,
        (taken, reserved): (u64, u64),
        now: DateTime<Utc>,
        next_reset: DateTime<Utc>,
    ) {
        let capped = self.caps(model, now);
        let Some(key) = self.keys.get_mut(index) else {
            return;
        };
        self.touched.mark(index);
        key.in_flight = key.in_flight.saturating_sub(1);
        let recorded = key.models.get(model).is_some_and(|m| m.recorded);
        if !recorded && !outcome.earns_record() {
            if let Some(state) = key.models.get_mut(model) {
                state.in_flight = state.in_flight.saturating_sub(1);
                if state.in_flight == 0 {
                    key.models.remove(model);
                }
            }
            self.index.refresh(&self.keys, index, self.limit, now);
            return;
        }
        let span = LeaseSpan {
            taken,
            latest: self.seq,
        };
        key.apply(model, outcome, span, now, next_reset);
        let state = match key.models.get_mut(model) {
            Some(state) => state,
            None => key.model_mut(model),
        };
        state.in_flight = state.in_flight.saturating_sub(1);
        state.recorded = true;
        state.usage.daily.record(outcome);
        state.usage.lifetime.record(outcome);
        state.dirty |= outcome != Outcome::Abandoned;
        if let Some((caps, span)) = capped.filter(|(caps, _)| caps.tpm.is_some()) {
            state.windows.tokens(&span, reserved, outcome.tokens());
            state.capped_until = state.windows.capped_until(&caps, &span);
            state.dirty = true;
        }
        if !recorded {
            self.bound_records(index, model, now);
        }
        self.index.refresh(&self.keys, index, self.limit, now);
    }

    /// Counts an attempt in key `index`'s usage, nothing else: it stays
    /// leased, its health unchanged. Failures are not part of a key's
    /// rank, so the index needs no refresh, unless the attempt (another
    /// call to the provider) reached a limit.
    pub(super) fn count(
        &mut self,
        index: usize,
        model: &str,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) {
        let capped = self.caps(model, now);
        let Some(key) = self.keys.get_mut(index) else {
            return;
        };
        self.touched.mark(index);
        let recorded = key.models.get(model).is_some_and(|m| m.recorded);
        if !recorded && !outcome.earns_record() {
            return;
        }
        let state = key.model_mut(model);
        state.recorded = true;
        state.usage.daily.record(outcome);
        state.usage.lifetime.record(outcome);
        state.dirty = true;
        if let Some((caps, span)) = capped {
            state.windows.request(&span, 0);
            state.capped_until = state.windows.capped_until(&caps, &span);
            self.index.refresh(&self.keys, index, self.limit, now);
        }
        if !recorded {
            self.bound_records(index, model, now);
        }
    }

    /// Evicts key `index`'s records past [`MAX_RECORDS_PER_KEY`] (never
    /// `keep`), noting them for deletion from the store.
    fn bound_records(&mut self, index: usize, keep: &str, now: DateTime<Utc>) {
        let Some(key) = self.keys.get_mut(index) else {
            return;
        };
        self.touched.mark(index);
        if key.models.len() <= MAX_RECORDS_PER_KEY {
            return;
        }
        for model in key.evict_beyond(MAX_RECORDS_PER_KEY, keep, now) {
            self.evicted.push((key.id.clone(), model));
        }
    }

    /// Applies the bound to every key (after loading saved state, which
    /// an older release may have let grow).
    pub(super) fn bound_all_records(&mut self, now: DateTime<Utc>) {
        self.index.clear();
        self.touched.mark_all();
        for key in &mut self.keys {
            for model in key.evict_beyond(MAX_RECORDS_PER_KEY, "", now) {
                self.evicted.push((key.id.clone(), model));
            }
        }
    }

    /// Hands free keys to waiting requests for `model`, oldest first. A
    /// waiter whose excluded keys are the only free ones is skipped, not
    /// blocking those behind it. `pool` gives the pool's address for each
    /// lease: an address costs two allocations, made only for a waiter.
    pub(super) fn serve_waiters(
        &mut self,
        provider: &str,
        model: &str,
        pool: impl Fn() -> Addr<KeyPool>,
        now: DateTime<Utc>,
    ) {
        let Some(mut queue) = self.waiters.remove(model) else {
            return;
        };
        let mut i = 0;
        while i < queue.len() {
            if queue[i].tx.is_closed() {
                queue.remove(i);
                continue;
            }
            let Some(index) = self.pick(model, &queue[i].exclude, now) else {
                i += 1;
                continue;
            };
            let Some(waiter) = queue.remove(i) else { break };
            let tokens = waiter.tokens;
            let tx = match waiter.tx {
                Wake::Lease(tx) => tx,
                Wake::Retry(tx) => {
                    // The shared state decides: one waiter tries the key the
                    // local view believes free.
                    let _ = tx.send(());
                    break;
                }
            };
            let Some(lease) = self.lease(provider, index, model, tokens, pool(), now) else {
                break;
            };
            if let Err(lease) = tx.send(lease) {
                // The request gave up just now; take the key back.
                lease.disarm();
                let taken = (self.seq, tokens);
                self.finish(index, model, Outcome::Abandoned, taken, now, now);
            }
        }
        if !queue.is_empty() {
            self.waiters.insert(model.to_string(), queue);
        }
    }
}
