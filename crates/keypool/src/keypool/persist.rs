//! The pool's side of persistence: loading state at startup, handing
//! changed records to the writer thread (`writer`), syncing, and what a
//! failed write does.

use std::time::Instant;

use actix::{Handler, Message};
use tokio::sync::oneshot;

use super::faults::REOPEN_EVERY;
use super::history::History;
use super::writer::{self, Batch, Change, Writer};
use super::{KeyPool, WRITE_BEHIND_CAP};
use crate::store::{KeyRecord, ModelKey, ModelRecord, Store};

/// Why a batch could not be handed over.
const WRITER_GONE: &str = "the state database writer thread stopped";

/// A write to the store of `epoch` failed on the writer thread.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct WriteFailed {
    epoch: u64,
    error: String,
}

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
            provider.recap_all(now);
        }
        self.last_reset = self.store.as_ref().and_then(|s| s.last_reset());
        self.history = History::loaded(self.store.as_ref(), now);
    }

    /// Hands every changed record (and every evicted one, to delete) to
    /// the writer thread, or writes them itself when there is none (before
    /// the pool starts, at shutdown, in tests). Returns whether anything
    /// was handed over. While [`writer::MAX_PENDING_BATCHES`] wait already, nothing
    /// is: the records stay marked changed for a later tick.
    pub(super) fn write_dirty(&mut self) -> bool {
        if self.writer.as_ref().is_some_and(Writer::is_full) {
            return false;
        }
        self.hand_over_dirty(usize::MAX)
    }

    /// The periodic write-behind: [`KeyPool::write_dirty`], but at most
    /// [`WRITE_BEHIND_CAP`] changed records per provider, starting where
    /// the last one stopped. What is left stays marked changed, gathers
    /// more changes, and goes with a later tick.
    pub(super) fn write_behind(&mut self) -> bool {
        if self.writer.as_ref().is_some_and(Writer::is_full) {
            return false;
        }
        self.hand_over_dirty(WRITE_BEHIND_CAP)
    }

    /// [`KeyPool::write_dirty`] however many batches wait, up to `cap`
    /// records per provider.
    fn hand_over_dirty(&mut self, cap: usize) -> bool {
        let Some(store) = self.store.clone() else {
            // Without a store (none, or out of use after a failure), an
            // eviction is not undone: a record that comes back from disk is
            // bounded again at the next start.
            for provider in self.providers.values_mut() {
                provider.evicted.clear();
            }
            self.history.forget_pruned();
            return false;
        };
        let changes = self.take_dirty(cap);
        if changes.is_empty() {
            return false;
        }
        self.hand_over(store, changes);
        true
    }

    /// Changed records, up to `cap` per provider (evictions and key
    /// records not counted), marked unchanged: the store gets them next. A
    /// failed write takes the store out of use, and reopening it marks
    /// everything changed again ([`KeyPool::reopened`]).
    fn take_dirty(&mut self, cap: usize) -> Vec<Change> {
        let mut changes = Vec::new();
        for (name, provider) in &mut self.providers {
            for (key_id, model) in provider.evicted.drain(..) {
                changes.push(Change::Evicted(ModelKey {
                    provider: name.clone(),
                    key_id,
                    model,
                }));
            }
            // Keys go in turn from where the last tick stopped, each with
            // all its changed records; only keys touched since are visited.
            let mut taken = 0;
            let mut from = provider.write_from;
            while taken < cap {
                let Some((index, key)) = provider.next_touched(from) else {
                    break;
                };
                from = index + 1;
                if std::mem::take(&mut key.dirty) {
                    changes.push(Change::Key {
                        provider: name.clone(),
                        key_id: key.id.clone(),
                        record: KeyRecord {
                            locked_until: key.locked_until,
                            lockouts: key.lockouts,
                            disabled: key.disabled,
                        },
                    });
                }
                let changed = key.models.iter_mut().filter(|(_, s)| s.dirty && s.recorded);
                for (model, state) in changed {
                    state.dirty = false;
                    taken += 1;
                    changes.push(Change::Model {
                        id: ModelKey {
                            provider: name.clone(),
                            key_id: key.id.clone(),
                            model: model.clone(),
                        },
                        record: ModelRecord {
                            usage: state.usage,
                            cooldown_until: state.cooldown_until,
                            hinted: state.hinted,
                            consecutive_failures: state.consecutive_failures,
                            last_failure: state.last_failure,
                            windows: state.windows,
                        },
                    });
                }
            }
            provider.write_from = from;
        }
        self.history.take_changes(&mut changes);
        changes
    }

    /// `changes` to the writer thread, or written here without one.
    fn hand_over(&mut self, store: Store, changes: Vec<Change>) {
        let batch = Batch {
            store,
            epoch: self.faults.epoch,
            changes,
        };
        let failed = match &self.writer {
            Some(writer) => (!writer.write(batch)).then(|| WRITER_GONE.to_string()),
            None => writer::apply(&batch).err(),
        };
        if let Some(error) = failed {
            self.store_failed(&error);
        }
    }

    pub(super) fn save_last_reset(&mut self) {
        if let (Some(store), Some(at)) = (self.store.clone(), self.last_reset) {
            self.hand_over(store, vec![Change::LastReset(at)]);
        }
    }

    /// Starts the writer thread, when there is a store to write to.
    pub(super) fn start_writer(&mut self, ctx: &mut actix::Context<Self>) {
        use actix::AsyncContext;
        if self.store.is_none() {
            return;
        }
        // A weak address: the writer must not keep the pool alive.
        let pool = ctx.address().downgrade();
        let failed = move |epoch, error| {
            if let Some(pool) = pool.upgrade() {
                pool.do_send(WriteFailed { epoch, error });
            }
        };
        match Writer::start(failed) {
            Ok(writer) => self.writer = Some(writer),
            Err(e) => log::warn!(
                "cannot start the state database writer thread ({e}): the key pool writes itself"
            ),
        }
    }

    /// Stops the writer thread once it has written everything handed over;
    /// the pool writes itself from then on.
    pub(super) fn stop_writer(&mut self) {
        drop(self.writer.take());
    }

    /// Writes changed records now and reports on `done` once they are on
    /// disk. The sync runs on sled's threads; the pool does not wait.
    pub(super) fn persist_now(
        &mut self,
        done: Option<oneshot::Sender<()>>,
        ctx: &mut actix::Context<Self>,
    ) {
        self.hand_over_dirty(usize::MAX);
        self.sync(done, ctx);
    }

    /// Syncs what was handed to the writer so far, and reports on `done`
    /// once it is on disk.
    pub(super) fn sync(
        &mut self,
        done: Option<oneshot::Sender<()>>,
        ctx: &mut actix::Context<Self>,
    ) {
        use actix::{ActorFutureExt, AsyncContext, WrapFuture};
        let Some(store) = &self.store else {
            if let Some(done) = done {
                let _ = done.send(());
            }
            return;
        };
        let epoch = self.faults.epoch;
        // The writer syncs once it has written what it was handed.
        let flush: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>>>> =
            match &self.writer {
                Some(writer) => {
                    let synced = writer.sync(store.clone(), epoch);
                    Box::pin(async move { synced.await.unwrap_or(Err(WRITER_GONE.to_string())) })
                }
                None => Box::pin(store.flush_async()),
            };
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

impl Handler<WriteFailed> for KeyPool {
    type Result = ();

    fn handle(&mut self, msg: WriteFailed, _: &mut Self::Context) {
        // A late error from a store already replaced changes nothing.
        if msg.epoch == self.faults.epoch && self.store.is_some() {
            self.store_failed(&msg.error);
        }
    }
}
