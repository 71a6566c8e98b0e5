//! The pool as one replica of several sharing key state through Redis.
//!
//! The pool plans, the caller confirms: [`KeyPool::plan`] answers an
//! `AcquireKey` with the candidate keys, best first by the local rank (no
//! I/O in the actor); [`acquire`](super::acquire) runs `acquire.lua` with
//! them in the caller's task, which leases one atomically on Redis's clock
//! or says why none can serve. A lease is then told to the pool
//! ([`Leased`]), a refusal merged into its view ([`Refused`]), which queues
//! the request to try again. A lease's outcome goes to Redis first
//! (`report.lua` or `release.lua`), then to the pool with the key's health
//! as Redis has it.
//!
//! Background work runs on the pool's thread as spawned futures: waiters
//! retry every [`POLL_INTERVAL`] (a replica that died holding a key
//! publishes nothing), leases older than a third of their ttl are renewed,
//! and a degraded pool probes Redis.
//!
//! Files: `confirm.rs` (the acquire script, in the caller's task),
//! `settle.rs` (a lease's end), `jobs.rs` (the background work),
//! `usage.rs` (usage batches), `report.rs` (reports from the shared state),
//! `disabled.rs` (disabled keys read back),
//! `clear.rs` (manual recovery), `recover.rs` (after an outage), `wake.rs`
//! (wake-ups published by other replicas).

mod clear;
mod confirm;
mod disabled;
mod jobs;
mod recover;
mod report;
mod settle;
mod usage;
mod wake;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::messages::{AcquireError, AcquireKey, ReportOutcome};
use super::select::{standing, Standing};
use super::{KeyPool, Wake};
use crate::secret::Secret;
use crate::shared_state::{Health, Kid, LimitArgs, Periods, Refusal, SharedState};
use crate::vocab::Outcome;
pub use clear::reset_cooldowns;
pub(super) use confirm::Confirmed;
pub use report::usage_report;
pub(super) use usage::minus;

/// How often the oldest waiter of each queue tries again, and a degraded
/// pool probes Redis.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Most candidates one acquire sends: the locally best ones.
const MAX_CANDIDATES: usize = 32;

/// The pool's side of the shared state.
pub(super) struct Replica {
    state: Arc<SharedState>,
    /// Leases confirmed in Redis and not yet ended, by id: renewed while
    /// they run.
    live: HashMap<u64, LiveLease>,
    /// A probe of a degraded Redis is under way.
    probing: bool,
    /// Drawn at each start: names this replica's usage batches in Redis.
    id: String,
    /// Usage on its way to Redis, per provider.
    usage: HashMap<String, usage::UsageQueue>,
    /// (provider, key position, model) whose health changed while Redis
    /// did not hear of it: merged on recovery.
    marked: HashSet<(String, usize, String)>,
    /// Leases that ended while Redis did not answer: released on recovery
    /// (or they would hold their slot until they expire).
    unreleased: Vec<(LiveLease, u64)>,
    /// The reset periods, while the current one lasts.
    periods: Option<Periods>,
}

struct LiveLease {
    provider: String,
    model: String,
    kid: Kid,
    since: Instant,
    /// The life of Redis it was taken in (see `AcquireReply::Leased`).
    epoch: String,
}

/// Where a key goes in a plan: free ones by rank (tier, successes, last
/// used), then busy ones (least recently used first), then resting ones
/// (soonest back first).
type PlanOrder = (u8, u8, u64, u64, i64);

/// The candidates of one acquire, to confirm in the shared state.
#[derive(Debug)]
pub struct Plan {
    state: Arc<SharedState>,
    /// The request planned for (handed back to retry or queue it).
    request: AcquireKey,
    candidates: Vec<Candidate>,
    limit: Option<u32>,
    periods: Periods,
    /// The per-key limits for the model, counted in Redis.
    limits: LimitArgs,
}

#[derive(Clone, Debug)]
struct Candidate {
    index: usize,
    kid: Kid,
    key: Secret,
}

/// A lease confirmed in Redis: ended there when it finishes.
#[derive(Debug)]
pub(super) struct SharedLease {
    state: Arc<SharedState>,
    kid: Kid,
    lease: u64,
    periods: Periods,
    /// A tokens-per-minute limit counts this lease's tokens in Redis.
    tpm: bool,
}

/// A shared lease's end, as the pool learns it.
#[derive(Debug)]
pub struct SharedOutcome {
    lease: u64,
    /// Redis ended the lease (else the pool releases it on recovery).
    ended: bool,
    /// The key's health after `report.lua`; `None` for a release, or when
    /// Redis did not answer.
    pub(super) health: Option<Health>,
}

/// Redis leased a candidate: the pool counts it in flight.
#[derive(Message)]
#[rtype(result = "()")]
struct Leased {
    provider: String,
    model: String,
    index: usize,
    tokens: u64,
    kid: Kid,
    lease: u64,
    epoch: String,
}

/// Why Redis refused every candidate: per key position, on its clock.
pub(super) struct Refusals {
    redis_now: i64,
    rests: Vec<(usize, Refusal)>,
}

/// Queues `request` after `refusals` (merged into the local view first).
#[derive(Message)]
#[rtype(result = "Result<oneshot::Receiver<()>, AcquireError>")]
pub(super) struct Refused {
    pub(super) request: AcquireKey,
    /// A waiter that retried keeps its place at the front.
    pub(super) retry: bool,
    pub(super) refusals: Refusals,
}

// === impl Replica ===

impl Replica {
    pub(super) fn new(state: Arc<SharedState>) -> Replica {
        Replica {
            state,
            live: HashMap::new(),
            probing: false,
            id: replica_id(),
            usage: HashMap::new(),
            marked: HashSet::new(),
            unreleased: Vec::new(),
            periods: None,
        }
    }
}

/// Lets the oldest request of `queue` that waits to retry (the shared
/// state decides) try again now.
fn wake_oldest(queue: &mut std::collections::VecDeque<super::Waiter>) {
    while queue.front().is_some_and(|w| w.tx.is_closed()) {
        queue.pop_front();
    }
    if queue
        .front()
        .is_some_and(|w| matches!(w.tx, Wake::Retry(_)))
    {
        if let Some(Wake::Retry(tx)) = queue.pop_front().map(|w| w.tx) {
            let _ = tx.send(());
        }
    }
}

/// A random id for this run of the replica (not a host name: two
/// containers may share one): 128 bits from the process's random hasher
/// keys, its id and the time.
fn replica_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut id = String::new();
    for part in 0u8..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(part);
        hasher.write_u32(std::process::id());
        hasher.write_u128(std::time::Instant::now().elapsed().as_nanos());
        id.push_str(&format!("{:016x}", hasher.finish()));
    }
    id
}

/// Starts the pool's background work for the shared state.
pub(super) fn start_timers(pool: &KeyPool, ctx: &mut Context<KeyPool>) {
    let Some(replica) = &pool.shared else {
        return;
    };
    wake::listen(pool, ctx);
    ctx.run_interval(POLL_INTERVAL, |pool, ctx| pool.poll_shared(ctx));
    let every = replica.state.lease_ttl() / 3;
    ctx.run_interval(every, move |pool, _| pool.renew_leases(every));
    pool.sync_disabled(ctx);
    ctx.run_interval(disabled::DISABLED_SYNC, |pool, ctx| pool.sync_disabled(ctx));
}

// === impl KeyPool: the shared state ===

impl KeyPool {
    /// The plan for `msg` when key state is shared and Redis answers:
    /// every key not tried, best first by the local rank (free keys, then
    /// busy ones, then resting ones by when they are back).
    /// `Err` gives the request back: the pool answers it alone.
    // The request goes back by value: boxing it would allocate on every
    // acquire of a pool without shared state.
    #[allow(clippy::result_large_err)]
    pub(super) fn plan(&mut self, msg: AcquireKey) -> Result<Plan, AcquireKey> {
        let Some(state) = self.shared.as_ref().map(|r| r.state.clone()) else {
            return Err(msg);
        };
        if !state.is_up() {
            return Err(msg);
        }
        let now = self.now();
        let periods = self.periods(now);
        let Some(provider) = self.providers.get(&msg.provider) else {
            return Err(msg);
        };
        let mut ranked: Vec<(PlanOrder, usize)> = Vec::new();
        for (index, key) in provider.keys().iter().enumerate() {
            if msg.exclude.contains(&index) {
                continue;
            }
            let order = match standing(key, index, &msg.model, provider.limit(), now) {
                Standing::Retired => continue,
                // This replica counts the limits: Redis cannot overrule it.
                Standing::Resting(_) if key.is_capped(&msg.model, now) => continue,
                Standing::Ready(rank) => (0, rank.tier, rank.successes, rank.last_used, 0),
                Standing::Full => (1, 0, 0, key.last_used, 0),
                Standing::Resting(until) => (2, 0, 0, 0, until.timestamp_millis()),
            };
            ranked.push((order, index));
        }
        if ranked.is_empty() {
            return Err(msg);
        }
        ranked.sort_unstable();
        // The pin this replica knows goes first, so a pool of more keys
        // than candidates keeps it in the plan (Redis's pin, if another
        // replica moved it, is found when it ranks among them).
        if let Some(at) = msg
            .prefer
            .and_then(|p| ranked.iter().position(|(_, i)| *i == p))
        {
            let pinned = ranked.remove(at);
            ranked.insert(0, pinned);
        }
        let candidates = ranked
            .into_iter()
            .take(MAX_CANDIDATES)
            .filter_map(|(_, index)| {
                let key = provider.keys().get(index)?.secret.clone();
                Some(Candidate {
                    index,
                    kid: state.key_id(&key),
                    key,
                })
            })
            .collect();
        let limits = provider
            .caps(&msg.model, now)
            .map(|(caps, span)| LimitArgs {
                rpm: caps.rpm.unwrap_or(0),
                rpd: caps.rpd.unwrap_or(0),
                tpm: caps.tpm.unwrap_or(0),
                day: span.day,
                next_day: span.next_day.timestamp_millis(),
                tokens: msg.tokens,
            })
            .unwrap_or_default();
        Ok(Plan {
            periods,
            limits,
            limit: provider.limit(),
            candidates,
            state,
            request: msg,
        })
    }

    /// The reset periods at `now`, computed once per period.
    fn periods(&mut self, now: chrono::DateTime<chrono::Utc>) -> Periods {
        let ms = now.timestamp_millis();
        let known = self.shared.as_ref().and_then(|r| r.periods);
        if let Some(periods) = known.filter(|p| p.current <= ms && ms < p.next) {
            return periods;
        }
        let periods = Periods::of(&self.schedule, now);
        if let Some(replica) = &mut self.shared {
            replica.periods = Some(periods);
        }
        periods
    }

    /// Notes usage just counted (`counted`) for sending to the shared
    /// state, in the bucket of the current reset period.
    pub(super) fn share_usage(
        &mut self,
        provider: &str,
        index: usize,
        model: &str,
        counted: crate::vocab::Counters,
    ) {
        if self.shared.is_none() {
            return;
        }
        let now = self.now();
        self.next_reset(now);
        let period = self.day.map_or(0, |(from, _)| from.timestamp_millis());
        if let Some(replica) = &mut self.shared {
            replica.count(provider, index, model, period, counted);
        }
    }

    /// The lease number to apply an outcome with: a shared lease leaves
    /// the live set, and its failure is a step of the local ladder (Redis
    /// keeps the real one, adopted after).
    pub(super) fn settled(&mut self, msg: &ReportOutcome) -> u64 {
        let Some(replica) = &mut self.shared else {
            return msg.taken;
        };
        // A failure Redis did not hear of changed the local view alone:
        // merged into the shared state on recovery.
        let heard = msg.shared.as_ref().is_some_and(|s| s.health.is_some());
        if matches!(msg.outcome, Outcome::Failed(_)) && !heard {
            replica
                .marked
                .insert((msg.provider.clone(), msg.index, msg.model.clone()));
        }
        let Some(done) = &msg.shared else {
            return msg.taken;
        };
        if let Some(live) = replica.live.remove(&done.lease) {
            if !done.ended {
                replica.unreleased.push((live, done.lease));
            }
        }
        self.providers
            .get(&msg.provider)
            .map_or(0, |p| p.latest_seq())
    }
}

impl Handler<Leased> for KeyPool {
    type Result = ();

    fn handle(&mut self, msg: Leased, _: &mut Self::Context) {
        let now = self.now();
        if let Some(provider) = self.providers.get_mut(&msg.provider) {
            provider.take(msg.index, &msg.model, msg.tokens, now);
        }
        if let Some(replica) = &mut self.shared {
            replica.live.insert(
                msg.lease,
                LiveLease {
                    provider: msg.provider,
                    model: msg.model,
                    kid: msg.kid,
                    since: Instant::now(),
                    epoch: msg.epoch,
                },
            );
        }
    }
}

impl Handler<Refused> for KeyPool {
    type Result = Result<oneshot::Receiver<()>, AcquireError>;

    fn handle(&mut self, msg: Refused, ctx: &mut Self::Context) -> Self::Result {
        let now = self.now();
        let (request, refusals) = (msg.request, msg.refusals);
        if let Some(provider) = self.providers.get_mut(&request.provider) {
            provider.merge_rests(&request.model, &refusals.rests, refusals.redis_now, now);
        }
        let (tx, rx) = oneshot::channel();
        self.no_key_now(&request, Wake::Retry(tx), msg.retry, ctx)?;
        Ok(rx)
    }
}

#[cfg(test)]
mod tests;
