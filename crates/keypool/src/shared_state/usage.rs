//! Reading a provider's shared state back for reports (`/v1/usage`,
//! `/metrics`, the status page): every key's health, usage per model,
//! leases in flight and the provider's hourly history, in two pipelined
//! round trips.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{from_redis_value, RedisResult, Value};

use super::names::ProviderKeys;
use super::scripts::{failure_kind, Kid};
use super::{Periods, SharedState};
use crate::store::HourCounts;
use crate::vocab::{Counters, FailureKind};

/// Bound on a report's reads: more than a request's operation timeout (a
/// provider with many keys), still short enough for a status page.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

/// A key's health hash for a model: cooldown until, hinted, failures,
/// last failure, the period it was written in.
type HealthFields = (
    Option<i64>,
    Option<String>,
    Option<u32>,
    Option<String>,
    Option<i64>,
);

/// One provider's shared state, on Redis's clock (`now`, ms).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderUsage {
    pub now: i64,
    /// In the order of the key ids asked for.
    pub keys: Vec<KeyUsage>,
    /// The hours asked for that saw attempts, oldest first.
    pub history: Vec<(i64, HourCounts)>,
}

/// One key's shared state. Times in ms on Redis's clock; 0 = none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUsage {
    pub locked_until: i64,
    pub models: Vec<ModelUsage>,
}

/// One key's shared state for one model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelUsage {
    pub model: String,
    pub daily: Counters,
    pub lifetime: Counters,
    pub cooldown_until: i64,
    pub failures: u32,
    pub last_failure: Option<FailureKind>,
    pub in_flight: u32,
}

// === impl SharedState: reports ===

impl SharedState {
    /// The shared state of `provider`'s keys `kids` and its history in
    /// `hours` (since the Unix epoch), or `None` if Redis does not answer
    /// in time (the report then shows the local view).
    pub async fn read_usage(
        &self,
        provider: &str,
        kids: &[Kid],
        periods: Periods,
        hours: RangeInclusive<i64>,
    ) -> Option<ProviderUsage> {
        let names = self.names(provider);
        let work = async {
            let mut conn = self.connection(READ_TIMEOUT).await?;
            read(&mut conn, &names, kids, periods, hours).await
        };
        match tokio::time::timeout(READ_TIMEOUT, work).await {
            Ok(Ok(usage)) => Some(usage),
            Ok(Err(e)) => {
                log::warn!("cannot read the shared state of {provider}: {e}");
                None
            }
            Err(_) => {
                log::warn!("cannot read the shared state of {provider}: timed out");
                None
            }
        }
    }
}

async fn read(
    conn: &mut ConnectionManager,
    names: &ProviderKeys,
    kids: &[Kid],
    periods: Periods,
    hours: RangeInclusive<i64>,
) -> RedisResult<ProviderUsage> {
    let mut pipe = redis::pipe();
    pipe.cmd("TIME");
    for hour in hours.clone() {
        pipe.cmd("HGETALL").arg(names.history(hour));
    }
    for kid in kids {
        pipe.cmd("ZRANGE").arg(names.models(kid)).arg(0).arg(-1);
        pipe.cmd("HMGET")
            .arg(names.key(kid))
            .arg("locked_until")
            .arg("period");
    }
    let first: Vec<Value> = pipe.query_async(conn).await?;
    let mut first = first.into_iter();
    let (secs, micros): (i64, i64) = value(first.next())?;
    let now = secs * 1000 + micros / 1000;
    let mut history = Vec::new();
    for hour in hours {
        let fields: HashMap<String, u64> = value(first.next())?;
        let get = |name: &str| fields.get(name).copied().unwrap_or(0);
        let counts = HourCounts {
            requests: get("requests"),
            failures: get("failures"),
            rate_limited: get("rate_limited"),
        };
        if counts != HourCounts::default() {
            history.push((hour, counts));
        }
    }
    // As the scripts do: the next period once Redis's clock passed it.
    let period = if now >= periods.next {
        periods.next
    } else {
        periods.current
    };
    let mut keys = Vec::with_capacity(kids.len());
    let mut pipe = redis::pipe();
    for kid in kids {
        let models: Vec<String> = value(first.next())?;
        let (locked, locked_period): (Option<i64>, Option<i64>) = value(first.next())?;
        let locked_until = match (locked, locked_period) {
            (Some(until), Some(p)) if p == period && until > now => until,
            _ => 0,
        };
        for model in &models {
            pipe.cmd("HGETALL")
                .arg(names.daily_usage(kid, period, model));
            pipe.cmd("HGETALL").arg(names.lifetime_usage(kid, model));
            pipe.cmd("HMGET")
                .arg(names.key_model(kid, model))
                .arg("cooldown_until")
                .arg("hinted")
                .arg("failures")
                .arg("last_failure")
                .arg("period");
            pipe.cmd("ZCOUNT")
                .arg(names.model_leases(kid, model))
                .arg(format!("({now}"))
                .arg("+inf");
        }
        let models = models
            .into_iter()
            .map(|model| ModelUsage {
                model,
                ..ModelUsage::default()
            })
            .collect();
        keys.push(KeyUsage {
            locked_until,
            models,
        });
    }
    let second: Vec<Value> = pipe.query_async(conn).await?;
    let mut second = second.into_iter();
    for model in keys.iter_mut().flat_map(|k| k.models.iter_mut()) {
        model.daily = counters(value(second.next())?);
        model.lifetime = counters(value(second.next())?);
        let health: HealthFields = value(second.next())?;
        let (cool, hinted, failures, last, written) = health;
        let current = written == Some(period);
        let cool = cool.unwrap_or(0);
        if cool > now && (current || hinted.as_deref() == Some("1")) {
            model.cooldown_until = cool;
        }
        if current {
            model.failures = failures.unwrap_or(0);
            model.last_failure = last.as_deref().and_then(failure_kind);
        }
        model.in_flight = value(second.next())?;
    }
    Ok(ProviderUsage { now, keys, history })
}

fn value<T: redis::FromRedisValue>(v: Option<Value>) -> RedisResult<T> {
    match v {
        Some(v) => from_redis_value(&v),
        None => Err(redis::RedisError::from((
            redis::ErrorKind::TypeError,
            "a pipeline answered too few replies",
        ))),
    }
}

fn counters(fields: HashMap<String, u64>) -> Counters {
    let get = |name: &str| fields.get(name).copied().unwrap_or(0);
    Counters {
        requests: get("requests"),
        successes: get("successes"),
        failures: get("failures"),
        prompt_tokens: get("prompt_tokens"),
        completion_tokens: get("completion_tokens"),
    }
}
