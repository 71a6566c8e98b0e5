//! The keys of one provider sorted for each model, so choosing a key costs
//! O(log n) instead of a scan of every key.
//!
//! For each model asked for, the index keeps every key's [`Standing`]: the
//! free keys ordered by [`Rank`], the resting ones ordered by when they come
//! back, and the full ones. It is a cache of [`select::standing`] over the
//! keys, so it must hear of every change: [`Index::refresh`] after one key
//! changed, [`Index::clear`] after many did. [`select::pick`] and
//! [`select::later`] are the definitions it answers like; a randomized test
//! checks that it does.
//!
//! Time only ever frees keys: a resting key is moved back when its time has
//! come, on the next question about its model.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::select::{self, Later, Rank, RestCause, Standing};
use super::state::KeyState;

/// Entries (keys × models) the index may hold. Past it (or past
/// [`MAX_MODELS`]), the index of every model is dropped and rebuilt as
/// models are asked for again, so a client naming thousands of models
/// cannot make it grow without bound.
const MAX_ENTRIES: usize = 4_000_000;

/// Models indexed at once. Every lease refreshes its key in each model's
/// index, so many distinct model names must not make leases slow either.
const MAX_MODELS: usize = 256;

/// The sorted keys of one provider, per model.
#[derive(Debug, Default)]
pub struct Index {
    models: HashMap<String, ModelIndex>,
}

/// The keys sorted for one model.
#[derive(Debug)]
struct ModelIndex {
    /// Where each key (by position) stands.
    standings: Vec<Standing>,
    ready: BTreeSet<Rank>,
    resting: BTreeSet<(DateTime<Utc>, usize)>,
    full: BTreeSet<usize>,
}

// === impl Index ===

impl Index {
    /// The best key for `model` not in `exclude`, as [`select::pick`]
    /// would choose it.
    pub fn pick(
        &mut self,
        keys: &[KeyState],
        model: &str,
        limit: Option<u32>,
        exclude: &[usize],
        now: DateTime<Utc>,
    ) -> Option<usize> {
        let index = self.model(keys, model, limit, now)?;
        index
            .ready
            .iter()
            .map(|rank| rank.index)
            .find(|i| !exclude.contains(i))
    }

    /// What waiting would bring when no key is free, as [`select::later`]
    /// would answer.
    pub fn later(
        &mut self,
        keys: &[KeyState],
        model: &str,
        limit: Option<u32>,
        exclude: &[usize],
        now: DateTime<Utc>,
    ) -> Option<Later> {
        let index = self.model(keys, model, limit, now)?;
        let open = |i: &usize| !exclude.contains(i);
        let soonest = index.resting.iter().find(|(_, i)| open(i)).map(|&(t, _)| t);
        if index.ready.iter().map(|r| r.index).any(|i| open(&i)) || index.full.iter().any(open) {
            return Some(Later::Busy { rest_ends: soonest });
        }
        let until = soonest?;
        let cause = index
            .resting
            .iter()
            .filter(|(_, i)| open(i))
            .filter_map(|&(_, i)| keys.get(i))
            .fold(RestCause::Locked, |cause, key| {
                cause.and(RestCause::of(key, model, now))
            });
        Some(Later::Resting { until, cause })
    }

    /// Takes note that the key at `index` changed.
    pub fn refresh(
        &mut self,
        keys: &[KeyState],
        index: usize,
        limit: Option<u32>,
        now: DateTime<Utc>,
    ) {
        let Some(key) = keys.get(index) else { return };
        for (model, entry) in &mut self.models {
            entry.set(index, select::standing(key, index, model, limit, now));
        }
    }

    /// Models indexed now.
    #[cfg(test)]
    pub fn models(&self) -> usize {
        self.models.len()
    }

    /// Forgets everything; models are sorted again when next asked for.
    pub fn clear(&mut self) {
        self.models.clear();
    }

    /// The index of `model`, built if new, with keys whose rest has ended
    /// moved back. (Always `Some`.)
    fn model(
        &mut self,
        keys: &[KeyState],
        model: &str,
        limit: Option<u32>,
        now: DateTime<Utc>,
    ) -> Option<&mut ModelIndex> {
        if !self.models.contains_key(model) {
            let entries = (self.models.len() + 1).saturating_mul(keys.len());
            if self.models.len() >= MAX_MODELS || entries > MAX_ENTRIES {
                self.models.clear();
            }
            let built = ModelIndex::build(keys, model, limit, now);
            self.models.insert(model.to_owned(), built);
        }
        let entry = self.models.get_mut(model)?;
        entry.wake(keys, model, limit, now);
        Some(entry)
    }
}

// === impl ModelIndex ===

impl ModelIndex {
    fn build(keys: &[KeyState], model: &str, limit: Option<u32>, now: DateTime<Utc>) -> ModelIndex {
        let mut index = ModelIndex {
            standings: vec![Standing::Retired; keys.len()],
            ready: BTreeSet::new(),
            resting: BTreeSet::new(),
            full: BTreeSet::new(),
        };
        for (i, key) in keys.iter().enumerate() {
            index.set(i, select::standing(key, i, model, limit, now));
        }
        index
    }

    /// Moves keys whose rest ended by `now` to where they stand now.
    fn wake(&mut self, keys: &[KeyState], model: &str, limit: Option<u32>, now: DateTime<Utc>) {
        while let Some(&(until, i)) = self.resting.first() {
            if until > now {
                break;
            }
            // Out first, so the loop always advances: a key that still
            // rests comes back with an end after `now`.
            self.set(i, Standing::Retired);
            if let Some(key) = keys.get(i) {
                self.set(i, select::standing(key, i, model, limit, now));
            }
        }
    }

    fn set(&mut self, i: usize, new: Standing) {
        let Some(slot) = self.standings.get_mut(i) else {
            return;
        };
        let old = std::mem::replace(slot, new);
        if old == new {
            return;
        }
        match old {
            Standing::Retired => {}
            Standing::Full => {
                self.full.remove(&i);
            }
            Standing::Resting(until) => {
                self.resting.remove(&(until, i));
            }
            Standing::Ready(rank) => {
                self.ready.remove(&rank);
            }
        }
        match new {
            Standing::Retired => {}
            Standing::Full => {
                self.full.insert(i);
            }
            Standing::Resting(until) => {
                self.resting.insert((until, i));
            }
            Standing::Ready(rank) => {
                self.ready.insert(rank);
            }
        }
    }
}
