//! The capped write-behind: at most `WRITE_BEHIND_CAP` records per
//! provider a tick, each tick going on where the last stopped.

use super::*;
use crate::store::Store;
use crate::vocab::Outcome;

const KEYS: usize = WRITE_BEHIND_CAP * 2 + WRITE_BEHIND_CAP / 2;

/// A pool of `KEYS` keys on a store in `dir`, none of them changed.
fn pool(dir: &std::path::Path) -> (KeyPool, Store) {
    let store = Store::open(dir).unwrap();
    let provider = PoolProvider {
        name: "p".into(),
        keys: (0..KEYS)
            .map(|i| Secret::new(format!("sk-write-behind-test-{i:05}")))
            .collect(),
        max_concurrent_per_key: None,
        ..Default::default()
    };
    let pool = KeyPool::new([provider], Some(store.clone()), PoolOptions::default());
    (pool, store)
}

/// [`pool`] with every key's usage of model `m` changed once.
fn every_key_used(dir: &std::path::Path) -> (KeyPool, Store) {
    let (mut pool, store) = pool(dir);
    for i in 0..KEYS {
        use_key(&mut pool, i);
    }
    (pool, store)
}

/// Counts one request of model `m` on key `index`, as a report would.
fn use_key(pool: &mut KeyPool, index: usize) {
    let provider = pool.providers.get_mut("p").unwrap();
    let state = provider.keys_for_bookkeeping()[index].model_mut("m");
    state.recorded = true;
    state.dirty = true;
    state.usage.daily.requests += 1;
    state.usage.lifetime.requests += 1;
}

/// Key `index`'s requests of model `m` as the store has them.
fn saved_requests(pool: &KeyPool, store: &Store, index: usize) -> Option<u64> {
    let id = pool.providers["p"].keys()[index].id.clone();
    store
        .load_models()
        .into_iter()
        .find(|(k, _)| k.key_id == id && k.model == "m")
        .map(|(_, r)| r.usage.lifetime.requests)
}

#[test]
fn each_tick_writes_at_most_the_cap_and_goes_on_where_the_last_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pool, store) = every_key_used(dir.path());

    assert!(pool.write_behind());
    assert_eq!(store.load_models().len(), WRITE_BEHIND_CAP);
    assert_eq!(saved_requests(&pool, &store, 0), Some(1));
    assert_eq!(saved_requests(&pool, &store, WRITE_BEHIND_CAP), None);

    // Key 0 changes again: it waits for its turn behind the keys not yet
    // written, which go first.
    use_key(&mut pool, 0);
    assert!(pool.write_behind());
    assert_eq!(store.load_models().len(), 2 * WRITE_BEHIND_CAP);
    assert_eq!(saved_requests(&pool, &store, 0), Some(1), "not its turn");

    // The rest, then the tick wraps round to key 0.
    assert!(pool.write_behind());
    assert_eq!(store.load_models().len(), KEYS);
    assert_eq!(saved_requests(&pool, &store, 0), Some(2));
    assert!(!pool.write_behind(), "nothing left to write");
}

#[test]
fn writing_everything_is_not_capped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pool, store) = every_key_used(dir.path());
    assert!(pool.write_dirty());
    assert_eq!(store.load_models().len(), KEYS);
    assert!(!pool.write_behind(), "nothing left to write");
}

#[test]
fn a_tick_visits_the_keys_changed_since_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pool, store) = every_key_used(dir.path());
    assert!(pool.write_dirty());
    assert!(!pool.write_behind(), "nothing left to write");

    // A lease and its outcome on one key, as the pool's handlers do them.
    let now = pool.now();
    let next_reset = pool.next_reset(now);
    let provider = pool.providers.get_mut("p").unwrap();
    let (_, seq) = provider.take(7, "m", 0, now).unwrap();
    let success = Outcome::Success {
        prompt_tokens: 1,
        completion_tokens: 1,
    };
    provider.finish(7, "m", success, (seq, 0), now, next_reset);

    assert!(pool.write_behind());
    assert_eq!(saved_requests(&pool, &store, 7), Some(2));
    assert!(!pool.write_behind(), "no other key changed");
}

#[test]
fn an_outcome_for_a_position_past_the_keys_marks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pool, _store) = every_key_used(dir.path());
    assert!(pool.write_dirty());

    // Marked before the key was looked up, such a position grew the bitset
    // to its size: here past what can be allocated, and the call panics.
    let now = pool.now();
    let next_reset = pool.next_reset(now);
    let provider = pool.providers.get_mut("p").unwrap();
    provider.finish(usize::MAX, "m", Outcome::Abandoned, (0, 0), now, next_reset);
    assert!(!pool.write_behind(), "nothing was touched");
}
