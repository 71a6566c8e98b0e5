//! `KeyPool` is an actor. It owns every provider key, the requests in flight
//! on each (key, model), each key's health (cooldowns per model, lockouts,
//! failure counters), today's and lifetime usage, and the queue of requests
//! waiting for a key. It persists all of it to the [`Store`].
//!
//! Its handlers never await: a request that cannot be served at once gets a
//! `oneshot` receiver and waits outside the actor. Outcomes come back as
//! [`ReportOutcome`] messages, sent by a [`Lease`] when it is finished or
//! dropped, so a key is always released even when a client disconnects.
//!
//! Durability: the pool never writes to disk itself. A writer thread
//! (`writer`) takes snapshots of the changed records and writes them in
//! order. A failure's cooldown or lockout is handed over at once with a
//! sync behind it; the lease holder waits for that sync before it answers
//! the client ([`Lease::finish_durably`]). Usage is handed over every
//! [`WRITE_BEHIND_INTERVAL`] and synced within a second. A store that
//! stops taking writes (a full disk) is handled in `faults`; what clients
//! can make the pool remember is bounded in `records`.
//!
//! Time comes from an injectable [`Clock`]; the daily reset runs on an actor
//! timer at the [`DailySchedule`], and at startup if one was missed.
//!
//! With a [`SharedState`] (several replicas, Redis) the pool keeps only its
//! local view and plans; each lease is confirmed in Redis by the caller
//! (see `shared`).

mod acquire;
mod admin;
mod faults;
mod health;
pub mod history;
mod index;
mod lease;
mod messages;
mod persist;
mod provider;
mod records;
mod reload;
pub mod report;
pub mod select;
mod shared;
pub mod state;
mod touched;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::resilience::clock::{until, Clock, SystemClock};
use crate::resilience::limits::LimitRules;
use crate::resilience::schedule::DailySchedule;
use crate::secret::Secret;
use crate::shared_state::SharedState;
use crate::store::Store;
pub use acquire::{acquire, acquire_now};
pub use admin::{KeyCondition, KeyEntry, ListKeys, SetDisabled};
pub use lease::{Lease, DURABILITY_WAIT};
pub use messages::{
    AcquireError, AcquireKey, Acquired, GetUsage, PeekKey, ReportOutcome, ResetCooldowns, Rest,
    Shutdown, PIN_IDLE,
};
use provider::ProviderPool;
pub use reload::{ReloadSummary, UpdateProviders};
pub use select::RestCause;
pub use shared::{reset_cooldowns, usage_report, Plan};
use state::KeyState;

/// How often changed usage is handed to the writer thread. With sled's own
/// 500 ms sync, usage reaches the disk within a second (up to
/// [`WRITE_BEHIND_CAP`] changed records per provider a tick). Short and
/// frequent, so that each tick holds the pool's thread — which requests
/// wait on — for a few hundred records at most.
pub const WRITE_BEHIND_INTERVAL: Duration = Duration::from_millis(50);

/// Changed (key, model) records one write-behind tick hands to the writer
/// per provider: 4,000 a second. Past that (thousands of keys under heavy
/// load), each tick goes on where the last stopped and a record waits a
/// few ticks, gathering more changes, so sled's writes do not take a core
/// from the requests; 10,000 busy keys take 2.5 s. Cooldowns and lockouts
/// are not waited for: they are synced, every change, before their
/// response.
pub const WRITE_BEHIND_CAP: usize = 200;

/// How often usage written behind is also synced by the pool itself, which
/// records a generation (see `store::generation`) so that a later loss of
/// it can be detected.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Requests that may queue in the pool's mailbox before senders wait. Large
/// enough that a burst of requests never parks on the mailbox.
const MAILBOX_CAPACITY: usize = 4096;

/// A key pool's mailbox, made before the pool runs (see
/// [`KeyPool::mailbox`]).
pub struct Mailbox(actix::dev::channel::AddressReceiver<KeyPool>);

/// One provider's keys, as given to [`KeyPool::new`].
#[derive(Clone, Debug, Default)]
pub struct PoolProvider {
    pub name: String,
    pub keys: Vec<Secret>,
    /// Requests in flight per (key, model); `None` = unlimited.
    pub max_concurrent_per_key: Option<u32>,
    /// Requests per minute and per day, tokens per minute, per (key,
    /// model): see [`crate::resilience::limits`].
    pub limits: LimitRules,
    /// When this provider's days (for `rpd`) begin, if not at the pool's
    /// daily reset.
    pub limits_schedule: Option<DailySchedule>,
}

/// How the pool tells time.
#[derive(Clone)]
pub struct PoolOptions {
    pub clock: Arc<dyn Clock>,
    pub schedule: DailySchedule,
}

/// The key pool actor. See the module docs.
pub struct KeyPool {
    providers: HashMap<String, ProviderPool>,
    store: Option<Store>,
    clock: Arc<dyn Clock>,
    schedule: DailySchedule,
    last_reset: Option<DateTime<Utc>>,
    /// The scheduled start and end of the current day, once asked for.
    day: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Failed writes, and the store while it is out of use.
    faults: faults::StoreFaults,
    /// Records were written behind since the pool's last sync.
    unsynced: bool,
    /// Key state shared with other replicas, when configured.
    shared: Option<shared::Replica>,
    /// The thread that writes to the store, once the pool runs.
    writer: Option<writer::Writer>,
    /// Hourly counts per provider (see `history`).
    history: history::History,
}

/// A request waiting for a key.
struct Waiter {
    exclude: Vec<usize>,
    /// The request's expected tokens (see [`AcquireKey::tokens`]).
    tokens: u64,
    tx: Wake,
}

/// How a waiter is woken: with a lease (the pool decides alone), or told
/// to try again (the shared state decides; see `shared`).
enum Wake {
    Lease(oneshot::Sender<Lease>),
    Retry(oneshot::Sender<()>),
}

// === impl Wake ===

impl Wake {
    fn is_closed(&self) -> bool {
        match self {
            Wake::Lease(tx) => tx.is_closed(),
            Wake::Retry(tx) => tx.is_closed(),
        }
    }
}

// === impl PoolOptions ===

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            clock: Arc::new(SystemClock),
            schedule: DailySchedule::default(),
        }
    }
}

// === impl KeyPool ===

impl KeyPool {
    /// Builds a pool; with a store, state saved earlier is loaded back and a
    /// daily reset missed while the proxy was down is run now.
    pub fn new(
        providers: impl IntoIterator<Item = PoolProvider>,
        store: Option<Store>,
        options: PoolOptions,
    ) -> KeyPool {
        let mut pool = KeyPool::loaded(providers, store, options);
        pool.catch_up_daily_reset();
        pool
    }

    /// The state saved in `store`, as a pool started now would see it (a
    /// missed daily reset applied), without writing anything: for reading
    /// the data directory of a proxy that is not running.
    pub fn saved(
        providers: impl IntoIterator<Item = PoolProvider>,
        store: Store,
        options: PoolOptions,
    ) -> KeyPool {
        let mut pool = KeyPool::loaded(providers, Some(store), options);
        pool.store = None;
        pool.catch_up_daily_reset();
        pool
    }

    fn loaded(
        providers: impl IntoIterator<Item = PoolProvider>,
        store: Option<Store>,
        options: PoolOptions,
    ) -> KeyPool {
        let mut pool = KeyPool {
            providers: providers
                .into_iter()
                .map(|p| {
                    let keys = p.keys.into_iter().map(KeyState::new).collect();
                    let mut pool = ProviderPool::new(p.max_concurrent_per_key, keys);
                    let days = p.limits_schedule.unwrap_or(options.schedule);
                    pool.set_limits(p.limits, days, options.clock.now());
                    (p.name, pool)
                })
                .collect(),
            store,
            clock: options.clock,
            schedule: options.schedule,
            last_reset: None,
            day: None,
            faults: faults::StoreFaults::default(),
            unsynced: false,
            shared: None,
            writer: None,
            history: history::History::default(),
        };
        pool.load();
        pool
    }

    /// Shares key state with other replicas through `state`: leases are
    /// confirmed there, outcomes reported there. Build the pool without a
    /// store then: Redis, not sled, is the source of truth.
    pub fn with_shared_state(mut self, state: std::sync::Arc<SharedState>) -> KeyPool {
        self.shared = Some(shared::Replica::new(state));
        self
    }

    /// Starts the pool on its own thread, so request handling on the HTTP
    /// workers never competes with it for a core's run queue.
    pub fn start_on_own_thread(self) -> (Addr<KeyPool>, Arbiter) {
        let arbiter = Arbiter::new();
        let addr = KeyPool::start_in_arbiter(&arbiter.handle(), move |_| self);
        (addr, arbiter)
    }

    /// The pool's address before the pool runs, and the mailbox that
    /// [`KeyPool::start_with`] later runs it on, on whichever thread calls
    /// that: e.g. the one HTTP worker's, so that asking the pool for a key
    /// is a call on the same thread, not a wake-up of another.
    pub fn mailbox() -> (Addr<KeyPool>, Mailbox) {
        let (tx, rx) = actix::dev::channel::channel(MAILBOX_CAPACITY);
        (Addr::new(tx), Mailbox(rx))
    }

    /// Runs the pool on the current thread's arbiter, answering the
    /// messages sent to `mailbox`'s address (see [`KeyPool::mailbox`]).
    pub fn start_with(self, mailbox: Mailbox) -> Addr<KeyPool> {
        Context::with_receiver(mailbox.0).run(self)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs the daily reset if one was due while the proxy was down. A fresh
    /// database starts counting from the most recent scheduled reset.
    fn catch_up_daily_reset(&mut self) {
        let now = self.now();
        if self.schedule.is_due(self.last_reset, now) {
            log::info!("running the daily reset missed while the proxy was down");
            self.daily_reset(now);
        } else if self.last_reset.is_none() {
            self.last_reset = Some(self.schedule.last_at_or_before(now));
            self.save_last_reset();
        }
    }

    /// Clears ladder cooldowns, lockouts and failure counters and starts a
    /// new day of usage. Provider-hinted cooldowns stay.
    fn daily_reset(&mut self, now: DateTime<Utc>) {
        for provider in self.providers.values_mut() {
            provider
                .keys_mut()
                .iter_mut()
                .for_each(KeyState::daily_reset);
        }
        // The day starts at the scheduled time, even when the reset runs
        // late (at startup, after the proxy was down).
        self.last_reset = Some(self.schedule.last_at_or_before(now));
        self.save_last_reset();
        // sled syncs within 500 ms; nothing here waits on disk.
        self.write_dirty();
    }

    fn schedule_daily_reset(&self, ctx: &mut Context<Self>) {
        let now = self.now();
        let next = self.schedule.next_after(now);
        ctx.run_later(until(now, next), |pool, ctx| {
            let now = pool.now();
            log::info!("daily reset: clearing cooldowns, lockouts and today's counters");
            pool.daily_reset(now);
            pool.serve_all_waiters(ctx);
            pool.schedule_daily_reset(ctx);
        });
    }

    /// The end of a quota cooldown that came without a hint. Cached for
    /// the day it falls in: outcomes are reported for every request.
    fn next_reset(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.day {
            Some((from, until)) if from <= now && now < until => until,
            _ => {
                let day = (
                    self.schedule.last_at_or_before(now),
                    self.schedule.next_after(now),
                );
                self.day = Some(day);
                day.1
            }
        }
    }

    /// Hands freed keys to every waiting request (after cooldowns expire or
    /// are cleared).
    fn serve_all_waiters(&mut self, ctx: &mut Context<Self>) {
        let now = self.now();
        let addr = ctx.address();
        for (name, provider) in &mut self.providers {
            let models: Vec<String> = provider.waiters.keys().cloned().collect();
            for model in models {
                provider.serve_waiters(name, &model, || addr.clone(), now);
            }
        }
    }

    /// Wakes waiters when the soonest resting key comes back.
    fn wake_at(&self, at: DateTime<Utc>, ctx: &mut Context<Self>) {
        ctx.run_later(until(self.now(), at), |pool, ctx| {
            pool.serve_all_waiters(ctx)
        });
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
        self.start_writer(ctx);
        ctx.run_interval(WRITE_BEHIND_INTERVAL, |pool, ctx| {
            pool.unsynced |= pool.write_behind();
            pool.purge_abandoned_waiters();
            pool.retry_store(ctx);
        });
        shared::start_timers(self, ctx);
        ctx.run_interval(SYNC_INTERVAL, |pool, ctx| {
            if std::mem::take(&mut pool.unsynced) {
                pool.sync(None, ctx);
            }
        });
        self.schedule_daily_reset(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.stop_writer();
        self.write_dirty();
    }
}

#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod persist_tests;
#[cfg(test)]
mod tests;
