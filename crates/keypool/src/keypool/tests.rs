//! The pool as an actor, with an injected clock and paused tokio time.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use chrono::{DateTime, NaiveTime, Utc};

use super::*;
use crate::resilience::clock::ManualClock;
use crate::store::Store;
use crate::vocab::{Failure, FailureKind, Outcome};

const KEY_A: &str = "sk-pool-test-key-aaaa";
const KEY_B: &str = "sk-pool-test-key-bbbb";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn providers() -> Vec<PoolProvider> {
    vec![PoolProvider {
        name: "p".into(),
        keys: vec![Secret::new(KEY_A), Secret::new(KEY_B)],
        max_concurrent_per_key: Some(1),
        ..Default::default()
    }]
}

fn options(clock: &ManualClock, schedule: DailySchedule) -> PoolOptions {
    PoolOptions {
        clock: Arc::new(clock.clone()),
        schedule,
    }
}

fn request(model: &str) -> AcquireKey {
    AcquireKey {
        provider: "p".into(),
        model: model.into(),
        exclude: vec![],
        wait_budget: Duration::from_secs(30),
        prefer: None,
        pin: None,
        tokens: 0,
    }
}

async fn lease(pool: &Addr<KeyPool>, model: &str) -> Lease {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    acquire(pool, request(model), deadline).await.unwrap()
}

/// Asks for a key with a 30 s budget; once the request is queued, 10 s
/// pass (on both clocks), so 10 s cooldowns end while it waits.
async fn acquire_while_cooldowns_end(
    pool: &Addr<KeyPool>,
    clock: &ManualClock,
) -> Result<Lease, AcquireError> {
    let waiting = acquire(
        pool,
        request("m"),
        tokio::time::Instant::now() + Duration::from_secs(30),
    );
    let waker = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        clock.advance(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(10)).await;
    };
    futures_util::future::join(waiting, waker).await.0
}

fn rate_limited() -> Outcome {
    Outcome::Failed(Failure {
        kind: FailureKind::RateLimited,
        hint: None,
    })
}

#[actix_rt::test]
async fn the_daily_reset_fires_on_its_timer_in_the_configured_zone() {
    tokio::time::pause();
    // 03:00 in Berlin (winter, UTC+1) is 02:00 UTC.
    let schedule = DailySchedule::new(
        NaiveTime::from_hms_opt(3, 0, 0).unwrap(),
        chrono_tz::Europe::Berlin,
    );
    let clock = ManualClock::at(t("2026-11-24T01:59:00Z"));
    let pool = KeyPool::new(providers(), None, options(&clock, schedule)).start();

    let first = lease(&pool, "m").await;
    let key = first.index();
    first.finish_durably(rate_limited()).await;
    let report = pool.send(GetUsage).await.unwrap();
    let model = &report.providers["p"].keys[key].models["m"];
    assert!(model.cooldown_until.is_some());
    assert_eq!(model.daily.failures, 1);
    assert_eq!(report.daily_reset.next, Some(t("2026-11-24T02:00:00Z")));

    // One minute later, in both clocks, the timer fires.
    clock.advance(Duration::from_secs(61));
    tokio::time::sleep(Duration::from_secs(61)).await;
    let report = pool.send(GetUsage).await.unwrap();
    let model = &report.providers["p"].keys[key].models["m"];
    assert_eq!(model.cooldown_until, None, "ladder cooldowns are cleared");
    assert_eq!(model.consecutive_failures, 0);
    assert_eq!(model.daily.failures, 0, "a new day of usage");
    assert_eq!(model.lifetime.failures, 1, "lifetime keeps it");
    assert_eq!(report.daily_reset.last, Some(t("2026-11-24T02:00:00Z")));
    assert_eq!(report.daily_reset.next, Some(t("2026-11-25T02:00:00Z")));
}

#[actix_rt::test]
async fn a_resting_key_is_handed_to_a_waiter_when_its_cooldown_ends() {
    tokio::time::pause();
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let providers = vec![PoolProvider {
        name: "p".into(),
        keys: vec![Secret::new(KEY_A)],
        max_concurrent_per_key: Some(1),
        ..Default::default()
    }];
    let pool = KeyPool::new(providers, None, options(&clock, DailySchedule::default())).start();
    lease(&pool, "m").await.finish_durably(rate_limited()).await;

    // Resting 10 s, within the 30 s budget: the request waits.
    let got = acquire_while_cooldowns_end(&pool, &clock).await;
    let lease = got.unwrap();
    assert_eq!(lease.index(), 0);
    let state = pool.send(GetUsage).await.unwrap();
    assert_eq!(
        state.providers["p"].keys[0].in_flight, 1,
        "the waiter holds the key"
    );
    drop(lease);
    let state = pool.send(GetUsage).await.unwrap();
    assert_eq!(
        state.providers["p"].keys[0].in_flight, 0,
        "dropping the lease releases it"
    );
}

#[actix_rt::test]
async fn a_waiter_gets_a_key_back_from_its_cooldown_while_another_stays_busy() {
    tokio::time::pause();
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let pool = KeyPool::new(providers(), None, options(&clock, DailySchedule::default())).start();
    let held = lease(&pool, "m").await;
    let cooling = lease(&pool, "m").await;
    let cooling_index = cooling.index();
    cooling.finish_durably(rate_limited()).await;

    // One key busy (for a long stream, say), the other back in 10 s.
    let got = acquire_while_cooldowns_end(&pool, &clock).await;
    assert_eq!(got.unwrap().index(), cooling_index);
    drop(held);
}

#[actix_rt::test]
async fn resting_past_the_budget_is_refused_at_once_with_the_wait() {
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let pool = KeyPool::new(providers(), None, options(&clock, DailySchedule::default())).start();
    for _ in 0..2 {
        let l = lease(&pool, "m").await;
        l.finish_durably(Outcome::Failed(Failure {
            kind: FailureKind::RateLimited,
            hint: Some(Duration::from_secs(600)),
        }))
        .await;
    }
    let mut short = request("m");
    short.wait_budget = Duration::from_secs(5);
    match pool.send(short).await.unwrap() {
        Err(AcquireError::Resting(Rest {
            retry_after,
            cause: RestCause::RateLimited,
        })) => assert_eq!(retry_after, Duration::from_secs(600)),
        other => panic!("expected Resting, got {other:?}"),
    }
    // Other models are unaffected.
    assert!(matches!(
        pool.send(request("n")).await.unwrap(),
        Ok(Acquired::Ready(_))
    ));
}

/// A pool at noon on 2026-11-24 over a store that holds one model record
/// and the time of the last daily reset.
fn restarted_pool(record: crate::store::ModelRecord, last_reset: &str) -> (KeyPool, ManualClock) {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let key = crate::store::ModelKey {
            provider: "p".into(),
            key_id: Secret::new(KEY_A).id(),
            model: "m".into(),
        };
        store.save_model(&key, &record).unwrap();
        store.set_last_reset(t(last_reset)).unwrap();
        store.flush().unwrap();
    }
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let store = Store::open(dir.path()).unwrap();
    let pool = KeyPool::new(
        providers(),
        Some(store),
        options(&clock, DailySchedule::default()),
    );
    (pool, clock)
}

#[test]
fn a_reset_missed_while_down_runs_at_startup() {
    let mut record = crate::store::ModelRecord::default();
    record.usage.daily.requests = 7;
    record.usage.lifetime.requests = 20;
    record.consecutive_failures = 3;
    record.cooldown_until = Some(t("2026-11-24T12:10:00Z"));
    let (pool, clock) = restarted_pool(record, "2026-11-22T03:00:00Z");
    let report = pool.report();
    let model = &report.providers["p"].keys[0].models["m"];
    assert_eq!(model.daily.requests, 0, "the missed reset ran");
    assert_eq!(model.lifetime.requests, 20);
    assert_eq!(model.cooldown_until, None);
    // The day began at the scheduled time, not when the reset caught up.
    assert!(clock.now() > t("2026-11-24T03:00:00Z"));
    assert_eq!(report.daily_reset.last, Some(t("2026-11-24T03:00:00Z")));
}

#[test]
fn no_reset_runs_when_none_was_missed() {
    let mut record = crate::store::ModelRecord::default();
    record.usage.daily.requests = 7;
    let (pool, _) = restarted_pool(record, "2026-11-24T03:00:00Z");
    let report = pool.report();
    assert_eq!(report.providers["p"].keys[0].models["m"].daily.requests, 7);
}

#[test]
fn reading_saved_state_applies_a_missed_reset_without_writing_it() {
    let dir = tempfile::tempdir().unwrap();
    let id = crate::store::ModelKey {
        provider: "p".into(),
        key_id: Secret::new(KEY_A).id(),
        model: "m".into(),
    };
    let mut record = crate::store::ModelRecord::default();
    record.usage.daily.requests = 7;
    {
        let store = Store::open(dir.path()).unwrap();
        store.save_model(&id, &record).unwrap();
        store.set_last_reset(t("2026-11-22T03:00:00Z")).unwrap();
        store.flush().unwrap();
    }
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let store = Store::open(dir.path()).unwrap();
    let report = KeyPool::saved(
        providers(),
        store,
        options(&clock, DailySchedule::default()),
    )
    .report();
    let model = &report.providers["p"].keys[0].models["m"];
    assert_eq!(model.daily.requests, 0, "shown as after the reset");
    // The database is as it was: the proxy runs the reset when it starts.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.last_reset(), Some(t("2026-11-22T03:00:00Z")));
    let saved = store.load_models();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].1.usage.daily.requests, 7);
}

#[actix_rt::test]
async fn a_quota_without_a_hint_rests_until_the_next_reset_of_its_day() {
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let pool = KeyPool::new(providers(), None, options(&clock, DailySchedule::default())).start();
    let quota = Outcome::Failed(Failure {
        kind: FailureKind::Quota,
        hint: None,
    });
    let first = lease(&pool, "m").await;
    let first_index = first.index();
    first.finish_durably(quota).await;
    let until = |report: &report::UsageReport, i: usize| {
        report.providers["p"].keys[i].models["m"].cooldown_until
    };
    let report = pool.send(GetUsage).await.unwrap();
    assert_eq!(until(&report, first_index), Some(t("2026-11-25T03:00:00Z")));
    // A day later (the cached day is over), the other key runs out too.
    clock.advance(Duration::from_secs(24 * 3600));
    let second = lease(&pool, "m").await;
    let second_index = second.index();
    second.finish_durably(quota).await;
    let report = pool.send(GetUsage).await.unwrap();
    assert_eq!(
        until(&report, second_index),
        Some(t("2026-11-26T03:00:00Z"))
    );
}

#[actix_rt::test]
async fn a_burst_of_concurrent_failures_on_one_key_is_one_ladder_step() {
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let unlimited = vec![PoolProvider {
        name: "p".into(),
        keys: vec![Secret::new(KEY_A)],
        max_concurrent_per_key: None,
        ..Default::default()
    }];
    let pool = KeyPool::new(unlimited, None, options(&clock, DailySchedule::default())).start();
    let mut burst = Vec::new();
    for _ in 0..30 {
        burst.push(lease(&pool, "m").await);
    }
    for l in burst {
        l.finish_durably(rate_limited()).await;
    }
    let model = |report: &report::UsageReport| report.providers["p"].keys[0].models["m"].clone();
    let m = model(&pool.send(GetUsage).await.unwrap());
    assert_eq!(m.consecutive_failures, 1);
    assert_eq!(m.cooldown_until, Some(t("2026-11-24T12:00:10Z")));
    // A request leased after the burst failed climbs one step.
    clock.advance(Duration::from_secs(11));
    lease(&pool, "m").await.finish_durably(rate_limited()).await;
    let m = model(&pool.send(GetUsage).await.unwrap());
    assert_eq!(m.consecutive_failures, 2);
    assert_eq!(m.cooldown_until, Some(t("2026-11-24T12:00:41Z")));
}

#[actix_rt::test]
async fn a_preferred_key_is_leased_while_it_could_serve() {
    tokio::time::pause();
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let pool = KeyPool::new(providers(), None, options(&clock, DailySchedule::default())).start();
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(1);
    let prefer = |index| AcquireKey {
        prefer: Some(index),
        pin: None,
        tokens: 0,
        ..request("m")
    };
    // Key 1 is not the usual choice (key 0 has the same rank and comes
    // first), but it is the preferred one.
    for _ in 0..3 {
        let lease = acquire(&pool, prefer(1), deadline()).await.unwrap();
        assert_eq!(lease.index(), 1);
        lease.finish(Outcome::Abandoned);
    }
    // Busy at its limit: the other key.
    let busy = acquire(&pool, prefer(1), deadline()).await.unwrap();
    let other = acquire(&pool, prefer(1), deadline()).await.unwrap();
    assert_eq!(other.index(), 0);
    other.finish(Outcome::Abandoned);
    // Resting: the other key too.
    busy.finish_durably(rate_limited()).await;
    let lease = acquire(&pool, prefer(1), deadline()).await.unwrap();
    assert_eq!(lease.index(), 0);
}

#[actix_rt::test]
async fn asks_sent_before_the_pool_runs_are_answered_once_it_runs() {
    let clock = ManualClock::at(t("2026-11-24T12:00:00Z"));
    let schedule = DailySchedule::new(NaiveTime::MIN, chrono_tz::UTC);
    let (addr, mailbox) = KeyPool::mailbox();
    let asked = actix_rt::spawn({
        let addr = addr.clone();
        async move { lease(&addr, "m").await }
    });
    tokio::task::yield_now().await;
    assert!(!asked.is_finished(), "nobody answers before the pool runs");

    let pool = KeyPool::new(providers(), None, options(&clock, schedule));
    let started = pool.start_with(mailbox);
    let first = asked.await.unwrap();
    assert_eq!(first.index(), 0, "the queued ask gets the first key");
    let second = lease(&started, "m").await;
    assert_eq!(
        second.index(),
        1,
        "one pool: the first lease is still held (limit 1)"
    );
}
