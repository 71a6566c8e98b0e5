//! The bound on what clients can make the pool remember: at most
//! [`MAX_RECORDS_PER_KEY`] (key, model) records per key.
//!
//! Clients choose model names. A record is only made when the provider
//! answered for the model (see [`Outcome::earns_record`]), and past the cap
//! the least useful records are evicted — from memory here, from the disk
//! by the pool's next write ([`KeyPool::write_dirty`]).
//!
//! [`Outcome::earns_record`]: super::state::Outcome::earns_record
//! [`KeyPool::write_dirty`]: super::KeyPool

use chrono::{DateTime, Utc};

use super::state::KeyState;

/// Records kept per key. Far more models than any provider serves, small
/// enough that `/v1/usage`, memory and the database stay bounded when a
/// client names thousands of models that the provider accepts.
pub const MAX_RECORDS_PER_KEY: usize = 1_000;

// === impl KeyState: bounded records ===

impl KeyState {
    /// Evicts records until at most `max` remain, never `keep` nor one with
    /// a request in flight. Idle records that are not resting go first,
    /// least recently leased first; then resting ones, soonest back first.
    /// Returns the evicted models, to delete from the store.
    pub fn evict_beyond(&mut self, max: usize, keep: &str, now: DateTime<Utc>) -> Vec<String> {
        let mut evicted = Vec::new();
        while self.models.len() > max {
            let victim = self
                .models
                .iter()
                .filter(|(name, state)| state.in_flight == 0 && name.as_str() != keep)
                .min_by_key(|(_, state)| {
                    let rest = state.cooldown_until.filter(|until| *until > now);
                    (rest.is_some(), rest, state.touched)
                })
                .map(|(name, _)| name.clone());
            let Some(victim) = victim else { break };
            self.models.remove(&victim);
            evicted.push(victim);
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypool::{KeyPool, PoolOptions, PoolProvider};
    use crate::secret::Secret;
    use crate::store::{ModelKey, ModelRecord, Store};

    #[test]
    fn a_database_over_the_bound_is_trimmed_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new("sk-evict-test-0002");
        let store = Store::open(dir.path()).unwrap();
        for i in 0..MAX_RECORDS_PER_KEY + 5 {
            let id = ModelKey {
                provider: "p".into(),
                key_id: secret.id(),
                model: format!("m{i}"),
            };
            store.save_model(&id, &ModelRecord::default()).unwrap();
        }
        let provider = PoolProvider {
            name: "p".into(),
            keys: vec![secret],
            max_concurrent_per_key: None,
            ..Default::default()
        };
        let mut pool = KeyPool::new([provider], Some(store.clone()), PoolOptions::default());
        let report = pool.report();
        assert_eq!(
            report.providers["p"].keys[0].models.len(),
            MAX_RECORDS_PER_KEY
        );
        pool.write_dirty();
        assert_eq!(
            store.load_models().len(),
            MAX_RECORDS_PER_KEY,
            "trimmed on disk"
        );
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn idle_unresting_records_go_first_least_recently_used_first() {
        let now = t("2026-11-24T12:00:00Z");
        let mut key = KeyState::new(Secret::new("sk-evict-test-0001"));
        for (i, name) in ["old", "resting", "busy", "recent", "new"]
            .iter()
            .enumerate()
        {
            let state = key.model_mut(name);
            state.recorded = true;
            state.touched = i as u64;
        }
        key.model_mut("resting").cooldown_until = Some(t("2026-11-24T13:00:00Z"));
        key.model_mut("busy").in_flight = 1;
        key.model_mut("busy").touched = 0;

        assert_eq!(key.evict_beyond(3, "new", now), vec!["old", "recent"]);
        assert_eq!(key.evict_beyond(1, "new", now), vec!["resting"]);
        let mut left: Vec<_> = key.models.keys().cloned().collect();
        left.sort();
        assert_eq!(left, vec!["busy", "new"], "in flight and kept stay");
    }
}
