//! A reload of the configuration, as the pool sees it: keys added, kept
//! (with their cooldowns and usage) or retired.

use std::collections::{HashMap, HashSet};

use actix::prelude::*;
use serde::Serialize;

use super::state::KeyState;
use super::{KeyPool, PoolProvider, ProviderPool};
use crate::secret::KeyId;
use crate::store::{KeyRecord, ModelRecord};

/// Replaces the pool's providers and keys. Keys still configured keep
/// their state; new keys join (with any state saved for them earlier);
/// removed keys are retired — never leased again, their requests in flight
/// finish normally.
#[derive(Debug, Message)]
#[rtype(result = "ReloadSummary")]
pub struct UpdateProviders(pub Vec<PoolProvider>);

/// What a reload changed in the pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReloadSummary {
    pub keys_added: usize,
    pub keys_kept: usize,
    pub keys_removed: usize,
}

impl Handler<UpdateProviders> for KeyPool {
    type Result = MessageResult<UpdateProviders>;

    fn handle(&mut self, msg: UpdateProviders, ctx: &mut Self::Context) -> Self::Result {
        let mut summary = ReloadSummary::default();
        let wanted: HashSet<String> = msg.0.iter().map(|p| p.name.clone()).collect();
        for (name, provider) in &mut self.providers {
            if !wanted.contains(name) {
                summary.keys_removed += retire_all(provider);
            }
        }
        let saved = self.saved_state();
        let (now, global) = (self.now(), self.schedule);
        for configured in msg.0 {
            let provider = self
                .providers
                .entry(configured.name.clone())
                .or_insert_with(|| ProviderPool::new(configured.max_concurrent_per_key, vec![]));
            provider.set_limit(configured.max_concurrent_per_key);
            let days = configured.limits_schedule.unwrap_or(global);
            provider.set_limits(configured.limits, days, now);
            let keys = provider.keys_mut();
            let ids: HashSet<_> = configured.keys.iter().map(|k| k.id()).collect();
            for key in keys
                .iter_mut()
                .filter(|k| !k.retired && !ids.contains(&k.id))
            {
                key.retired = true;
                summary.keys_removed += 1;
            }
            // By id, so that thousands of keys are matched in one pass.
            let mut at: HashMap<KeyId, usize> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.id.clone(), i))
                .collect();
            for secret in configured.keys {
                let id = secret.id();
                match at.get(&id).and_then(|&i| keys.get_mut(i)) {
                    Some(key) if key.retired => {
                        key.retired = false;
                        summary.keys_added += 1;
                    }
                    Some(_) => summary.keys_kept += 1,
                    None => {
                        let mut key = KeyState::new(secret);
                        saved.restore(&configured.name, &mut key);
                        at.insert(id, keys.len());
                        keys.push(key);
                        summary.keys_added += 1;
                    }
                }
            }
        }
        for provider in self.providers.values_mut() {
            provider.bound_all_records(now);
            provider.recap_all(now);
        }
        self.serve_all_waiters(ctx);
        MessageResult(summary)
    }
}

/// Retires every key of a provider that left the configuration; requests
/// waiting for one of them run into their deadline.
fn retire_all(provider: &mut ProviderPool) -> usize {
    let mut retired = 0;
    for key in provider.keys_mut().iter_mut().filter(|k| !k.retired) {
        key.retired = true;
        retired += 1;
    }
    retired
}

/// State saved in the store, for keys that join the pool (at startup or
/// by a reload), by provider and key id.
#[derive(Default)]
pub(super) struct Saved {
    models: HashMap<(String, KeyId), Vec<(String, ModelRecord)>>,
    keys: HashMap<(String, KeyId), KeyRecord>,
}

impl KeyPool {
    pub(super) fn saved_state(&self) -> Saved {
        let Some(store) = &self.store else {
            return Saved::default();
        };
        let mut saved = Saved {
            keys: store.load_keys().into_iter().collect(),
            ..Saved::default()
        };
        for (id, record) in store.load_models() {
            saved
                .models
                .entry((id.provider, id.key_id))
                .or_default()
                .push((id.model, record));
        }
        saved
    }
}

impl Saved {
    pub(super) fn restore(&self, provider: &str, key: &mut KeyState) {
        let id = (provider.to_string(), key.id.clone());
        for (model, record) in self.models.get(&id).into_iter().flatten() {
            let state = key.model_mut(model);
            state.recorded = true;
            state.usage = record.usage;
            state.cooldown_until = record.cooldown_until;
            state.hinted = record.hinted;
            state.consecutive_failures = record.consecutive_failures;
            state.last_failure = record.last_failure;
            state.windows = record.windows;
        }
        if let Some(record) = self.keys.get(&id) {
            key.locked_until = record.locked_until;
            key.lockouts = record.lockouts;
            key.disabled = record.disabled;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypool::PoolOptions;
    use crate::secret::Secret;

    fn provider(keys: impl IntoIterator<Item = usize>) -> PoolProvider {
        PoolProvider {
            name: "p".into(),
            keys: keys
                .into_iter()
                .map(|i| Secret::new(format!("sk-reload-test-{i:05}")))
                .collect(),
            ..Default::default()
        }
    }

    async fn reload(pool: &Addr<KeyPool>, keys: impl IntoIterator<Item = usize>) -> ReloadSummary {
        pool.send(UpdateProviders(vec![provider(keys)]))
            .await
            .unwrap()
    }

    fn summary(keys_added: usize, keys_kept: usize, keys_removed: usize) -> ReloadSummary {
        ReloadSummary {
            keys_added,
            keys_kept,
            keys_removed,
        }
    }

    #[actix_rt::test]
    async fn keys_are_kept_added_retired_and_brought_back() {
        let pool = KeyPool::new([provider(0..3)], None, PoolOptions::default()).start();
        assert_eq!(reload(&pool, 1..4).await, summary(1, 2, 1));
        assert_eq!(reload(&pool, 0..4).await, summary(1, 3, 0), "key 0 is back");
        assert_eq!(reload(&pool, 0..4).await, summary(0, 4, 0));
    }

    #[actix_rt::test]
    async fn thousands_of_keys_are_matched_by_id() {
        // Each key used to be searched for among all the others, hashing
        // the searched key's id at every step: 10,000 keys held the pool
        // for 14 s.
        const KEYS: usize = 10_000;
        let pool = KeyPool::new([provider(0..KEYS)], None, PoolOptions::default()).start();
        assert_eq!(reload(&pool, 1..=KEYS).await, summary(1, KEYS - 1, 1));
    }
}
