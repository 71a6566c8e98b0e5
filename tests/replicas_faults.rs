//! Replicas sharing key state when Redis fails: an outage fails open and
//! recovers (cooldowns merged, usage counted once, sharing again), usage
//! totals agree on every replica, `--check-config` asks Redis, a Unix
//! socket works, and a replica starts degraded without Redis. Real
//! `redis-server` and proxy binaries; skipped without `redis-server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::proxy;
use common::redis_server::RedisServer;
use common::replica_group::*;
use mock_upstream::{MockUpstream, Reply};

#[test]
fn a_redis_outage_fails_open_and_recovers_shared() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let budget = [("GLOBAL_TIMEOUT", "5s")];
    let group = replicas(3, &redis, &mock, &[KEY_1, KEY_2], &budget);
    let a = group[0].running.addr.clone();
    assert_eq!(chat(&a, "m"), 200);
    std::thread::sleep(Duration::from_millis(400)); // its usage is in Redis
    redis.stop();
    let calls_before = mock.total_calls() as u64;
    assert_eq!(chat(&a, "m"), 200, "served from the local view");
    assert_eq!(health(&a)["status"], "degraded");
    let (_, metrics) = call(&a, "GET", "/metrics", "");
    assert!(
        metrics.contains("llm_proxy_state_backend_up 0"),
        "{metrics}"
    );
    // Cooldowns made while degraded are merged on recovery.
    mock.script(KEY_1, "o", vec![Reply::status(429)]);
    mock.script(KEY_2, "o", vec![Reply::status(429)]);
    assert_eq!(chat(&a, "o"), 429);
    redis.run(); // empty, on the same port
    let started = Instant::now();
    for replica in &group {
        let addr = &replica.running.addr;
        loop {
            let _ = chat(addr, "m");
            if health(addr)["status"] == "ok"
                && chat(addr, "m") == 200
                && health(addr)["status"] == "ok"
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{addr} did not recover"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let (_, metrics) = call(&a, "GET", "/metrics", "");
    assert!(
        metrics.contains("llm_proxy_state_backend_up 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"llm_proxy_state_ops_total{op="acquire",result="ok"}"#)
            && metrics.contains(r#"llm_proxy_state_op_duration_seconds_count{op="acquire"}"#),
        "{metrics}"
    );
    for replica in &group[1..] {
        assert_eq!(chat(&replica.running.addr, "o"), 429);
    }
    assert_eq!(mock.calls(KEY_1, "o") + mock.calls(KEY_2, "o"), 2);
    // Cooldowns made after recovery are shared again.
    mock.script(KEY_1, "n", vec![Reply::status(429)]);
    mock.script(KEY_2, "n", vec![Reply::status(429)]);
    assert_eq!(chat(&a, "n"), 429);
    assert_eq!(mock.calls(KEY_1, "n") + mock.calls(KEY_2, "n"), 2);
    for replica in &group[1..] {
        assert_eq!(chat(&replica.running.addr, "n"), 429);
    }
    assert_eq!(
        mock.calls(KEY_1, "n") + mock.calls(KEY_2, "n"),
        2,
        "no calls to cooled keys"
    );
    // Redis restarted empty: it counts what was served since it stopped,
    // the usage of the outage once.
    std::thread::sleep(Duration::from_millis(600));
    let since = mock.total_calls() as u64 - calls_before;
    for replica in &group {
        assert_eq!(totals(&replica.running.addr)[0], since);
    }
    assert_nothing_raw(&redis, &[]);
}

#[test]
fn usage_totals_are_exact_on_every_replica() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let group = replicas(3, &redis, &mock, &[KEY_1, KEY_2], &[]);
    for i in 0..60 {
        let model = if i % 4 == 0 { "n" } else { "m" };
        assert_eq!(chat(&group[i % 3].running.addr, model), 200);
    }
    // Batches go every 250 ms.
    std::thread::sleep(Duration::from_millis(600));
    let expected = totals(&group[0].running.addr);
    assert_eq!(expected[0], 60, "{expected:?}");
    assert_eq!(expected[0], mock.total_calls() as u64);
    assert_eq!(expected[..4], expected[4..], "today is all there is");
    for replica in &group[1..] {
        assert_eq!(totals(&replica.running.addr), expected);
    }
    // `stats` with no replica answering reads Redis itself.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = nobody.local_addr().unwrap().port().to_string();
    drop(nobody);
    let url = redis.url();
    let env = [
        ("STATE_BACKEND", "redis"),
        ("REDIS_URL", url.as_str()),
        ("STATE_NAMESPACE", NAMESPACE),
        ("MOCK_API_BASE", mock.base_url.as_str()),
        ("MOCK_API_KEY_1", KEY_1),
        ("MOCK_API_KEY_2", KEY_2),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = proxy(dir.path(), &env)
        .args(["stats", "--json", "--port", &port])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(totals_of(&report), expected);
    assert!(
        !dir.path().join("data").exists(),
        "the data directory is not used"
    );
}

#[test]
fn check_config_asks_redis() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let check = |dir: &Path, url: &str| {
        let env = [
            ("STATE_BACKEND", "redis"),
            ("REDIS_URL", url),
            ("MOCK_API_BASE", "http://127.0.0.1:9/v1"),
            ("MOCK_API_KEY", KEY_1),
        ];
        let out = proxy(dir, &env)
            .args(["--host", "127.0.0.1", "--check-config"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let url = format!("redis://:hunter2-password@127.0.0.1:{}", redis.port);
    let (ok, text) = check(dir.path(), &redis.url());
    assert!(ok && text.contains("scripts loaded"), "{text}");
    redis.stop();
    let (ok, text) = check(dir.path(), &url);
    assert!(
        !ok && text.contains("state backend redis://***@127.0.0.1"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn a_unix_socket_url_shares_with_tcp_replicas() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    mock.script(KEY_1, "m", vec![Reply::status(429)]);
    let budget = [("GLOBAL_TIMEOUT", "5s")];
    let unix = redis.unix_url();
    let over_socket = [("GLOBAL_TIMEOUT", "5s"), ("REDIS_URL", unix.as_str())];
    let a = replica(&redis, &mock, &[KEY_1], &over_socket);
    let b = replica(&redis, &mock, &[KEY_1], &budget);
    assert_eq!(chat(&a.running.addr, "m"), 429);
    assert_eq!(chat(&b.running.addr, "m"), 429);
    assert_eq!(mock.calls(KEY_1, "m"), 1, "B saw A's cooldown");
    assert_eq!(health(&a.running.addr)["status"], "ok");
}

#[test]
fn a_replica_starts_degraded_without_redis_and_recovers() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    redis.stop();
    let mock = MockUpstream::start_in_background();
    let a = replica(&redis, &mock, &[KEY_1], &[]);
    let said: Vec<&String> = a
        .running
        .startup
        .iter()
        .filter(|line| line.contains("state backend"))
        .collect();
    assert_eq!(said.len(), 1, "{:?}", a.running.startup);
    assert!(
        said[0].contains("unreachable") && said[0].contains("serving from local state"),
        "{said:?}"
    );
    assert_eq!(health(&a.running.addr)["status"], "degraded");
    assert_eq!(
        chat(&a.running.addr, "m"),
        200,
        "served from the local view"
    );
    redis.run();
    let started = Instant::now();
    while health(&a.running.addr)["status"] != "ok" {
        assert!(started.elapsed() < Duration::from_secs(3), "not recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(chat(&a.running.addr, "m"), 200);
}

#[test]
fn a_replica_with_another_daily_reset_is_warned_of() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let a = replica(&redis, &mock, &[KEY_1], &[]);
    let same = replica(&redis, &mock, &[KEY_1], &[]);
    let other = replica(&redis, &mock, &[KEY_1], &[("DAILY_RESET_TIME", "04:00")]);
    let warned = |r: &Replica| {
        r.running
            .startup
            .iter()
            .any(|line| line.contains("different settings"))
    };
    assert!(!warned(&a) && !warned(&same), "{:?}", same.running.startup);
    assert!(warned(&other), "{:?}", other.running.startup);
}

#[test]
fn a_replica_stopped_gracefully_sends_its_last_usage() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let mut a = replica(&redis, &mock, &[KEY_1], &[]);
    let b = replica(&redis, &mock, &[KEY_1], &[]);
    for _ in 0..5 {
        assert_eq!(chat(&a.running.addr, "m"), 200);
    }
    // SIGTERM at once, most likely before the next 250 ms batch.
    let pid = a.running.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(a.running.child.wait().unwrap().success());
    assert_eq!(totals(&b.running.addr)[0], 5, "A's usage is in Redis");
}
