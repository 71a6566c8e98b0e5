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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::messages::{AcquireError, AcquireKey, ReportOutcome};
use super::select::{standing, Standing};
use super::{KeyPool, Lease, Wake};
use crate::secret::Secret;
use crate::shared_state::{AcquireReply, Health, Judged, Kid, Periods, Refusal, SharedState};
use crate::vocab::Outcome;

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
}

struct LiveLease {
    provider: String,
    model: String,
    kid: Kid,
    since: Instant,
}

/// Where a key goes in a plan: free ones by rank (tier, successes, last
/// used), then busy ones (least recently used first), then resting ones
/// (soonest back first).
type PlanOrder = (u8, u8, u64, u64, i64);

/// The candidates of one acquire, to confirm in the shared state.
#[derive(Debug)]
pub struct Plan {
    state: Arc<SharedState>,
    provider: String,
    model: String,
    candidates: Vec<Candidate>,
    limit: Option<u32>,
    periods: Periods,
}

#[derive(Clone, Debug)]
struct Candidate {
    index: usize,
    kid: Kid,
    key: Secret,
}

/// What confirming a plan gave.
pub(super) enum Confirmed {
    Leased(Lease),
    /// No candidate can serve now: merge why, then wait.
    Refused(Refused),
    /// Redis did not answer: the pool is degraded and leases locally.
    Unreachable,
}

/// A lease confirmed in Redis: ended there when it finishes.
#[derive(Debug)]
pub(super) struct SharedLease {
    state: Arc<SharedState>,
    kid: Kid,
    lease: u64,
    periods: Periods,
}

/// A shared lease's end, as the pool learns it.
#[derive(Debug)]
pub struct SharedOutcome {
    lease: u64,
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
    kid: Kid,
    lease: u64,
}

/// Redis refused every candidate: why, per key position, on its clock.
#[derive(Message)]
#[rtype(result = "Result<oneshot::Receiver<()>, AcquireError>")]
pub(super) struct Refused {
    request: Option<AcquireKey>,
    /// A waiter that retried keeps its place at the front.
    retry: bool,
    redis_now: i64,
    rests: Vec<(usize, Refusal)>,
}

// === impl Replica ===

impl Replica {
    pub(super) fn new(state: Arc<SharedState>) -> Replica {
        Replica {
            state,
            live: HashMap::new(),
            probing: false,
        }
    }
}

/// Starts the pool's background work for the shared state.
pub(super) fn start_timers(replica: &Replica, ctx: &mut Context<KeyPool>) {
    ctx.run_interval(POLL_INTERVAL, |pool, ctx| pool.poll_shared(ctx));
    let every = replica.state.lease_ttl() / 3;
    ctx.run_interval(every, move |pool, _| pool.renew_leases(every));
}

// === impl Plan ===

impl Plan {
    /// Runs `acquire.lua` with the candidates (one round trip).
    pub(super) async fn confirm(self, pool: &Addr<KeyPool>) -> Confirmed {
        let names = self.state.names(&self.provider);
        let kids: Vec<Kid> = self.candidates.iter().map(|c| c.kid.clone()).collect();
        let (model, limit, periods) = (self.model.clone(), self.limit, self.periods);
        let ttl = self.state.lease_ttl_ms();
        let scripts = self.state.scripts();
        let reply = self
            .state
            .run("acquire", |mut conn| async move {
                scripts
                    .acquire(&mut conn, &names, &model, &kids, limit, ttl, periods)
                    .await
            })
            .await;
        match reply {
            None => Confirmed::Unreachable,
            Some(AcquireReply::Leased {
                position, lease, ..
            }) => {
                let Some(chosen) = self.candidates.get(position).cloned() else {
                    self.state.mark_down("acquire", "a candidate out of range");
                    return Confirmed::Unreachable;
                };
                pool.do_send(Leased {
                    provider: self.provider.clone(),
                    model: self.model.clone(),
                    index: chosen.index,
                    kid: chosen.kid.clone(),
                    lease,
                });
                let shared = SharedLease {
                    state: self.state.clone(),
                    kid: chosen.kid,
                    lease,
                    periods: self.periods,
                };
                let lease = Lease::new(
                    pool.clone(),
                    &self.provider,
                    &self.model,
                    chosen.index,
                    chosen.key,
                    lease,
                );
                Confirmed::Leased(lease.confirmed(shared))
            }
            Some(AcquireReply::Refused { now, rests }) => Confirmed::Refused(Refused {
                request: None,
                retry: false,
                redis_now: now,
                rests: self
                    .candidates
                    .iter()
                    .zip(rests)
                    .map(|(c, r)| (c.index, r))
                    .collect(),
            }),
        }
    }
}

// === impl Refused ===

impl Refused {
    /// The message that queues `request` after this refusal.
    pub(super) fn into_message(mut self, request: AcquireKey, retry: bool) -> Refused {
        self.request = Some(request);
        self.retry = retry;
        self
    }
}

// === impl SharedLease ===

impl SharedLease {
    /// Ends the lease in Redis, then tells the pool (with the key's health
    /// as Redis has it). Bounded by the operation timeout.
    pub(super) async fn settle(self, pool: Addr<KeyPool>, mut msg: ReportOutcome) {
        let health = self.end(&msg.provider, &msg.model, msg.outcome).await;
        msg.shared = Some(SharedOutcome {
            lease: self.lease,
            health,
        });
        pool.do_send(msg);
    }

    /// Like [`SharedLease::settle`], without waiting: on a task of this
    /// thread, or (outside an actix thread) in the pool alone.
    pub(super) fn settle_later(self, pool: Addr<KeyPool>, mut msg: ReportOutcome) {
        if actix_rt::Arbiter::try_current().is_some() {
            actix_rt::spawn(self.settle(pool, msg));
        } else {
            // Nowhere to run the script: the lease expires in Redis.
            msg.shared = Some(SharedOutcome {
                lease: self.lease,
                health: None,
            });
            pool.do_send(msg);
        }
    }

    async fn end(&self, provider: &str, model: &str, outcome: Outcome) -> Option<Health> {
        // While degraded the request path leaves Redis alone; the lease
        // expires there by itself.
        if !self.state.is_up() {
            return None;
        }
        let names = self.state.names(provider);
        let scripts = self.state.scripts();
        let (kid, lease, periods) = (self.kid.as_str(), self.lease, self.periods);
        let judged = match outcome {
            Outcome::Success { .. } => Judged::Success,
            Outcome::Failed(failure) => Judged::Failure {
                kind: failure.kind,
                hint_ms: failure
                    .hint
                    .map(|h| u64::try_from(h.as_millis()).unwrap_or(u64::MAX)),
            },
            Outcome::ClientError | Outcome::Interrupted { .. } | Outcome::Abandoned => {
                self.state
                    .run("release", |mut conn| async move {
                        scripts.release(&mut conn, &names, kid, model, lease).await
                    })
                    .await;
                return None;
            }
        };
        self.state
            .run("report", |mut conn| async move {
                scripts
                    .report(&mut conn, &names, kid, model, lease, judged, periods)
                    .await
            })
            .await
    }
}

// === impl KeyPool: the shared state ===

impl KeyPool {
    /// The plan for `msg` when key state is shared and Redis answers:
    /// every key not tried, best first by the local rank (free keys, then
    /// busy ones, then resting ones by when they are back).
    pub(super) fn plan(&mut self, msg: &AcquireKey) -> Option<Plan> {
        let state = self.shared.as_ref()?.state.clone();
        if !state.is_up() {
            return None;
        }
        let now = self.now();
        let provider = self.providers.get(&msg.provider)?;
        let mut ranked: Vec<(PlanOrder, usize)> = Vec::new();
        for (index, key) in provider.keys().iter().enumerate() {
            if msg.exclude.contains(&index) {
                continue;
            }
            let order = match standing(key, index, &msg.model, provider.limit(), now) {
                Standing::Retired => continue,
                Standing::Ready(rank) => (0, rank.tier, rank.successes, rank.last_used, 0),
                Standing::Full => (1, 0, 0, key.last_used, 0),
                Standing::Resting(until) => (2, 0, 0, 0, until.timestamp_millis()),
            };
            ranked.push((order, index));
        }
        if ranked.is_empty() {
            return None;
        }
        ranked.sort_unstable();
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
        Some(Plan {
            periods: Periods::of(&self.schedule, now),
            provider: msg.provider.clone(),
            model: msg.model.clone(),
            limit: provider.limit(),
            candidates,
            state,
        })
    }

    /// The lease number to apply an outcome with: a shared lease leaves
    /// the live set, and its failure is a step of the local ladder (Redis
    /// keeps the real one, adopted after).
    pub(super) fn settled(&mut self, msg: &ReportOutcome) -> u64 {
        let (Some(done), Some(replica)) = (&msg.shared, &mut self.shared) else {
            return msg.taken;
        };
        replica.live.remove(&done.lease);
        self.providers
            .get(&msg.provider)
            .map_or(0, |p| p.latest_seq())
    }

    /// Every [`POLL_INTERVAL`]: probes a degraded Redis, and lets the
    /// oldest waiter of each queue try again.
    fn poll_shared(&mut self, ctx: &mut Context<Self>) {
        let Some(replica) = &mut self.shared else {
            return;
        };
        if !replica.state.is_up() && !replica.probing {
            replica.probing = true;
            let state = replica.state.clone();
            let probe = async move { state.probe().await };
            ctx.spawn(probe.into_actor(self).map(|answered, pool, _| {
                if let Some(replica) = &mut pool.shared {
                    replica.probing = false;
                    if answered {
                        replica.state.mark_up();
                    }
                }
            }));
        }
        for provider in self.providers.values_mut() {
            for queue in provider.waiters.values_mut() {
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
            provider.waiters.retain(|_, q| !q.is_empty());
        }
    }

    /// Renews, in one call per provider, the leases running for over
    /// `age`; Redis keeps them for another lease ttl.
    fn renew_leases(&mut self, age: Duration) {
        let Some(replica) = &self.shared else {
            return;
        };
        if !replica.state.is_up() || actix_rt::Arbiter::try_current().is_none() {
            return;
        }
        let mut due: HashMap<&str, Vec<(Kid, String, u64)>> = HashMap::new();
        for (id, live) in &replica.live {
            if live.since.elapsed() >= age {
                due.entry(live.provider.as_str()).or_default().push((
                    live.kid.clone(),
                    live.model.clone(),
                    *id,
                ));
            }
        }
        for (provider, leases) in due {
            let state = replica.state.clone();
            let names = state.names(provider);
            actix_rt::spawn(async move {
                let ttl = state.lease_ttl_ms();
                let scripts = state.scripts();
                let lost = state
                    .run("renew", |mut conn| async move {
                        scripts.renew(&mut conn, &names, &leases, ttl).await
                    })
                    .await;
                if let Some(lost) = lost.filter(|l| !l.is_empty()) {
                    log::warn!(
                        "{} lease(s) had expired in the shared state before renewal (this \
                         replica stalled?); their calls go on",
                        lost.len()
                    );
                }
            });
        }
    }
}

impl Handler<Leased> for KeyPool {
    type Result = ();

    fn handle(&mut self, msg: Leased, _: &mut Self::Context) {
        let now = self.now();
        if let Some(provider) = self.providers.get_mut(&msg.provider) {
            provider.take(msg.index, &msg.model, now);
        }
        if let Some(replica) = &mut self.shared {
            replica.live.insert(
                msg.lease,
                LiveLease {
                    provider: msg.provider,
                    model: msg.model,
                    kid: msg.kid,
                    since: Instant::now(),
                },
            );
        }
    }
}

impl Handler<Refused> for KeyPool {
    type Result = Result<oneshot::Receiver<()>, AcquireError>;

    fn handle(&mut self, msg: Refused, ctx: &mut Self::Context) -> Self::Result {
        let now = self.now();
        let request = msg.request.ok_or(AcquireError::UnknownProvider)?;
        if let Some(provider) = self.providers.get_mut(&request.provider) {
            provider.merge_rests(&request.model, &msg.rests, msg.redis_now, now);
        }
        let (tx, rx) = oneshot::channel();
        self.no_key_now(&request, Wake::Retry(tx), msg.retry, ctx)?;
        Ok(rx)
    }
}
