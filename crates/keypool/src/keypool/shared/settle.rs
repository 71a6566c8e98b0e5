//! Ending a shared lease: `report.lua` or `release.lua`, then the pool.

use actix::Addr;

use super::{SharedLease, SharedOutcome};
use crate::keypool::messages::ReportOutcome;
use crate::keypool::KeyPool;
use crate::shared_state::{Health, Judged};
use crate::vocab::Outcome;

// === impl SharedLease ===

impl SharedLease {
    /// Ends the lease in Redis, then tells the pool (with the key's health
    /// as Redis has it). Bounded by the operation timeout.
    async fn settle(self, pool: Addr<KeyPool>, mut msg: ReportOutcome) {
        let (ended, health) = self
            .end(&msg.provider, &msg.model, msg.outcome, msg.reserved)
            .await;
        msg.shared = Some(SharedOutcome {
            lease: self.lease,
            ended,
            health,
        });
        pool.do_send(msg);
    }

    /// [`SharedLease::settle`] as a task of its own, waited for: a request
    /// that gives up meanwhile does not cut it short (the pool would count
    /// the lease in flight, and renew it, forever).
    pub(in crate::keypool) async fn settle_and_wait(self, pool: Addr<KeyPool>, msg: ReportOutcome) {
        if actix_rt::Arbiter::try_current().is_none() {
            return self.settle(pool, msg).await;
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        actix_rt::spawn(async move {
            self.settle(pool, msg).await;
            let _ = done.send(());
        });
        let _ = wait.await;
    }

    /// Like [`SharedLease::settle`], without waiting: on a task of this
    /// thread, or (outside an actix thread) in the pool alone.
    pub(in crate::keypool) fn settle_later(self, pool: Addr<KeyPool>, mut msg: ReportOutcome) {
        if actix_rt::Arbiter::try_current().is_some() {
            let guard = self.state.settle_started();
            actix_rt::spawn(async move {
                self.settle(pool, msg).await;
                drop(guard);
            });
        } else {
            // Nowhere to run the script: the lease expires in Redis.
            msg.shared = Some(SharedOutcome {
                lease: self.lease,
                ended: false,
                health: None,
            });
            pool.do_send(msg);
        }
    }

    /// Whether Redis ended the lease, and the key's health there after a
    /// judging outcome.
    async fn end(
        &self,
        provider: &str,
        model: &str,
        outcome: Outcome,
        reserved: u64,
    ) -> (bool, Option<Health>) {
        // While degraded the request path leaves Redis alone: the pool
        // releases the lease on recovery.
        if !self.state.is_up() {
            return (false, None);
        }
        let names = self.state.names(provider);
        let names = &names;
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
                let released = self
                    .state
                    .run("release", |mut conn| async move {
                        scripts.release(&mut conn, names, kid, model, lease).await
                    })
                    .await;
                return (released.is_some(), None);
            }
        };
        // The answer's usage takes the place of the tokens reserved for it.
        let tokens = self.tpm.then(|| (reserved, outcome.tokens()));
        let health = self
            .state
            .run("report", |mut conn| async move {
                scripts
                    .report(&mut conn, names, kid, model, lease, judged, periods, tokens)
                    .await
            })
            .await;
        (health.is_some(), health)
    }
}
