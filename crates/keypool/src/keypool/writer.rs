//! The pool's disk writer: a thread of its own that does the pool's writes
//! to the store, so the pool's thread — which every request waits on —
//! never waits for sled. Each tick the pool hands it a snapshot of the
//! records that changed ([`Batch`]) and, when state must be durable, asks
//! it to sync ([`Writer::sync`]). Jobs run in order, so a sync covers every
//! batch handed over before it: a cooldown is on disk before the request
//! that caused it is answered, as before.
//!
//! At most [`MAX_PENDING_BATCHES`] batches wait at once: past that the pool
//! keeps its records marked changed and hands them over at a later tick
//! (a slow disk delays writes, it does not grow memory).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::secret::KeyId;
use crate::store::{HourCounts, KeyRecord, ModelKey, ModelRecord, Store};

/// Batches handed over and not yet written, at most.
pub const MAX_PENDING_BATCHES: usize = 4;

/// One record to write, or to delete.
pub(super) enum Change {
    Key {
        provider: String,
        key_id: KeyId,
        record: KeyRecord,
    },
    Model {
        id: ModelKey,
        record: ModelRecord,
    },
    /// A record evicted from memory (see `records`).
    Evicted(ModelKey),
    LastReset(DateTime<Utc>),
    /// A provider's counts for one hour (see `history`).
    Hour {
        provider: String,
        hour: i64,
        counts: HourCounts,
    },
    /// An hour past the history's window.
    HourPruned {
        provider: String,
        hour: i64,
    },
}

/// Changes to write to `store`, opened in the pool's `epoch` (the number
/// of times the store was opened again after a failure).
pub(super) struct Batch {
    pub store: Store,
    pub epoch: u64,
    pub changes: Vec<Change>,
}

enum Job {
    Write(Batch),
    Sync {
        store: Store,
        epoch: u64,
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// The writer thread, and the way to it. Dropping it lets the thread
/// finish the jobs handed over, and waits for it.
pub(super) struct Writer {
    tx: Option<mpsc::Sender<Job>>,
    pending: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

// === impl Writer ===

impl Writer {
    /// Starts the thread; `failed(epoch, error)` tells the pool that a
    /// write to the store of `epoch` failed (later batches for that store
    /// are dropped: the pool saves everything again once it reopens it).
    pub fn start(failed: impl Fn(u64, String) + Send + 'static) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let count = pending.clone();
        let thread = std::thread::Builder::new()
            .name("key-pool-writer".into())
            .spawn(move || run(&rx, &count, &failed))?;
        Ok(Writer {
            tx: Some(tx),
            pending,
            thread: Some(thread),
        })
    }

    /// Whether [`MAX_PENDING_BATCHES`] wait already.
    pub fn is_full(&self) -> bool {
        self.pending.load(Ordering::Acquire) >= MAX_PENDING_BATCHES
    }

    /// Hands `batch` over; `false` if the thread is gone.
    pub fn write(&self, batch: Batch) -> bool {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(Job::Write(batch)).is_ok());
        if !sent {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
        sent
    }

    /// Syncs `store` once every batch handed over so far is written: the
    /// answer says whether all of it is on disk.
    pub fn sync(&self, store: Store, epoch: u64) -> oneshot::Receiver<Result<(), String>> {
        let (done, rx) = oneshot::channel();
        if let Some(tx) = &self.tx {
            // A thread that is gone drops `done`: the receiver errs.
            let _ = tx.send(Job::Sync { store, epoch, done });
        }
        rx
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the state database writer stopped abnormally");
            }
        }
    }
}

/// The thread: jobs in order until the pool lets go.
fn run(rx: &mpsc::Receiver<Job>, pending: &AtomicUsize, failed: &dyn Fn(u64, String)) {
    // The epoch whose store refused a write: its later jobs are moot.
    let mut refused: Option<u64> = None;
    for job in rx {
        match job {
            Job::Write(batch) => {
                if refused != Some(batch.epoch) {
                    if let Err(e) = apply(&batch) {
                        refused = Some(batch.epoch);
                        failed(batch.epoch, e);
                    }
                }
                pending.fetch_sub(1, Ordering::AcqRel);
            }
            Job::Sync { store, epoch, done } => {
                let result = if refused == Some(epoch) {
                    Err("an earlier write failed".to_string())
                } else {
                    store.flush()
                };
                let _ = done.send(result);
            }
        }
    }
}

/// Writes `batch`, stopping at the first failure.
pub(super) fn apply(batch: &Batch) -> Result<(), String> {
    let store = &batch.store;
    for change in &batch.changes {
        match change {
            Change::Key {
                provider,
                key_id,
                record,
            } => store
                .save_key(provider, key_id, record)
                .map_err(|e| format!("cannot save the state of a key: {e}"))?,
            Change::Model { id, record } => store
                .save_model(id, record)
                .map_err(|e| format!("cannot save the state of a key: {e}"))?,
            Change::Evicted(id) => store
                .remove_model(id)
                .map_err(|e| format!("cannot delete an evicted record: {e}"))?,
            Change::LastReset(at) => store
                .set_last_reset(*at)
                .map_err(|e| format!("cannot save the time of the daily reset: {e}"))?,
            Change::Hour {
                provider,
                hour,
                counts,
            } => store
                .save_hour(provider, *hour, counts)
                .map_err(|e| format!("cannot save the history of {provider}: {e}"))?,
            Change::HourPruned { provider, hour } => store
                .remove_hour(provider, *hour)
                .map_err(|e| format!("cannot delete an old hour of history: {e}"))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::secret::Secret;

    fn model(i: usize) -> Change {
        Change::Model {
            id: ModelKey {
                provider: "p".into(),
                key_id: Secret::new("sk-writer-test-0001").id(),
                model: format!("m{i}"),
            },
            record: ModelRecord::default(),
        }
    }

    fn batch(store: &Store, epoch: u64, from: usize, n: usize) -> Batch {
        Batch {
            store: store.clone(),
            epoch,
            changes: (from..from + n).map(model).collect(),
        }
    }

    #[tokio::test]
    async fn a_sync_covers_every_batch_handed_over_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let writer = Writer::start(|_, e| panic!("no write fails: {e}")).unwrap();
        for i in 0..3 {
            assert!(writer.write(batch(&store, 0, i * 100, 100)));
        }
        writer.sync(store.clone(), 0).await.unwrap().unwrap();
        assert_eq!(store.load_models().len(), 300);
        assert!(!writer.is_full(), "every batch was written");
    }

    #[tokio::test]
    async fn a_failed_write_is_told_once_and_its_store_gets_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let told = Arc::new(Mutex::new(Vec::new()));
        let heard = told.clone();
        let writer = Writer::start(move |epoch, e| heard.lock().unwrap().push((epoch, e))).unwrap();
        store.location().inject_disk_full(true);
        assert!(writer.write(batch(&store, 7, 0, 10)));
        assert!(writer.write(batch(&store, 7, 10, 10)));
        let synced = writer.sync(store.clone(), 7).await.unwrap();
        assert!(synced.is_err(), "a sync after a failed write fails");
        let told = told.lock().unwrap().clone();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0].0, 7);
        assert!(told[0].1.contains("No space left"), "{}", told[0].1);
    }

    #[test]
    fn dropping_the_writer_finishes_what_it_was_handed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let writer = Writer::start(|_, e| panic!("no write fails: {e}")).unwrap();
        assert!(writer.write(batch(&store, 0, 0, 50)));
        drop(writer);
        assert_eq!(store.load_models().len(), 50);
    }
}
