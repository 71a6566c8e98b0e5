//! Confirming a plan in Redis: `acquire.lua`, on the caller's thread.

use actix::Addr;

use super::{Leased, Plan, Refusals, SharedLease};
use crate::keypool::messages::AcquireKey;
use crate::keypool::PIN_IDLE;
use crate::keypool::{KeyPool, Lease};
use crate::shared_state::{AcquireReply, Kid, Pin};

/// What confirming a plan gave.
pub(in crate::keypool) enum Confirmed {
    Leased(Lease),
    /// No candidate can serve now: merge why, then wait.
    Refused(Refusals),
    /// Redis did not answer: the pool is degraded and leases locally.
    Unreachable,
}

// === impl Plan ===

impl Plan {
    /// The request this plan is for.
    pub(in crate::keypool) fn request(&self) -> &AcquireKey {
        &self.request
    }

    /// Runs `acquire.lua` with the candidates (one round trip), as a task
    /// of its own on this thread: a request that gives up meanwhile (its
    /// client went away) does not leave Redis holding a lease nobody
    /// releases — the lease made for nobody is dropped, which releases it.
    pub(in crate::keypool) async fn confirm(self, pool: &Addr<KeyPool>) -> Confirmed {
        if actix_rt::Arbiter::try_current().is_none() {
            return self.run(pool.clone()).await;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pool = pool.clone();
        actix_rt::spawn(async move {
            // A refused send drops the answer: a lease reports itself
            // abandoned.
            let _ = tx.send(self.run(pool).await);
        });
        rx.await.unwrap_or(Confirmed::Unreachable)
    }

    async fn run(self, pool: Addr<KeyPool>) -> Confirmed {
        let pool = &pool;
        let names = self.state.names(&self.request.provider);
        let kids: Vec<Kid> = self.candidates.iter().map(|c| c.kid.clone()).collect();
        let (model, limit, periods) = (self.request.model.clone(), self.limit, self.periods);
        let limits = self.limits;
        let pin = self.request.pin.map(|conversation| Pin {
            conversation,
            idle_ms: PIN_IDLE.as_secs() * 1000,
        });
        let ttl = self.state.lease_ttl_ms();
        let (names, kids, model) = (&names, &kids, &model);
        let scripts = self.state.scripts();
        let reply = self
            .state
            .run("acquire", |mut conn| async move {
                scripts
                    .acquire(
                        &mut conn, names, model, kids, limit, ttl, periods, pin, limits,
                    )
                    .await
            })
            .await;
        match reply {
            None => Confirmed::Unreachable,
            Some(AcquireReply::Leased {
                position,
                pinned,
                lease,
                epoch,
                ..
            }) => {
                let Some(chosen) = self.candidates.get(position).cloned() else {
                    self.state.mark_down("acquire", "a candidate out of range");
                    return Confirmed::Unreachable;
                };
                pool.do_send(Leased {
                    provider: self.request.provider.clone(),
                    model: self.request.model.clone(),
                    index: chosen.index,
                    tokens: self.request.tokens,
                    kid: chosen.kid.clone(),
                    lease,
                    epoch,
                });
                let shared = SharedLease {
                    state: self.state.clone(),
                    kid: chosen.kid,
                    lease,
                    periods: self.periods,
                    tpm: self.limits.tpm > 0,
                };
                let lease = Lease::new(
                    pool.clone(),
                    &self.request.provider,
                    &self.request.model,
                    chosen.index,
                    chosen.key,
                    lease,
                )
                .reserving(self.request.tokens);
                let pinned = pinned.and_then(|p| self.candidates.get(p)).map(|c| c.index);
                Confirmed::Leased(lease.confirmed(shared, pinned))
            }
            Some(AcquireReply::Refused { now, rests }) => Confirmed::Refused(Refusals {
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
