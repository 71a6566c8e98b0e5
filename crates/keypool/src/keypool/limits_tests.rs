//! Per-key limits in the pool, with an injected clock: a key at a cap is
//! not leased, the request is told when the first key frees, and a new
//! window (a minute, the provider's own day) frees it.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use chrono::{DateTime, Utc};

use super::*;
use crate::resilience::clock::ManualClock;
use crate::resilience::limits::{Caps, LimitRules};
use crate::store::Store;
use crate::vocab::Outcome;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn provider(keys: &[&str], caps: Caps, days: Option<DailySchedule>) -> Vec<PoolProvider> {
    vec![PoolProvider {
        name: "p".into(),
        keys: keys.iter().map(|k| Secret::new(*k)).collect(),
        max_concurrent_per_key: None,
        limits: LimitRules::new(vec![("*".into(), caps)]),
        limits_schedule: days,
    }]
}

fn start(providers: Vec<PoolProvider>, clock: &ManualClock, store: Option<Store>) -> Addr<KeyPool> {
    let options = PoolOptions {
        clock: Arc::new(clock.clone()),
        schedule: DailySchedule::default(),
    };
    KeyPool::new(providers, store, options).start()
}

/// Asks without waiting: a lease, or why not.
async fn ask(pool: &Addr<KeyPool>, tokens: u64) -> Result<Lease, AcquireError> {
    let request = AcquireKey {
        provider: "p".into(),
        model: "m".into(),
        exclude: vec![],
        wait_budget: Duration::ZERO,
        prefer: None,
        pin: None,
        tokens,
    };
    acquire(
        pool,
        request,
        tokio::time::Instant::now() + Duration::from_millis(100),
    )
    .await
}

fn ok(prompt_tokens: u64, completion_tokens: u64) -> Outcome {
    Outcome::Success {
        prompt_tokens,
        completion_tokens,
    }
}

/// The rest told when every key is capped.
fn refused(result: Result<Lease, AcquireError>) -> Rest {
    match result {
        Err(AcquireError::Resting(rest)) => rest,
        other => panic!("expected every key to be capped: {other:?}"),
    }
}

#[actix_rt::test]
async fn a_minute_cap_spreads_over_keys_then_refuses_until_the_next_minute() {
    let clock = ManualClock::at(t("2026-12-04T12:00:15Z"));
    let caps = Caps {
        rpm: Some(1),
        ..Caps::default()
    };
    let pool = start(
        provider(&["sk-limit-a-0001", "sk-limit-b-0002"], caps, None),
        &clock,
        None,
    );
    let first = ask(&pool, 0).await.unwrap();
    let second = ask(&pool, 0).await.unwrap();
    assert_ne!(first.index(), second.index(), "the cap spreads requests");
    first.finish(ok(1, 1));
    second.finish(ok(1, 1));
    let rest = refused(ask(&pool, 0).await);
    assert_eq!(rest.retry_after, Duration::from_secs(45), "until 12:01:00");
    assert_eq!(rest.cause, RestCause::RateLimited);
    clock.advance(Duration::from_secs(45));
    assert!(ask(&pool, 0).await.is_ok(), "a new minute");
}

#[actix_rt::test]
async fn a_token_cap_counts_estimates_in_flight_then_the_answers_usage() {
    let clock = ManualClock::at(t("2026-12-04T12:00:00Z"));
    let caps = Caps {
        tpm: Some(100),
        ..Caps::default()
    };
    let pool = start(provider(&["sk-limit-a-0001"], caps, None), &clock, None);
    let first = ask(&pool, 60).await.unwrap();
    first.finish(ok(20, 10));
    // 30 used: room for another request, which expects 80.
    let second = ask(&pool, 80).await.unwrap();
    // 110 counted while it runs: nothing more this minute...
    refused(ask(&pool, 10).await);
    // ...until its answer says it used 40: 70 in all.
    second.finish(ok(30, 10));
    let third = ask(&pool, 10).await.unwrap();
    third.finish(ok(20, 20));
    let report = pool.send(GetUsage).await.unwrap();
    let limits = report.providers["p"].keys[0].models["m"].limits.unwrap();
    let tpm = limits.tpm.unwrap();
    assert_eq!((tpm.limit, tpm.used), (100, 110));
    assert_eq!(tpm.resets_at, t("2026-12-04T12:01:00Z"));
    assert!(limits.rpm.is_none() && limits.rpd.is_none());
    refused(ask(&pool, 1).await);
}

#[actix_rt::test]
async fn a_daily_cap_ends_at_the_providers_own_reset_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(t("2026-12-04T07:00:00Z"));
    let caps = Caps {
        rpd: Some(1),
        ..Caps::default()
    };
    // The provider's days begin at 08:00 UTC; the pool's at midnight.
    let days = DailySchedule::parse("08:00", "UTC").unwrap();
    let keys = ["sk-limit-a-0001"];
    let store = Store::open(dir.path()).unwrap();
    let pool = start(provider(&keys, caps, Some(days)), &clock, Some(store));
    ask(&pool, 0).await.unwrap().finish_durably(ok(1, 1)).await;
    let rest = refused(ask(&pool, 0).await);
    assert_eq!(rest.retry_after, Duration::from_secs(3600), "until 08:00");
    pool.send(Shutdown).await.unwrap();

    // Restarted: the count is still there.
    let store = Store::open(dir.path()).unwrap();
    let pool = start(provider(&keys, caps, Some(days)), &clock, Some(store));
    let rest = refused(ask(&pool, 0).await);
    assert_eq!(rest.retry_after, Duration::from_secs(3600));
    let report = pool.send(GetUsage).await.unwrap();
    let rpd = report.providers["p"].keys[0].models["m"]
        .limits
        .unwrap()
        .rpd
        .unwrap();
    assert_eq!((rpd.limit, rpd.used), (1, 1));
    assert_eq!(rpd.resets_at, t("2026-12-04T08:00:00Z"));
    clock.advance(Duration::from_secs(3600));
    assert!(ask(&pool, 0).await.is_ok(), "the provider's new day");
}

#[actix_rt::test]
async fn a_request_waits_for_a_key_that_frees_before_its_deadline() {
    tokio::time::pause();
    let clock = ManualClock::at(t("2026-12-04T12:00:50Z"));
    let caps = Caps {
        rpm: Some(1),
        ..Caps::default()
    };
    let pool = start(provider(&["sk-limit-a-0001"], caps, None), &clock, None);
    ask(&pool, 0).await.unwrap().finish(ok(1, 1));
    let request = AcquireKey {
        provider: "p".into(),
        model: "m".into(),
        exclude: vec![],
        wait_budget: Duration::from_secs(30),
        prefer: None,
        pin: None,
        tokens: 0,
    };
    // The minute ends in 10 s, within the request's 30 s: it waits.
    let waiting = acquire(
        &pool,
        request,
        tokio::time::Instant::now() + Duration::from_secs(30),
    );
    let minute_ends = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        clock.advance(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(10)).await;
    };
    let (lease, ()) = futures_util::future::join(waiting, minute_ends).await;
    assert!(lease.is_ok(), "served once the minute ended: {lease:?}");
}
