//! The pool's background work for the shared state, on its own thread:
//! the poll that lets waiters retry and probes a degraded Redis, and lease
//! renewal.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;

use crate::keypool::KeyPool;
use crate::shared_state::Kid;

// === impl KeyPool: background jobs ===

impl KeyPool {
    /// Every [`POLL_INTERVAL`]: probes a degraded Redis, and lets the
    /// oldest waiter of each queue try again.
    pub(super) fn poll_shared(&mut self, ctx: &mut Context<Self>) {
        let Some(replica) = &mut self.shared else {
            return;
        };
        if !replica.state.is_up() && !replica.probing {
            replica.probing = true;
            let state = replica.state.clone();
            let probe = async move { state.probe().await };
            ctx.spawn(probe.into_actor(self).map(|answered, pool, ctx| {
                if answered {
                    pool.recover(ctx);
                } else if let Some(replica) = &mut pool.shared {
                    replica.probing = false;
                }
            }));
        }
        for provider in self.providers.values_mut() {
            provider.waiters.values_mut().for_each(super::wake_oldest);
            provider.waiters.retain(|_, q| !q.is_empty());
        }
        self.flush_usage(ctx);
    }

    /// Renews, in one call per provider, the leases running for over
    /// `age`; Redis keeps them for another lease ttl.
    pub(super) fn renew_leases(&mut self, age: Duration) {
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
                let (names, leases) = (&names, &leases);
                let lost = state
                    .run("renew", |mut conn| async move {
                        scripts.renew(&mut conn, names, leases, ttl, false).await
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
