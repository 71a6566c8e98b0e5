//! Recovery once Redis answers again, before the replica shares anew, in
//! order: leases that ended while Redis did not answer are released (or
//! they would hold their slot until they expire); leases still running are
//! registered again (Redis may have restarted empty), so other replicas
//! count them; health the replica changed alone is merged with `max()`.
//! Usage waits in its batches and goes with the next flush. Every step is
//! idempotent, so a recovery cut short by another failure is run again
//! whole.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::LiveLease;
use crate::keypool::state::KeyState;
use crate::keypool::KeyPool;
use crate::shared_state::{Kid, LocalHealth, Periods, SharedState};

/// What one recovery sends.
struct Recovery {
    unreleased: Vec<(LiveLease, u64)>,
    /// Per provider: the leases still running, `(kid, model, lease)`.
    running: HashMap<String, Vec<(Kid, String, u64)>>,
    /// `(provider, kid, model, health)` to merge.
    merges: Vec<(String, Kid, String, LocalHealth)>,
    /// What to mark again if the recovery fails.
    marked: Vec<(String, usize, String)>,
}

/// A key's local health for `model`, in ms since the epoch.
fn local_health(key: &KeyState, model: &str, now: DateTime<Utc>) -> LocalHealth {
    let ms = |t: Option<DateTime<Utc>>| t.filter(|t| *t > now).map_or(0, |t| t.timestamp_millis());
    let state = key.models.get(model);
    LocalHealth {
        locked_until: ms(key.locked_until),
        lockouts: key.lockouts,
        cooldown_until: ms(state.and_then(|m| m.cooldown_until)),
        hinted: state.is_some_and(|m| m.hinted),
        failures: state.map_or(0, |m| m.consecutive_failures),
        last_failure: state.and_then(|m| m.last_failure),
    }
}

// === impl KeyPool: recovery ===

impl KeyPool {
    /// Runs the recovery (the probe answered); leaves degraded mode once
    /// every step succeeded, or probes again.
    pub(super) fn recover(&mut self, ctx: &mut Context<Self>) {
        let now = self.now();
        let periods = Periods::of(&self.schedule, now);
        let Some(replica) = &mut self.shared else {
            return;
        };
        let marked: Vec<(String, usize, String)> = replica.marked.drain().collect();
        let merges = marked
            .iter()
            .filter_map(|(provider, index, model)| {
                let key = self.providers.get(provider)?.keys().get(*index)?;
                let health = local_health(key, model, now);
                let kid = replica.state.key_id(&key.secret);
                Some((provider.clone(), kid, model.clone(), health))
            })
            .collect();
        let mut running: HashMap<String, Vec<(Kid, String, u64)>> = HashMap::new();
        for (id, live) in &replica.live {
            running.entry(live.provider.clone()).or_default().push((
                live.kid.clone(),
                live.model.clone(),
                *id,
            ));
        }
        let recovery = Recovery {
            unreleased: std::mem::take(&mut replica.unreleased),
            running,
            merges,
            marked,
        };
        let state = replica.state.clone();
        let work = async move {
            let done = recovery.run(&state, periods).await;
            (done, recovery)
        };
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(work).map(|(done, recovery), pool, _| {
                let Some(replica) = &mut pool.shared else {
                    return;
                };
                replica.probing = false;
                if done {
                    replica.state.mark_up();
                } else {
                    replica.unreleased.extend(recovery.unreleased);
                    replica.marked.extend(recovery.marked);
                }
            }),
        );
    }
}

impl Recovery {
    /// Whether every step went through.
    async fn run(&self, state: &Arc<SharedState>, periods: Periods) -> bool {
        let scripts = state.scripts();
        for (live, lease) in &self.unreleased {
            let names = state.names(&live.provider);
            let (names, kid, model, lease) =
                (&names, live.kid.as_str(), live.model.as_str(), *lease);
            let released = state
                .run("release", |mut conn| async move {
                    scripts.release(&mut conn, names, kid, model, lease).await
                })
                .await;
            if released.is_none() {
                return false;
            }
        }
        let ttl = state.lease_ttl_ms();
        for (provider, leases) in &self.running {
            let names = state.names(provider);
            let names = &names;
            let registered = state
                .run("renew", |mut conn| async move {
                    scripts.renew(&mut conn, names, leases, ttl, true).await
                })
                .await;
            if registered.is_none() {
                return false;
            }
        }
        for (provider, kid, model, health) in &self.merges {
            let names = state.names(provider);
            let names = &names;
            let merged = state
                .run("merge", |mut conn| async move {
                    scripts
                        .merge(&mut conn, names, kid, model, health, periods)
                        .await
                })
                .await;
            if merged.is_none() {
                return false;
            }
        }
        true
    }
}
