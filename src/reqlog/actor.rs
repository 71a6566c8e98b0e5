//! The thread that writes request logs, and [`Logger`], the handle the
//! request path sends to it through.
//!
//! The queue to the writer is bounded ([`MAX_PENDING`]): when the disk
//! cannot keep up, further logs are dropped (and counted in a warning)
//! rather than held in memory. Old request directories are pruned so that
//! about `keep` remain.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use serde_json::Value;

use super::{writer, Redactor, RequestLog};

/// Logs waiting to be written; more are dropped.
pub const MAX_PENDING: usize = 1024;

/// Request directories written between two prunings.
const PRUNE_EVERY: u64 = 100;

/// The request path's handle on the log writer. Cheap to clone.
#[derive(Clone)]
pub struct Logger {
    addr: Addr<RequestLogger>,
    queue: Arc<Queue>,
}

/// What the handle and the writer share.
#[derive(Default)]
struct Queue {
    pending: AtomicUsize,
    dropped: AtomicU64,
}

/// Writes request logs on its own thread.
struct RequestLogger {
    dir: PathBuf,
    redactor: Redactor,
    keep: usize,
    written: u64,
    queue: Arc<Queue>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Write(RequestLog);

#[derive(Message)]
#[rtype(result = "()")]
struct Failure(Value);

#[derive(Message)]
#[rtype(result = "()")]
struct SetRedactor(Redactor);

// === impl Logger ===

impl Logger {
    /// Starts the writer for `dir`, keeping about `keep` request
    /// directories (0: all).
    pub fn start(dir: PathBuf, redactor: Redactor, keep: usize) -> Logger {
        let queue = Arc::new(Queue::default());
        let shared = Arc::clone(&queue);
        let addr = SyncArbiter::start(1, move || RequestLogger {
            dir: dir.clone(),
            redactor: redactor.clone(),
            keep,
            written: 0,
            queue: Arc::clone(&shared),
        });
        Logger { addr, queue }
    }

    /// Replaces the secrets to redact (after a reload).
    pub fn set_redactor(&self, redactor: Redactor) {
        self.addr.do_send(SetRedactor(redactor));
    }

    pub(super) fn write(&self, log: RequestLog) {
        if self.queue.admit() {
            self.addr.do_send(Write(log));
        }
    }

    pub(super) fn failure(&self, line: Value) {
        if self.queue.admit() {
            self.addr.do_send(Failure(line));
        }
    }
}

// === impl Queue ===

impl Queue {
    /// Takes a place in the queue, or counts a dropped log.
    fn admit(&self) -> bool {
        if self.pending.fetch_add(1, Ordering::Relaxed) < MAX_PENDING {
            return true;
        }
        self.pending.fetch_sub(1, Ordering::Relaxed);
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if dropped.is_power_of_two() {
            log::warn!(
                "request logs: the disk is not keeping up; {dropped} logs dropped so far \
                 (requests are unaffected)"
            );
        }
        false
    }

    fn done(&self) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

// === impl RequestLogger ===

impl Actor for RequestLogger {
    type Context = SyncContext<Self>;
}

impl Handler<Write> for RequestLogger {
    type Result = ();

    fn handle(&mut self, msg: Write, _: &mut Self::Context) {
        if let Err(e) = writer::write_request(&self.dir, &self.redactor, &msg.0) {
            log::warn!(
                "cannot write the request log of {}: {e}; carrying on",
                msg.0.id
            );
        }
        self.queue.done();
        if self.keep > 0 && self.written.is_multiple_of(PRUNE_EVERY) {
            match writer::prune(&self.dir, self.keep) {
                Ok(0) => {}
                Ok(n) => log::debug!("request logs: deleted the {n} oldest"),
                Err(e) => log::warn!("cannot prune old request logs: {e}; carrying on"),
            }
        }
        self.written += 1;
    }
}

impl Handler<Failure> for RequestLogger {
    type Result = ();

    fn handle(&mut self, msg: Failure, _: &mut Self::Context) {
        if let Err(e) = writer::append_failure(&self.dir, &self.redactor, &msg.0) {
            log::warn!("cannot append to failures.jsonl: {e}; carrying on");
        }
        self.queue.done();
    }
}

impl Handler<SetRedactor> for RequestLogger {
    type Result = ();

    fn handle(&mut self, msg: SetRedactor, _: &mut Self::Context) {
        self.redactor = msg.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts() {
        let queue = Queue::default();
        for _ in 0..MAX_PENDING {
            assert!(queue.admit());
        }
        assert!(!queue.admit());
        assert!(!queue.admit());
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 2);
        queue.done();
        assert!(queue.admit(), "a place freed up");
    }
}
