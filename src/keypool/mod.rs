//! `KeyPool` is an actor. It owns every provider key, the requests in flight
//! on each (key, model), today's and lifetime usage, and the queue of requests
//! waiting for a key. It persists usage to the [`Store`].
//!
//! Its handlers never await: a request that cannot be served at once gets a
//! `oneshot` receiver and waits outside the actor, so the pool keeps serving
//! while requests wait. Outcomes come back as [`ReportOutcome`] messages, sent
//! by a [`Lease`] when it is finished or dropped, so a key is always released
//! even when a client disconnects mid-request.
//!
//! Usage is written behind: changed records are marked dirty and written to
//! sled every [`WRITE_BEHIND_INTERVAL`]; sled itself syncs to disk every
//! 500 ms.

mod lease;
mod messages;
pub mod report;
pub mod select;
pub mod state;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::secret::Secret;
use crate::store::{Store, UsageKey};
pub use lease::Lease;
pub use messages::{
    acquire, AcquireError, AcquireKey, Acquired, GetUsage, PeekKey, ReportOutcome, Shutdown,
};
use state::KeyState;
pub use state::{FailureKind, Outcome};

/// How often changed usage is written to the store. With sled's own 500 ms
/// sync, usage reaches the disk within a second.
pub const WRITE_BEHIND_INTERVAL: Duration = Duration::from_millis(250);

/// Requests that may queue in the pool's mailbox before senders wait. Large
/// enough that a burst of requests never parks on the mailbox.
const MAILBOX_CAPACITY: usize = 4096;

/// One provider's keys, as given to [`KeyPool::new`].
#[derive(Clone, Debug)]
pub struct PoolProvider {
    pub name: String,
    pub keys: Vec<Secret>,
    /// Requests in flight per (key, model); `None` = unlimited.
    pub max_concurrent_per_key: Option<u32>,
}

/// The key pool actor. See the module docs.
pub struct KeyPool {
    providers: HashMap<String, ProviderPool>,
    store: Option<Store>,
}

/// The keys of one provider and the requests waiting for them.
struct ProviderPool {
    limit: Option<u32>,
    keys: Vec<KeyState>,
    /// Per model, the requests waiting for a key, oldest first.
    waiters: HashMap<String, VecDeque<Waiter>>,
    /// Source of `KeyState::last_used` values.
    seq: u64,
}

/// A request waiting for a key.
struct Waiter {
    exclude: Vec<usize>,
    tx: oneshot::Sender<Lease>,
}

// === impl KeyPool ===

impl KeyPool {
    /// Builds a pool; with a store, usage saved earlier is loaded back.
    pub fn new(providers: impl IntoIterator<Item = PoolProvider>, store: Option<Store>) -> KeyPool {
        let mut pool = KeyPool {
            providers: providers
                .into_iter()
                .map(|p| {
                    let keys = p.keys.into_iter().map(KeyState::new).collect();
                    let pool = ProviderPool {
                        limit: p.max_concurrent_per_key,
                        keys,
                        waiters: HashMap::new(),
                        seq: 0,
                    };
                    (p.name, pool)
                })
                .collect(),
            store,
        };
        pool.load_usage();
        pool
    }

    /// Starts the pool on its own thread, so request handling on the HTTP
    /// workers never competes with it for a core's run queue.
    pub fn start_on_own_thread(self) -> (Addr<KeyPool>, Arbiter) {
        let arbiter = Arbiter::new();
        let addr = KeyPool::start_in_arbiter(&arbiter.handle(), move |_| self);
        (addr, arbiter)
    }

    fn load_usage(&mut self) {
        let Some(store) = &self.store else { return };
        for (key, usage) in store.load_usage() {
            let Some(provider) = self.providers.get_mut(&key.provider) else {
                continue;
            };
            if let Some(k) = provider.keys.iter_mut().find(|k| k.id == key.key_id) {
                k.model_mut(&key.model).usage = usage;
            }
        }
    }

    /// Writes every changed usage record to the store.
    fn write_dirty(&mut self) {
        let Some(store) = &self.store else { return };
        for (name, provider) in &mut self.providers {
            for key in &mut provider.keys {
                for (model, state) in key.models.iter_mut().filter(|(_, s)| s.dirty) {
                    let record = UsageKey {
                        provider: name.clone(),
                        key_id: key.id.clone(),
                        model: model.clone(),
                    };
                    match store.save_usage(&record, &state.usage) {
                        Ok(()) => state.dirty = false,
                        Err(e) => log::error!("cannot save usage of key {}: {e}", key.masked),
                    }
                }
            }
        }
    }

    /// Drops waiters whose request gave up, so the queues cannot grow.
    fn purge_abandoned_waiters(&mut self) {
        for provider in self.providers.values_mut() {
            for queue in provider.waiters.values_mut() {
                queue.retain(|w| !w.tx.is_closed());
            }
            provider.waiters.retain(|_, q| !q.is_empty());
        }
    }
}

impl Actor for KeyPool {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        ctx.run_interval(WRITE_BEHIND_INTERVAL, |pool, _| {
            pool.write_dirty();
            pool.purge_abandoned_waiters();
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.write_dirty();
    }
}

// === impl ProviderPool ===

impl ProviderPool {
    /// Marks key `index` busy with `model` and hands out its lease.
    fn lease(
        &mut self,
        provider: &str,
        index: usize,
        model: &str,
        pool: Addr<KeyPool>,
    ) -> Option<Lease> {
        self.seq += 1;
        let key = self.keys.get_mut(index)?;
        key.in_flight += 1;
        key.last_used = self.seq;
        key.model_mut(model).in_flight += 1;
        Some(Lease::new(pool, provider, model, index, key.secret.clone()))
    }

    /// Undoes [`ProviderPool::lease`] without recording an outcome.
    fn release(&mut self, index: usize, model: &str) {
        if let Some(key) = self.keys.get_mut(index) {
            key.in_flight = key.in_flight.saturating_sub(1);
            if let Some(m) = key.models.get_mut(model) {
                m.in_flight = m.in_flight.saturating_sub(1);
            }
        }
    }

    /// Hands free keys to waiting requests for `model`, oldest first. A
    /// waiter whose excluded keys are the only free ones is skipped, not
    /// blocking those behind it.
    fn serve_waiters(&mut self, provider: &str, model: &str, pool: &Addr<KeyPool>) {
        let Some(mut queue) = self.waiters.remove(model) else {
            return;
        };
        let mut i = 0;
        while i < queue.len() {
            if queue[i].tx.is_closed() {
                queue.remove(i);
                continue;
            }
            let Some(index) = select::pick(&self.keys, model, self.limit, &queue[i].exclude) else {
                i += 1;
                continue;
            };
            let Some(waiter) = queue.remove(i) else { break };
            let Some(lease) = self.lease(provider, index, model, pool.clone()) else {
                break;
            };
            if let Err(lease) = waiter.tx.send(lease) {
                // The request gave up just now; take the key back.
                lease.disarm();
                self.release(index, model);
            }
        }
        if !queue.is_empty() {
            self.waiters.insert(model.to_string(), queue);
        }
    }
}
