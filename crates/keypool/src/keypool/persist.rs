//! The pool's side of persistence: loading state at startup and writing
//! changed records.

use std::time::Instant;

use tokio::sync::oneshot;

use super::faults::REOPEN_EVERY;
use super::history::History;
use super::KeyPool;
use crate::store::{KeyRecord, ModelKey, ModelRecord, Store};

// === impl KeyPool: persistence ===

impl KeyPool {
    /// Loads saved usage, cooldowns, lockouts and the last reset.
    pub(super) fn load(&mut self) {
        let saved = self.saved_state();
        let now = self.now();
        for (name, provider) in &mut self.providers {
            for key in provider.keys_mut() {
                saved.restore(name, key);
            }
            provider.bound_all_records(now);
        }
        self.last_reset = self.store.as_ref().and_then(|s| s.last_reset());
        self.history = History::loaded(self.store.as_ref(), now);
    }

    /// Writes every changed record (and deletes evicted ones) to the store,
    /// not yet synced. Returns whether anything was written. On a failure
    /// the rest stays marked changed, for the next write.
    pub(super) fn write_dirty(&mut self) -> bool {
        let Some(store) = &self.store else {
            // Without a store (none, or out of use after a failure), an
            // eviction is not undone: a record that comes back from disk is
            // bounded again at the next start.
            for provider in self.providers.values_mut() {
                provider.evicted.clear();
            }
            self.history.forget_pruned();
            return false;
        };
        let mut wrote = false;
        let mut failed = None;
        'providers: for (name, provider) in &mut self.providers {
            for (key_id, model) in provider.evicted.drain(..) {
                let id = ModelKey {
                    provider: name.clone(),
                    key_id,
                    model,
                };
                wrote = true;
                if let Err(e) = store.remove_model(&id) {
                    failed = Some(format!("cannot delete an evicted record: {e}"));
                    break 'providers;
                }
            }
            for key in provider.keys_for_bookkeeping() {
                if key.dirty {
                    let record = KeyRecord {
                        locked_until: key.locked_until,
                        lockouts: key.lockouts,
                        disabled: key.disabled,
                    };
                    wrote = true;
                    match store.save_key(name, &key.id, &record) {
                        Ok(()) => key.dirty = false,
                        Err(e) => {
                            failed =
                                Some(format!("cannot save the state of key {}: {e}", key.masked));
                            break 'providers;
                        }
                    }
                }
                let changed = key.models.iter_mut().filter(|(_, s)| s.dirty && s.recorded);
                for (model, state) in changed {
                    let id = ModelKey {
                        provider: name.clone(),
                        key_id: key.id.clone(),
                        model: model.clone(),
                    };
                    let record = ModelRecord {
                        usage: state.usage,
                        cooldown_until: state.cooldown_until,
                        hinted: state.hinted,
                        consecutive_failures: state.consecutive_failures,
                        last_failure: state.last_failure,
                    };
                    wrote = true;
                    match store.save_model(&id, &record) {
                        Ok(()) => state.dirty = false,
                        Err(e) => {
                            failed =
                                Some(format!("cannot save the state of key {}: {e}", key.masked));
                            break 'providers;
                        }
                    }
                }
            }
        }
        if failed.is_none() {
            match self.history.save(store) {
                Ok(saved) => wrote |= saved,
                Err(e) => failed = Some(e),
            }
        }
        if let Some(error) = failed {
            self.store_failed(&error);
        }
        wrote
    }

    pub(super) fn save_last_reset(&mut self) {
        if let (Some(store), Some(at)) = (&self.store, self.last_reset) {
            if let Err(e) = store.set_last_reset(at) {
                self.store_failed(&format!("cannot save the time of the daily reset: {e}"));
            }
        }
    }

    /// Writes changed records now and reports on `done` once they are on
    /// disk. The sync runs on sled's threads; the pool does not wait.
    pub(super) fn persist_now(
        &mut self,
        done: Option<oneshot::Sender<()>>,
        ctx: &mut actix::Context<Self>,
    ) {
        use actix::{ActorFutureExt, AsyncContext, WrapFuture};
        self.write_dirty();
        let Some(store) = &self.store else {
            if let Some(done) = done {
                let _ = done.send(());
            }
            return;
        };
        let flush = store.flush_async();
        let epoch = self.faults.epoch;
        ctx.spawn(flush.into_actor(self).map(move |result, pool, _| {
            match result {
                Err(e) if pool.faults.epoch == epoch => {
                    pool.store_failed(&format!("cannot sync the state database: {e}"));
                }
                Ok(_) if pool.faults.epoch == epoch && pool.faults.confirming => {
                    pool.faults.confirming = false;
                    let missed = pool.faults.log.recovered();
                    log::info!(
                        "the state database is writable again ({missed} failures since the last \
                         report): the current state is saved"
                    );
                }
                _ => {}
            }
            if let Some(done) = done {
                let _ = done.send(());
            }
        }));
    }

    /// A write failed: logs it (throttled) and takes the store out of use
    /// until [`KeyPool::retry_store`] opens it again.
    pub(super) fn store_failed(&mut self, error: &str) {
        if let Some(line) = self.faults.log.record(error, Instant::now()) {
            log::error!("{line}");
        }
        if let Some(store) = self.store.take() {
            self.faults.lost = Some(store.location());
            self.faults.dropped = Some(store);
        }
    }

    /// Opens a store that failed again, at most every [`REOPEN_EVERY`],
    /// off the pool's thread.
    pub(super) fn retry_store(&mut self, ctx: &mut actix::Context<Self>) {
        use actix::{ActorFutureExt, AsyncContext, WrapFuture};
        let now = Instant::now();
        let Some(location) = self.faults.lost.clone() else {
            return;
        };
        if self.faults.reopening || self.faults.next_reopen.is_some_and(|at| now < at) {
            return;
        }
        self.faults.reopening = true;
        self.faults.next_reopen = Some(now + REOPEN_EVERY);
        let old = self.faults.dropped.take();
        let reopen = actix_rt::task::spawn_blocking(move || {
            // sled lets go of the file lock only once the old handle is gone.
            drop(old);
            Store::reopen(&location)
        });
        ctx.spawn(reopen.into_actor(self).map(|result, pool, ctx| {
            pool.faults.reopening = false;
            match result {
                Ok(Ok(store)) => {
                    pool.reopened(store);
                    pool.persist_now(None, ctx);
                }
                Ok(Err(e)) => pool.store_failed(&e),
                Err(e) => pool.store_failed(&e.to_string()),
            }
        }));
    }

    /// The store is open again: everything in memory is saved anew, since
    /// what failed to be written is unknown. Whether the disk takes writes
    /// again shows only when that save is synced (see `persist_now`); until
    /// then failures stay throttled.
    pub(super) fn reopened(&mut self, store: Store) {
        self.faults.confirming = true;
        self.faults.lost = None;
        self.faults.next_reopen = None;
        self.faults.epoch += 1;
        self.store = Some(store);
        for provider in self.providers.values_mut() {
            for key in provider.keys_for_bookkeeping() {
                key.dirty = true;
                for state in key.models.values_mut() {
                    state.dirty = true;
                }
            }
        }
        self.history.mark_all_dirty();
        self.save_last_reset();
    }

    /// At shutdown, a store out of use gets one last chance.
    pub(super) fn reopen_now(&mut self) {
        let Some(location) = self.faults.lost.clone() else {
            return;
        };
        drop(self.faults.dropped.take());
        match Store::reopen(&location) {
            Ok(store) => self.reopened(store),
            Err(e) => log::error!("cannot save the state at shutdown: {e}"),
        }
    }
}
