//! Messages the pool answers, and [`acquire`], the one way callers wait for
//! a key.

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::report::UsageReport;
use super::select::{Later, RestCause};
use super::shared::{minus, Plan, SharedOutcome};
use super::{KeyPool, Lease, Waiter, Wake};
use crate::resilience::clock::{after, until};
use crate::secret::Secret;
use crate::vocab::Outcome;

/// Asks for a key of `provider` to call `model`, skipping the keys at the
/// positions in `exclude` (already tried by this request). `wait_budget`
/// is how long the request may wait for a resting key. `prefer` names the
/// key a conversation is pinned to (sticky sessions): it is leased when it
/// could serve now, else the usual choice is made. `pin` names the
/// conversation itself: with shared state its pin is held there, for every
/// replica, and wins over `prefer` (see [`Lease::pinned`]).
#[derive(Clone, Debug, Message)]
#[rtype(result = "Result<Acquired, AcquireError>")]
pub struct AcquireKey {
    pub provider: String,
    pub model: String,
    pub exclude: Vec<usize>,
    pub wait_budget: Duration,
    pub prefer: Option<usize>,
    pub pin: Option<u64>,
    /// The prompt's estimated tokens, counted against a tokens-per-minute
    /// limit while the request is in flight (0 where none applies).
    pub tokens: u64,
}

/// How long a conversation's pin outlives its last use: providers keep a
/// prompt cache for minutes, so a conversation idle for an hour gains
/// nothing from its key.
pub const PIN_IDLE: Duration = Duration::from_secs(3600);

/// A key now, or a place in the queue.
#[derive(Debug)]
pub enum Acquired {
    Ready(Lease),
    /// No key is free; one will be sent here when it frees up.
    Wait(oneshot::Receiver<Lease>),
    /// Key state is shared: confirm one of these candidates in it
    /// ([`acquire`](super::acquire) does).
    Plan(Plan),
}

/// Why no key can be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    #[error("the provider has no keys in the pool")]
    UnknownProvider,
    /// Every key was excluded: this request has tried them all.
    /// `rest`: when the soonest key comes back and why they rest, if every
    /// key of the provider is resting for this model.
    #[error("every key has been tried")]
    Exhausted { rest: Option<Rest> },
    /// Every untried key rests (cools down or is locked out) past the
    /// request's wait budget. Told over every key of the provider, tried or
    /// not: when the first is usable again, and why they rest.
    #[error("every key is resting")]
    Resting(Rest),
    /// Every key of the provider is disabled by an operator.
    #[error("every key is disabled")]
    Disabled,
    #[error("no key became free before the deadline")]
    DeadlinePassed,
    #[error("the key pool has stopped")]
    PoolGone,
}

/// When a provider's keys are usable again, and why they rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rest {
    pub retry_after: Duration,
    pub cause: RestCause,
}

/// How a leased attempt ended; sent by [`Lease`]. With `durable`, the pool
/// answers there once the state change is on disk.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ReportOutcome {
    pub provider: String,
    pub model: String,
    pub index: usize,
    /// The lease's number in the provider's sequence.
    pub taken: u64,
    pub outcome: Outcome,
    /// The tokens the lease expected (see [`AcquireKey::tokens`]).
    pub reserved: u64,
    pub durable: Option<oneshot::Sender<()>>,
    /// For a lease confirmed in the shared state: its id there, and the
    /// key's health as the shared state now has it.
    pub shared: Option<SharedOutcome>,
}

/// An attempt to count in a key's usage without releasing the key (a
/// failure retried on the same key); sent by [`Lease::count_retried`].
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CountAttempt {
    pub provider: String,
    pub model: String,
    pub index: usize,
    pub outcome: Outcome,
}

/// A key for a call that is not a completion (listing models): the least
/// recently used key that is not locked out, without taking a slot.
#[derive(Debug, Message)]
#[rtype(result = "Option<Secret>")]
pub struct PeekKey {
    pub provider: String,
}

/// A snapshot of every key's state and usage.
#[derive(Debug, Message)]
#[rtype(result = "UsageReport")]
pub struct GetUsage;

/// Manual recovery: clears cooldowns, lockouts and failure counters of the
/// matching keys (all when every filter is `None`). Answers how many keys
/// changed, or which filter matched nothing.
#[derive(Clone, Debug, Default, Message)]
#[rtype(result = "Result<usize, String>")]
pub struct ResetCooldowns {
    pub provider: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
}

/// Writes pending state, syncs the database, closes it and stops the pool.
/// When the reply arrives the data directory is free to be opened again.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Longest a stopping pool waits for the shared state to take the usage
/// it has not sent yet.
const LAST_USAGE_WAIT: Duration = Duration::from_secs(2);

// === impl KeyPool: handlers ===

impl Handler<AcquireKey> for KeyPool {
    type Result = Result<Acquired, AcquireError>;

    fn handle(&mut self, msg: AcquireKey, ctx: &mut Self::Context) -> Self::Result {
        let now = self.now();
        let msg = match self.plan(msg) {
            Ok(plan) => return Ok(Acquired::Plan(plan)),
            Err(msg) => msg,
        };
        let provider = self
            .providers
            .get_mut(&msg.provider)
            .ok_or(AcquireError::UnknownProvider)?;
        let preferred = msg
            .prefer
            .filter(|i| !msg.exclude.contains(i) && provider.ready_now(*i, &msg.model, now));
        if let Some(index) = preferred.or_else(|| provider.pick(&msg.model, &msg.exclude, now)) {
            return provider
                .lease(
                    &msg.provider,
                    index,
                    &msg.model,
                    msg.tokens,
                    ctx.address(),
                    now,
                )
                .map(Acquired::Ready)
                .ok_or(AcquireError::UnknownProvider);
        }
        let (tx, rx) = oneshot::channel();
        self.no_key_now(&msg, Wake::Lease(tx), false, ctx)?;
        Ok(Acquired::Wait(rx))
    }
}

// === impl KeyPool: waiting ===

impl KeyPool {
    /// No key of `msg.provider` is free now: fails the request if waiting
    /// is pointless (every key tried, or resting past its wait budget), or
    /// else queues it (at the front for a waiter that retried) to be woken
    /// through `tx`.
    pub(super) fn no_key_now(
        &mut self,
        msg: &AcquireKey,
        tx: Wake,
        front: bool,
        ctx: &mut Context<Self>,
    ) -> Result<(), AcquireError> {
        let now = self.now();
        let provider = self
            .providers
            .get_mut(&msg.provider)
            .ok_or(AcquireError::UnknownProvider)?;
        // Over every key, tried ones included: what the client is told.
        let rest_of_all = |provider: &mut super::provider::ProviderPool| match provider.later(
            &msg.model,
            &[],
            now,
        ) {
            Some(Later::Resting { until: at, cause }) => Some(Rest {
                retry_after: until(now, at),
                cause,
            }),
            Some(Later::Busy { .. }) | None => None,
        };
        let wake_at = match provider.later(&msg.model, &msg.exclude, now) {
            None if all_disabled(provider.keys()) => return Err(AcquireError::Disabled),
            None => {
                return Err(AcquireError::Exhausted {
                    rest: rest_of_all(provider),
                })
            }
            // A cooling key may be back before a busy one frees up.
            Some(Later::Busy { rest_ends }) => {
                rest_ends.filter(|at| *at <= after(now, msg.wait_budget))
            }
            Some(Later::Resting { until: at, cause }) => {
                if at > after(now, msg.wait_budget) {
                    // A tried key may be resting for another reason, or
                    // back sooner, than the untried ones.
                    let rest = rest_of_all(provider).unwrap_or(Rest {
                        retry_after: until(now, at),
                        cause,
                    });
                    return Err(AcquireError::Resting(rest));
                }
                Some(at)
            }
        };
        let queue = provider.waiters.entry(msg.model.clone()).or_default();
        let waiter = Waiter {
            exclude: msg.exclude.clone(),
            tokens: msg.tokens,
            tx,
        };
        if front {
            queue.push_front(waiter);
        } else {
            queue.push_back(waiter);
        }
        if let Some(at) = wake_at {
            self.wake_at(at, ctx);
        }
        Ok(())
    }
}

/// Whether the provider has keys and an operator disabled them all.
fn all_disabled(keys: &[super::state::KeyState]) -> bool {
    let mut active = keys.iter().filter(|k| !k.retired).peekable();
    active.peek().is_some() && active.all(|k| k.disabled)
}

impl Handler<ReportOutcome> for KeyPool {
    type Result = ();

    fn handle(&mut self, msg: ReportOutcome, ctx: &mut Self::Context) {
        let now = self.now();
        let next_reset = self.next_reset(now);
        let taken = self.settled(&msg);
        let Some(provider) = self.providers.get_mut(&msg.provider) else {
            return;
        };
        // Usage counted here goes to the shared state too, if any.
        let shared = self.shared.is_some();
        let before = shared.then(|| provider.lifetime(msg.index, &msg.model));
        let lease = (taken, msg.reserved);
        provider.finish(msg.index, &msg.model, msg.outcome, lease, now, next_reset);
        if let Some(health) = msg.shared.as_ref().and_then(|s| s.health) {
            provider.adopt(msg.index, &msg.model, &health, now);
        }
        if let Some(before) = before {
            let counted = minus(provider.lifetime(msg.index, &msg.model), before);
            self.share_usage(&msg.provider, msg.index, &msg.model, counted);
        }
        let Some(provider) = self.providers.get_mut(&msg.provider) else {
            return;
        };
        provider.serve_waiters(&msg.provider, &msg.model, || ctx.address(), now);
        self.count_history(&msg.provider, msg.outcome, now);
        if msg.durable.is_some() {
            self.persist_now(msg.durable, ctx);
        }
    }
}

impl Handler<CountAttempt> for KeyPool {
    type Result = ();

    fn handle(&mut self, msg: CountAttempt, _: &mut Self::Context) {
        let now = self.now();
        if let Some(provider) = self.providers.get_mut(&msg.provider) {
            let before = self
                .shared
                .is_some()
                .then(|| provider.lifetime(msg.index, &msg.model));
            provider.count(msg.index, &msg.model, msg.outcome, now);
            if let Some(before) = before {
                let counted = minus(provider.lifetime(msg.index, &msg.model), before);
                self.share_usage(&msg.provider, msg.index, &msg.model, counted);
            }
            self.count_history(&msg.provider, msg.outcome, now);
        }
    }
}

impl Handler<PeekKey> for KeyPool {
    type Result = Option<Secret>;

    fn handle(&mut self, msg: PeekKey, _: &mut Self::Context) -> Self::Result {
        let now = self.now();
        let provider = self.providers.get(&msg.provider)?;
        provider
            .keys()
            .iter()
            .filter(|k| !k.retired && !k.disabled && !k.is_locked(now))
            .min_by_key(|k| (k.in_flight, k.last_used))
            .map(|k| k.secret.clone())
    }
}

impl Handler<GetUsage> for KeyPool {
    type Result = MessageResult<GetUsage>;

    fn handle(&mut self, _: GetUsage, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.report())
    }
}

impl Handler<ResetCooldowns> for KeyPool {
    type Result = Result<usize, String>;

    fn handle(&mut self, msg: ResetCooldowns, ctx: &mut Self::Context) -> Self::Result {
        let changed = self.clear(&msg)?;
        self.persist_now(None, ctx);
        self.serve_all_waiters(ctx);
        Ok(changed)
    }
}

impl Handler<Shutdown> for KeyPool {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        self.stop_writer();
        self.reopen_now();
        self.write_dirty();
        if let Some(store) = self.store.take() {
            if let Err(e) = store.flush() {
                log::error!("cannot sync the state database at shutdown: {e}");
            }
        }
        // With shared state, the usage not yet sent goes first.
        let last = self.last_usage();
        let sent = async move {
            if let Some(last) = last {
                if tokio::time::timeout(LAST_USAGE_WAIT, last).await.is_err() {
                    log::warn!(
                        "the shared state took over {LAST_USAGE_WAIT:?} to take the last usage"
                    );
                }
            }
        };
        Box::pin(actix::fut::wrap_future::<_, Self>(sent).map(|(), _, ctx| ctx.stop()))
    }
}
