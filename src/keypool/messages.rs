//! Messages the pool answers, and [`acquire`], the one way callers wait for
//! a key.

use actix::prelude::*;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::report::UsageReport;
use super::state::Outcome;
use super::{select, KeyPool, Lease, Waiter};
use crate::secret::Secret;

/// Asks for a key of `provider` to call `model`, skipping the keys at the
/// positions in `exclude` (already tried by this request).
#[derive(Debug, Message)]
#[rtype(result = "Result<Acquired, AcquireError>")]
pub struct AcquireKey {
    pub provider: String,
    pub model: String,
    pub exclude: Vec<usize>,
}

/// A key now, or a place in the queue.
#[derive(Debug)]
pub enum Acquired {
    Ready(Lease),
    /// No key is free; one will be sent here when it frees up.
    Wait(oneshot::Receiver<Lease>),
}

/// Why no key can be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    #[error("the provider has no keys in the pool")]
    UnknownProvider,
    /// Every key was excluded: this request has tried them all.
    #[error("every key has been tried")]
    Exhausted,
    #[error("no key became free before the deadline")]
    DeadlinePassed,
    #[error("the key pool has stopped")]
    PoolGone,
}

/// How a leased attempt ended; sent by [`Lease`].
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ReportOutcome {
    pub provider: String,
    pub model: String,
    pub index: usize,
    pub outcome: Outcome,
}

/// A key for a call that is not a completion (listing models): the least
/// recently used key, without taking a concurrency slot.
#[derive(Debug, Message)]
#[rtype(result = "Option<Secret>")]
pub struct PeekKey {
    pub provider: String,
}

/// A snapshot of every key's state and usage.
#[derive(Debug, Message)]
#[rtype(result = "UsageReport")]
pub struct GetUsage;

/// Writes pending usage, syncs the database, closes it and stops the pool.
/// When the reply arrives the data directory is free to be opened again.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Gets a lease for `request`, waiting (first come, first served) until
/// `deadline` when every key is busy.
pub async fn acquire(
    pool: &Addr<KeyPool>,
    request: AcquireKey,
    deadline: Instant,
) -> Result<Lease, AcquireError> {
    let reply = tokio::time::timeout_at(deadline, pool.send(request))
        .await
        .map_err(|_| AcquireError::DeadlinePassed)?
        .map_err(|_| AcquireError::PoolGone)??;
    match reply {
        Acquired::Ready(lease) => Ok(lease),
        Acquired::Wait(rx) => match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(lease)) => Ok(lease),
            Ok(Err(_)) => Err(AcquireError::PoolGone),
            Err(_) => Err(AcquireError::DeadlinePassed),
        },
    }
}

// === impl KeyPool: handlers ===

impl Handler<AcquireKey> for KeyPool {
    type Result = Result<Acquired, AcquireError>;

    fn handle(&mut self, msg: AcquireKey, ctx: &mut Self::Context) -> Self::Result {
        let provider = self
            .providers
            .get_mut(&msg.provider)
            .ok_or(AcquireError::UnknownProvider)?;
        if let Some(index) = select::pick(&provider.keys, &msg.model, provider.limit, &msg.exclude)
        {
            return provider
                .lease(&msg.provider, index, &msg.model, ctx.address())
                .map(Acquired::Ready)
                .ok_or(AcquireError::Exhausted);
        }
        if !select::any_candidate(&provider.keys, &msg.exclude) {
            return Err(AcquireError::Exhausted);
        }
        let (tx, rx) = oneshot::channel();
        provider
            .waiters
            .entry(msg.model)
            .or_default()
            .push_back(Waiter {
                exclude: msg.exclude,
                tx,
            });
        Ok(Acquired::Wait(rx))
    }
}

impl Handler<ReportOutcome> for KeyPool {
    type Result = ();

    fn handle(&mut self, msg: ReportOutcome, ctx: &mut Self::Context) {
        let Some(provider) = self.providers.get_mut(&msg.provider) else {
            return;
        };
        provider.release(msg.index, &msg.model);
        if msg.outcome != Outcome::Abandoned {
            if let Some(key) = provider.keys.get_mut(msg.index) {
                let model = key.model_mut(&msg.model);
                model.usage.daily.record(msg.outcome);
                model.usage.lifetime.record(msg.outcome);
                model.dirty = true;
            }
        }
        provider.serve_waiters(&msg.provider, &msg.model, &ctx.address());
    }
}

impl Handler<PeekKey> for KeyPool {
    type Result = Option<Secret>;

    fn handle(&mut self, msg: PeekKey, _: &mut Self::Context) -> Self::Result {
        let provider = self.providers.get(&msg.provider)?;
        provider
            .keys
            .iter()
            .min_by_key(|k| (k.in_flight, k.last_used))
            .map(|k| k.secret.clone())
    }
}

impl Handler<GetUsage> for KeyPool {
    type Result = MessageResult<GetUsage>;

    fn handle(&mut self, _: GetUsage, _: &mut Self::Context) -> Self::Result {
        MessageResult(UsageReport::of(
            self.providers
                .iter()
                .map(|(name, p)| (name.as_str(), p.keys.as_slice())),
        ))
    }
}

impl Handler<Shutdown> for KeyPool {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        self.write_dirty();
        if let Some(store) = self.store.take() {
            if let Err(e) = store.flush() {
                log::error!("cannot sync the state database at shutdown: {e}");
            }
        }
        ctx.stop();
    }
}
