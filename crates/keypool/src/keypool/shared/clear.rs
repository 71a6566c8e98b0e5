//! Manual recovery (`POST /v1/usage/reset`) with shared state: the
//! matching keys are cleared in Redis too (`clear.lua`, which wakes every
//! replica's waiters), or the next acquire would bring their rests back.

use std::sync::Arc;

use actix::prelude::*;

use crate::keypool::messages::ResetCooldowns;
use crate::keypool::KeyPool;
use crate::shared_state::{Kid, Periods, SharedState};

/// The keys a reset selects, with what the pool knows of their models;
/// `None` without shared state or while it does not answer.
#[derive(Message)]
#[rtype(result = "Option<ClearPlan>")]
struct PlanClear(ResetCooldowns);

struct ClearPlan {
    state: Arc<SharedState>,
    periods: Periods,
    /// The model filter, if any.
    model: Option<String>,
    /// (provider, Redis id, the models the pool has state for).
    keys: Vec<(String, Kid, Vec<String>)>,
}

/// Clears cooldowns, lockouts and failure counters of the keys `filter`
/// selects, in the shared state first (when there is one), then in the
/// pool. Answers how many keys changed, or which filter matched nothing.
pub async fn reset_cooldowns(
    pool: &Addr<KeyPool>,
    filter: ResetCooldowns,
) -> Result<Result<usize, String>, MailboxError> {
    let shared = match pool.send(PlanClear(filter.clone())).await? {
        Some(plan) => plan.run().await,
        None => 0,
    };
    Ok(match pool.send(filter).await? {
        Ok(local) => Ok(local.max(shared)),
        // Only other replicas had state for the model: cleared all the same.
        Err(_) if shared > 0 => Ok(shared),
        Err(e) => Err(e),
    })
}

impl ClearPlan {
    /// Runs `clear.lua` per key (after reading its models, without a model
    /// filter); answers how many keys had anything cleared.
    async fn run(self) -> usize {
        let scripts = self.state.scripts();
        let mut changed = 0;
        for (provider, kid, mut models) in self.keys {
            let names = self.state.names(&provider);
            match &self.model {
                Some(model) => models = vec![model.clone()],
                None => {
                    let kid = kid.as_str();
                    let names = &names;
                    let shared = self
                        .state
                        .run("clear", |mut conn| async move {
                            scripts.models(&mut conn, names, kid).await
                        })
                        .await;
                    models.extend(shared.unwrap_or_default());
                    models.sort_unstable();
                    models.dedup();
                }
            }
            let (kid, names, models) = (kid.as_str(), &names, &models);
            let (whole, periods) = (self.model.is_none(), self.periods);
            let cleared = self
                .state
                .run("clear", |mut conn| async move {
                    scripts
                        .clear(&mut conn, names, kid, models, whole, periods)
                        .await
                })
                .await;
            if cleared == Some(true) {
                changed += 1;
            }
        }
        changed
    }
}

impl Handler<PlanClear> for KeyPool {
    type Result = Option<ClearPlan>;

    fn handle(&mut self, msg: PlanClear, _: &mut Self::Context) -> Self::Result {
        let replica = self.shared.as_ref()?;
        if !replica.state.is_up() {
            return None;
        }
        let filter = msg.0;
        let mut keys = Vec::new();
        for (name, provider) in &self.providers {
            if filter.provider.as_ref().is_some_and(|p| p != name) {
                continue;
            }
            for key in provider.keys() {
                if key.retired
                    || filter
                        .key_id
                        .as_ref()
                        .is_some_and(|id| id != key.id.as_str())
                {
                    continue;
                }
                let models = key.models.keys().cloned().collect();
                keys.push((name.clone(), replica.state.key_id(&key.secret), models));
            }
        }
        Some(ClearPlan {
            state: replica.state.clone(),
            periods: Periods::of(&self.schedule, self.now()),
            model: filter.model,
            keys,
        })
    }
}
