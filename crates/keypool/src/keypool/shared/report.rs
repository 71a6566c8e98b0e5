//! The usage report with shared state: every replica shows the same
//! health, leases and usage — Redis's, plus this replica's usage not yet
//! applied there, so a replica never shows less than it served. Read in
//! the caller's task (two pipelined round trips per provider); while Redis
//! does not answer, the report is the local view.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::usage::plus;
use crate::keypool::history::{hour_of, HourReport, HISTORY_HOURS};
use crate::keypool::messages::GetUsage;
use crate::keypool::report::{KeyReport, ModelReport, UsageReport};
use crate::keypool::KeyPool;
use crate::shared_state::{local_time, KeyUsage, Kid, Periods, SharedState};
use crate::store::HourCounts;
use crate::vocab::Counters;

/// What a shared report needs from the pool; `None` without shared state
/// or while it does not answer.
#[derive(Message)]
#[rtype(result = "Option<SharedQuery>")]
struct GetSharedUsage;

struct SharedQuery {
    report: UsageReport,
    state: Arc<SharedState>,
    periods: Periods,
    now: DateTime<Utc>,
    providers: Vec<ProviderQuery>,
}

struct ProviderQuery {
    name: String,
    /// (public id, Redis id, position) of each key the report shows.
    keys: Vec<(String, Kid, usize)>,
    /// Usage counted here, not yet applied in Redis: (today, in all).
    unsent: HashMap<(usize, String), (Counters, Counters)>,
    /// History counted here, not yet applied in Redis, per hour.
    unsent_hours: BTreeMap<i64, HourCounts>,
}

/// Every key's state and usage: the shared state's when key state is
/// shared (see the module docs), else the pool's.
pub async fn usage_report(pool: &Addr<KeyPool>) -> Result<UsageReport, MailboxError> {
    let Some(query) = pool.send(GetSharedUsage).await? else {
        return pool.send(GetUsage).await;
    };
    let mut report = query.report;
    for provider in query.providers {
        let kids: Vec<Kid> = provider
            .keys
            .iter()
            .map(|(_, kid, _)| kid.clone())
            .collect();
        let last = hour_of(query.now);
        let hours = last - HISTORY_HOURS + 1..=last;
        let Some(shared) = query
            .state
            .read_usage(&provider.name, &kids, query.periods, hours)
            .await
        else {
            continue;
        };
        let mut history = provider.unsent_hours;
        for (hour, counts) in shared.history {
            history.entry(hour).or_default().add(counts);
        }
        let history = history
            .into_iter()
            .filter_map(|(h, c)| HourReport::of(h, c));
        report
            .history
            .insert(provider.name.clone(), history.collect());
        let Some(shown) = report.providers.get_mut(&provider.name) else {
            continue;
        };
        for ((id, _, index), usage) in provider.keys.iter().zip(shared.keys) {
            if let Some(key) = shown.keys.iter_mut().find(|k| k.id == *id) {
                let view = View {
                    redis_now: shared.now,
                    now: query.now,
                    unsent: &provider.unsent,
                    index: *index,
                };
                view.overlay(key, usage);
            }
        }
    }
    Ok(report)
}

/// How one key's shared state is shown.
struct View<'a> {
    redis_now: i64,
    now: DateTime<Utc>,
    unsent: &'a HashMap<(usize, String), (Counters, Counters)>,
    index: usize,
}

impl View<'_> {
    fn overlay(&self, key: &mut KeyReport, usage: KeyUsage) {
        let at = |ms: i64| local_time(self.now, self.redis_now, ms);
        key.locked_until = at(usage.locked_until);
        let mut in_flight = 0;
        for model in usage.models {
            let (today, all) = self
                .unsent
                .get(&(self.index, model.model.clone()))
                .copied()
                .unwrap_or_default();
            in_flight += model.in_flight;
            // Limits are counted by this replica (see `resilience::limits`).
            let limits = key.models.get(&model.model).and_then(|m| m.limits);
            key.models.insert(
                model.model,
                ModelReport {
                    cooldown_until: at(model.cooldown_until),
                    consecutive_failures: model.failures,
                    in_flight: model.in_flight,
                    last_failure: model.last_failure,
                    daily: plus(model.daily, today),
                    lifetime: plus(model.lifetime, all),
                    limits,
                },
            );
        }
        key.in_flight = key.in_flight.max(in_flight);
    }
}

impl Handler<GetSharedUsage> for KeyPool {
    type Result = Option<SharedQuery>;

    fn handle(&mut self, _: GetSharedUsage, _: &mut Self::Context) -> Self::Result {
        let replica = self.shared.as_ref()?;
        if !replica.state.is_up() {
            return None;
        }
        let now = self.now();
        let periods = Periods::of(&self.schedule, now);
        let providers = self
            .providers
            .iter()
            .map(|(name, pool)| ProviderQuery {
                name: name.clone(),
                keys: pool
                    .keys()
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| !k.retired)
                    .map(|(i, k)| (k.id.to_string(), replica.state.key_id(&k.secret), i))
                    .collect(),
                unsent: replica.unsent(name, periods.current),
                unsent_hours: replica.unsent_hours(name),
            })
            .collect();
        Some(SharedQuery {
            report: self.report(),
            state: replica.state.clone(),
            periods,
            now,
            providers,
        })
    }
}
