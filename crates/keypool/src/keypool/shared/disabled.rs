//! Which keys are disabled, as the shared state has it, read back into the
//! pool's view every [`DISABLED_SYNC`] (and at start): keys disabled or
//! enabled on another replica are listed as such, a key enabled again is
//! planned for again, and a restarted replica knows its disabled keys.
//! Selection does not wait for this: `acquire.lua` refuses a disabled key
//! anyway, and the refusal marks it here at once.

use std::collections::HashSet;
use std::time::Duration;

use actix::prelude::*;

use crate::keypool::KeyPool;
use crate::shared_state::Kid;

/// How often a replica reads back which keys are disabled: one small read
/// per provider, not per request.
pub(super) const DISABLED_SYNC: Duration = Duration::from_secs(1);

// === impl KeyPool: disabled keys in the shared state ===

impl KeyPool {
    /// Reads every provider's disabled keys from Redis, off the pool's
    /// thread's handlers, and adopts them when they arrive.
    pub(super) fn sync_disabled(&self, ctx: &mut Context<Self>) {
        let Some(replica) = &self.shared else {
            return;
        };
        if !replica.state.is_up() {
            return;
        }
        let state = replica.state.clone();
        let providers: Vec<String> = self.providers.keys().cloned().collect();
        let read = async move {
            let mut sets = Vec::new();
            for provider in providers {
                match state.disabled_keys(&provider).await {
                    Some(kids) => sets.push((provider, kids)),
                    None => break,
                }
            }
            sets
        };
        ctx.spawn(
            read.into_actor(self)
                .map(|sets, pool, ctx| pool.adopt_disabled(sets, ctx)),
        );
    }

    /// Sets each key's disabled flag as Redis has it.
    fn adopt_disabled(&mut self, sets: Vec<(String, HashSet<Kid>)>, ctx: &mut Context<Self>) {
        let Some(state) = self.shared.as_ref().map(|r| r.state.clone()) else {
            return;
        };
        let mut enabled = false;
        for (name, kids) in sets {
            let Some(provider) = self.providers.get_mut(&name) else {
                continue;
            };
            let stale = |key: &super::super::state::KeyState| {
                !key.retired && kids.contains(&state.key_id(&key.secret)) != key.disabled
            };
            if !provider.keys().iter().any(stale) {
                continue;
            }
            // Through `keys_mut`: the index of standings is rebuilt.
            for key in provider.keys_mut().iter_mut().filter(|k| stale(k)) {
                let disabled = !key.disabled;
                key.disabled = disabled;
                enabled |= !disabled;
                let action = if disabled { "disabled" } else { "enabled" };
                log::info!(
                    "key {} of provider {name} {action} in the shared state",
                    key.masked
                );
            }
        }
        if enabled {
            self.serve_all_waiters(ctx);
        }
    }
}
