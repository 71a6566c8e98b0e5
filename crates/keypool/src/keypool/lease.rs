//! A `Lease` is the right to use one key for one attempt at one model.

use std::time::Duration;

use actix::Addr;
use tokio::sync::oneshot;

use super::messages::{CountAttempt, ReportOutcome};
use super::shared::SharedLease;
use super::KeyPool;
use crate::secret::Secret;
use crate::vocab::{Failure, FailureKind, Outcome};

/// Longest a request waits for its key-state change to reach the disk.
pub const DURABILITY_WAIT: Duration = Duration::from_secs(2);

/// Held while an attempt runs. [`Lease::finish`] reports how it went; a lease
/// dropped without finishing (the client disconnected, the handler bailed
/// out) reports [`Outcome::Abandoned`], so the key is always released.
#[derive(Debug)]
pub struct Lease {
    pool: Addr<KeyPool>,
    provider: String,
    model: String,
    index: usize,
    key: Secret,
    /// The lease's number in its provider's sequence: failures of leases
    /// in flight together are one step of the cooldown ladder.
    seq: u64,
    done: bool,
    /// Confirmed in the shared state: ended there by a script.
    shared: Option<SharedLease>,
    /// The key the conversation was pinned to in the shared state.
    pinned: Option<usize>,
    /// Tokens counted against the key's tokens-per-minute limit until the
    /// answer's usage replaces them.
    reserved: u64,
}

// === impl Lease ===

impl Lease {
    pub(super) fn new(
        pool: Addr<KeyPool>,
        provider: &str,
        model: &str,
        index: usize,
        key: Secret,
        seq: u64,
    ) -> Lease {
        Lease {
            pool,
            provider: provider.to_string(),
            model: model.to_string(),
            index,
            key,
            seq,
            done: false,
            shared: None,
            pinned: None,
            reserved: 0,
        }
    }

    /// The lease counts `tokens` expected against the key's limit.
    pub(super) fn reserving(mut self, tokens: u64) -> Lease {
        self.reserved = tokens;
        self
    }

    /// A lease the shared state confirmed: its outcome goes there first.
    /// `pinned`: the key the request's conversation was pinned to there.
    pub(super) fn confirmed(mut self, shared: SharedLease, pinned: Option<usize>) -> Lease {
        self.shared = Some(shared);
        self.pinned = pinned;
        self
    }

    /// With shared state, the position of the key the request's
    /// conversation ([`AcquireKey::pin`](super::AcquireKey)) was pinned to
    /// when this lease was made, if that key was a candidate: the pin every
    /// replica sees. `None` without shared state (the caller's own pin is
    /// the one).
    pub fn pinned(&self) -> Option<usize> {
        self.pinned
    }

    /// The key to send upstream.
    pub fn key(&self) -> &Secret {
        &self.key
    }

    /// The key's position in its provider's pool (stable for a pool's life).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Reports the attempt's outcome and releases the key.
    pub fn finish(mut self, outcome: Outcome) {
        self.report(outcome, None);
    }

    /// Like [`Lease::finish`], and waits until the key state the outcome
    /// changes (a cooldown, a lockout) is on disk — so a crash right after
    /// the client's answer cannot forget it. Waits at most
    /// [`DURABILITY_WAIT`]: a stuck disk must not hang requests.
    pub async fn finish_durably(mut self, outcome: Outcome) {
        if let Some(shared) = self.shared.take() {
            // Shared before the request moves on: every acquire Redis
            // orders after this refuses the key.
            self.done = true;
            let msg = self.message(outcome, None);
            shared.settle_and_wait(self.pool.clone(), msg).await;
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.report(outcome, Some(tx));
        if tokio::time::timeout(DURABILITY_WAIT, rx).await.is_err() {
            log::warn!("the state database took over {DURABILITY_WAIT:?} to sync");
        }
    }

    /// Counts a failed attempt that will be retried on this same key: it
    /// shows in the key's usage (requests, failures), but the key stays
    /// leased and its health is judged when the lease finishes.
    pub fn count_retried(&self, kind: FailureKind) {
        self.pool.do_send(CountAttempt {
            provider: self.provider.clone(),
            model: self.model.clone(),
            index: self.index,
            outcome: Outcome::Failed(Failure { kind, hint: None }),
        });
    }

    /// Forgets the lease without reporting; the pool has already undone it.
    pub(super) fn disarm(mut self) {
        self.done = true;
    }

    fn report(&mut self, outcome: Outcome, durable: Option<oneshot::Sender<()>>) {
        if self.done {
            return;
        }
        self.done = true;
        let msg = self.message(outcome, durable);
        match self.shared.take() {
            Some(shared) => shared.settle_later(self.pool.clone(), msg),
            None => self.pool.do_send(msg),
        }
    }

    fn message(&mut self, outcome: Outcome, durable: Option<oneshot::Sender<()>>) -> ReportOutcome {
        ReportOutcome {
            provider: std::mem::take(&mut self.provider),
            model: std::mem::take(&mut self.model),
            index: self.index,
            taken: self.seq,
            outcome,
            reserved: self.reserved,
            durable,
            shared: None,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.report(Outcome::Abandoned, None);
    }
}
