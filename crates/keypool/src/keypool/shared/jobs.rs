//! The pool's background work for the shared state, on its own thread:
//! the poll that lets waiters retry and probes a degraded Redis, and lease
//! renewal.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;

use crate::keypool::KeyPool;
use crate::shared_state::{Kid, ProviderKeys, SharedState};

/// A running lease, `(kid, model, id)`, and the life of Redis it was
/// taken in.
type Running = ((Kid, String, u64), String);

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
        let mut due: HashMap<&str, Vec<Running>> = HashMap::new();
        for (id, live) in &replica.live {
            if live.since.elapsed() >= age {
                let lease = (live.kid.clone(), live.model.clone(), *id);
                due.entry(live.provider.as_str())
                    .or_default()
                    .push((lease, live.epoch.clone()));
            }
        }
        for (provider, leases) in due {
            let state = replica.state.clone();
            let names = state.names(provider);
            actix_rt::spawn(async move { renew(&state, &names, leases).await });
        }
    }
}

/// Renews one provider's `leases` (each with the life of Redis it was
/// taken in). A lease Redis lost is registered again only if Redis
/// restarted empty since (its epoch changed): else this replica stalled
/// past the lease ttl, and another may hold the slot by now.
async fn renew(
    state: &SharedState,
    names: &ProviderKeys,
    leases: Vec<((Kid, String, u64), String)>,
) {
    let ttl = state.lease_ttl_ms();
    let scripts = state.scripts();
    let ids: Vec<(Kid, String, u64)> = leases.iter().map(|(l, _)| l.clone()).collect();
    let ids = &ids;
    let lost = state
        .run("renew", |mut conn| async move {
            scripts.renew(&mut conn, names, ids, ttl, false).await
        })
        .await
        .unwrap_or_default();
    if lost.is_empty() {
        return;
    }
    let epoch = state
        .run("renew", |mut conn| async move {
            scripts.epoch(&mut conn, names).await
        })
        .await
        .flatten();
    let (again, stalled): (Vec<_>, Vec<_>) = leases
        .into_iter()
        .filter(|((_, _, id), _)| lost.contains(id))
        .partition(|(_, taken_in)| epoch.as_ref() != Some(taken_in));
    if !stalled.is_empty() {
        log::warn!(
            "{} lease(s) had expired in the shared state before renewal (this replica \
             stalled?); their calls go on",
            stalled.len()
        );
    }
    if again.is_empty() {
        return;
    }
    let again: Vec<(Kid, String, u64)> = again.into_iter().map(|(l, _)| l).collect();
    let again = &again;
    let registered = state
        .run("renew", |mut conn| async move {
            scripts.renew(&mut conn, names, again, ttl, true).await
        })
        .await;
    if registered.is_some() {
        log::warn!(
            "the shared state restarted empty: {} running lease(s) registered again",
            again.len()
        );
    }
}
