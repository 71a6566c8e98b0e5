//! Where the key pool runs: on the first HTTP worker's thread.
//!
//! Every request asks the pool for a key and reports the outcome. With
//! the pool on a thread of its own, each ask is a wake-up of that thread
//! and each answer a wake-up of the worker's: two context switches and
//! their system calls per request, which cost more than the pool's work.
//! On the first worker's thread, that worker's asks are calls on the same
//! thread; other workers' still hop, to it. The pool stays the one owner
//! of key state, and its handlers never wait on I/O, so they delay that
//! worker's requests no more than they delayed everyone's on its own
//! thread.

use std::sync::{Arc, Mutex};

use actix::Addr;

use crate::keypool::{KeyPool, Mailbox, Shutdown};

/// The pool until the first HTTP worker takes it and runs it on its
/// thread. Cloned into every worker's app factory.
#[derive(Clone)]
pub(super) struct PoolHandOff(Arc<Mutex<Option<(KeyPool, Mailbox)>>>);

/// `pool`'s address, valid at once (messages wait in its mailbox), and
/// the hand-off that runs it on the first worker.
pub(super) fn hand_off(pool: KeyPool) -> (Addr<KeyPool>, PoolHandOff) {
    let (addr, mailbox) = KeyPool::mailbox();
    let slot = PoolHandOff(Arc::new(Mutex::new(Some((pool, mailbox)))));
    (addr, slot)
}

impl PoolHandOff {
    /// Runs the pool on the calling worker's thread, if no worker has.
    pub(super) fn run_here(&self) {
        let taken = match self.0.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some((pool, mailbox)) = taken {
            pool.start_with(mailbox);
        }
    }
}

/// Saves the pool's state and stops it. Call while the workers still
/// run: the pool runs on one of them.
pub(super) async fn close(pool: &Addr<KeyPool>) {
    if pool.send(Shutdown).await.is_err() {
        log::error!("the key pool had stopped before shutdown; recent usage may be lost");
    }
}
