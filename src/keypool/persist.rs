//! The pool's side of persistence: loading state at startup and writing
//! changed records.

use tokio::sync::oneshot;

use super::KeyPool;
use crate::store::{KeyRecord, ModelKey, ModelRecord};

// === impl KeyPool: persistence ===

impl KeyPool {
    /// Loads saved usage, cooldowns, lockouts and the last reset.
    pub(super) fn load(&mut self) {
        let saved = self.saved_state();
        for (name, provider) in &mut self.providers {
            for key in provider.keys_mut() {
                saved.restore(name, key);
            }
        }
        self.last_reset = self.store.as_ref().and_then(|s| s.last_reset());
    }

    /// Writes every changed record to the store (not yet synced).
    pub(super) fn write_dirty(&mut self) {
        let Some(store) = &self.store else { return };
        for (name, provider) in &mut self.providers {
            for key in provider.keys_for_bookkeeping() {
                if key.dirty {
                    let record = KeyRecord {
                        locked_until: key.locked_until,
                        lockouts: key.lockouts,
                    };
                    match store.save_key(name, &key.id, &record) {
                        Ok(()) => key.dirty = false,
                        Err(e) => log::error!("cannot save the state of key {}: {e}", key.masked),
                    }
                }
                for (model, state) in key.models.iter_mut().filter(|(_, s)| s.dirty) {
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
                    match store.save_model(&id, &record) {
                        Ok(()) => state.dirty = false,
                        Err(e) => log::error!("cannot save the state of key {}: {e}", key.masked),
                    }
                }
            }
        }
    }

    pub(super) fn save_last_reset(&self) {
        if let (Some(store), Some(at)) = (&self.store, self.last_reset) {
            if let Err(e) = store.set_last_reset(at) {
                log::error!("cannot save the time of the daily reset: {e}");
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
        ctx.spawn(flush.into_actor(self).map(|result, _, _| {
            if let Err(e) = result {
                log::error!("cannot sync the state database: {e}");
            }
            if let Some(done) = done {
                let _ = done.send(());
            }
        }));
    }
}
