//! The plan, without Redis: what the pool asks the shared state to
//! confirm, in which order, for which reset periods. No I/O happens
//! before a plan is confirmed, so none is needed here.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};

use crate::keypool::messages::AcquireKey;
use crate::keypool::{KeyPool, PoolOptions, PoolProvider};
use crate::resilience::clock::ManualClock;
use crate::resilience::schedule::DailySchedule;
use crate::secret::Secret;
use crate::shared_state::{SharedState, SharedStateConfig};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn pool(clock: &ManualClock) -> KeyPool {
    let provider = PoolProvider {
        name: "p".into(),
        keys: ["sk-plan-key-0000", "sk-plan-key-1111", "sk-plan-key-2222"]
            .into_iter()
            .map(Secret::new)
            .collect(),
        max_concurrent_per_key: Some(1),
        ..Default::default()
    };
    let options = PoolOptions {
        clock: Arc::new(clock.clone()),
        schedule: DailySchedule::new(NaiveTime::from_hms_opt(3, 0, 0).unwrap(), chrono_tz::UTC),
    };
    let state = SharedState::new(&SharedStateConfig {
        url: "redis://127.0.0.1:1".into(),
        namespace: "plan-tests".into(),
        lease_ttl: Duration::from_secs(30),
        agreed: String::new(),
    })
    .unwrap();
    KeyPool::new([provider], None, options).with_shared_state(state)
}

fn request(exclude: Vec<usize>) -> AcquireKey {
    AcquireKey {
        provider: "p".into(),
        model: "m".into(),
        exclude,
        wait_budget: Duration::ZERO,
        prefer: None,
        pin: None,
        tokens: 0,
    }
}

#[test]
fn a_plan_lists_free_keys_first_and_resting_ones_last() {
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let mut pool = pool(&clock);
    let keys = pool.providers.get_mut("p").unwrap().keys_mut();
    keys[0].model_mut("m").cooldown_until = Some(t("2026-11-24T12:05:00Z"));
    keys[1].model_mut("m").usage.daily.successes = 3;
    let plan = pool.plan(request(vec![])).unwrap();
    let order: Vec<usize> = plan.candidates.iter().map(|c| c.index).collect();
    assert_eq!(
        order,
        [2, 1, 0],
        "fewest successes first, the resting key last"
    );
    assert!(plan.candidates.iter().all(|c| c.kid.len() == 24));
    let plan = pool.plan(request(vec![2, 1, 0]));
    assert!(plan.is_err(), "every key tried: the pool answers itself");
}

#[test]
fn a_plan_carries_the_reset_periods_and_moves_on_at_the_reset() {
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let mut pool = pool(&clock);
    let ms = |s: &str| t(s).timestamp_millis();
    let periods = pool.plan(request(vec![])).unwrap().periods;
    assert_eq!(periods.current, ms("2026-11-24T03:00:00Z"));
    assert_eq!(periods.next, ms("2026-11-25T03:00:00Z"));
    assert_eq!(periods.after, ms("2026-11-26T03:00:00Z"));
    clock.set(t("2026-11-25T03:00:01Z"));
    let periods = pool.plan(request(vec![])).unwrap().periods;
    assert_eq!(periods.current, ms("2026-11-25T03:00:00Z"));
}

#[test]
fn a_degraded_pool_plans_nothing_and_leases_locally() {
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let mut pool = pool(&clock);
    if let Some(replica) = &pool.shared {
        replica.state.mark_down("test", "unreachable");
    }
    assert!(pool.plan(request(vec![])).is_err());
}
