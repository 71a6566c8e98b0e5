//! Several real proxy binaries sharing key state through a real
//! `redis-server` (no mock), against the scripted mock upstream: a key one
//! replica cooled gets no calls from the others, the ladder climbs across
//! replicas, a reset via one clears the key for all, per-key limits hold
//! over all of them, every replica shows the hourly history of all, a
//! waiter is woken by another replica's release, a killed replica's lease
//! expires, sticky-session pins and per-key limits (requests per day) hold
//! on every replica, and nothing raw reaches Redis. Skipped, with a
//! message, without `redis-server`. Faults: `replicas_faults.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::replica_group::*;
use mock_upstream::{MockUpstream, Reply, StreamScript};

#[test]
fn a_key_one_replica_cooled_gets_no_calls_from_the_others() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    mock.script(KEY_1, "m", vec![Reply::status(429), Reply::ok()]);
    let group = replicas(3, &redis, &mock, &[KEY_1, KEY_2], &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = redis.listen(stop.clone());
    assert_eq!(chat(&group[0].running.addr, "m"), 200, "key 2 answers");
    assert_eq!(mock.calls(KEY_1, "m"), 1);
    for i in 0..30 {
        assert_eq!(chat(&group[i % 3].running.addr, "m"), 200);
    }
    assert_eq!(
        mock.calls(KEY_1, "m"),
        1,
        "no replica called the cooled key again"
    );
    assert_eq!(mock.calls(KEY_2, "m"), 31);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let heard = listener.join().unwrap();
    assert!(heard.iter().any(|m| m.ends_with("|free|0")), "{heard:?}");
    assert_nothing_raw(&redis, &heard);
}

#[test]
fn the_ladder_climbs_across_replicas() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    mock.script(KEY_1, "m", vec![Reply::status(429)]);
    // A request waits for a key back within its budget: not for this one.
    let budget = [("GLOBAL_TIMEOUT", "5s")];
    let group = replicas(2, &redis, &mock, &[KEY_1], &budget);
    assert_eq!(chat(&group[0].running.addr, "m"), 429);
    assert_eq!(
        chat(&group[1].running.addr, "m"),
        429,
        "cooling: refused without a call"
    );
    assert_eq!(mock.calls(KEY_1, "m"), 1);
    // The first step is 10 s; time cannot be paused across processes.
    std::thread::sleep(Duration::from_millis(10_300));
    assert_eq!(chat(&group[1].running.addr, "m"), 429);
    assert_eq!(mock.calls(KEY_1, "m"), 2);
    let report = usage(&group[1].running.addr);
    let m = &report["providers"]["mock"]["keys"][0]["models"]["m"];
    assert_eq!(m["consecutive_failures"], 2, "{m}");
    let until: chrono::DateTime<chrono::Utc> =
        m["cooldown_until"].as_str().unwrap().parse().unwrap();
    #[allow(clippy::disallowed_methods)]
    let left = (until - chrono::Utc::now()).num_seconds();
    assert!((25..=30).contains(&left), "the 30 s step, {left} s left");
}

#[test]
fn a_reset_via_one_replica_clears_the_key_for_all() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    mock.script(KEY_1, "m", vec![Reply::status(429), Reply::ok()]);
    let budget = [("GLOBAL_TIMEOUT", "5s")];
    let group = replicas(3, &redis, &mock, &[KEY_1], &budget);
    assert_eq!(chat(&group[0].running.addr, "m"), 429);
    assert_eq!(chat(&group[1].running.addr, "m"), 429);
    assert_eq!(mock.calls(KEY_1, "m"), 1);
    // Via a replica that never called the key itself.
    let (status, body) = call(
        &group[1].running.addr,
        "POST",
        "/v1/usage/reset",
        r#"{"model":"m"}"#,
    );
    assert_eq!((status, body.as_str()), (200, r#"{"reset":1}"#));
    assert_eq!(chat(&group[2].running.addr, "m"), 200);
    assert_eq!(mock.calls(KEY_1, "m"), 2);
}

#[test]
fn every_replica_shows_the_hourly_history_of_all() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    mock.script(KEY_1, "m", vec![Reply::status(429), Reply::ok()]);
    let group = replicas(2, &redis, &mock, &[KEY_1, KEY_2], &[]);
    for i in 0..6 {
        assert_eq!(chat(&group[i % 2].running.addr, "m"), 200);
    }
    // Six answered, one of them after a 429 on the other key (summed over
    // the hours, in case one turned meanwhile).
    let want = [7, 1, 1];
    let deadline = Instant::now() + Duration::from_secs(10);
    for replica in &group {
        loop {
            let report = usage(&replica.running.addr);
            let hours = report["history"]["mock"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let sum = |field: &str| hours.iter().map(|h| h[field].as_u64().unwrap()).sum();
            let seen: [u64; 3] = [sum("requests"), sum("failures"), sum("rate_limited")];
            if seen == want {
                break;
            }
            assert!(Instant::now() < deadline, "{report}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_limit_of_one_holds_over_three_replicas() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    for key in [KEY_1, KEY_2] {
        mock.script(
            key,
            "m",
            vec![Reply::ok().with_delay(Duration::from_millis(100))],
        );
    }
    let limit = [("MAX_CONCURRENT_REQUESTS_PER_KEY_MOCK", "1")];
    let group = replicas(3, &redis, &mock, &[KEY_1, KEY_2], &limit);
    let addrs: Vec<String> = group.iter().map(|r| r.running.addr.clone()).collect();
    let threads: Vec<_> = (0..30)
        .map(|i| {
            let addr = addrs[i % 3].clone();
            std::thread::spawn(move || chat(&addr, "m"))
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 200);
    }
    assert_eq!(mock.calls(KEY_1, "m") + mock.calls(KEY_2, "m"), 30);
    assert_eq!(mock.max_in_flight(KEY_1, "m"), 1);
    assert_eq!(mock.max_in_flight(KEY_2, "m"), 1);
}

const KEY_3: &str = "sk-live-DDDD4444-third";

/// Turn `n` of conversation `conversation` through `addr`: the key that
/// answered it.
fn turn(mock: &MockUpstream, addr: &str, conversation: usize, n: usize) -> String {
    let body = serde_json::json!({
        "model": "mock/m",
        "user": format!("conversation-{conversation}"),
        "messages": [{"role": "user", "content": format!("question {n}")}],
    });
    let (status, answer) = call(addr, "POST", "/v1/chat/completions", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    let auth = mock
        .last_header("/v1/chat/completions", "authorization")
        .unwrap();
    auth.trim_start_matches("Bearer ").to_string()
}

/// The sum of one counter over every replica's `/metrics`.
fn metric(group: &[Replica], name: &str) -> u64 {
    group
        .iter()
        .map(|r| {
            let text = call(&r.running.addr, "GET", "/metrics", "").1;
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

#[test]
fn sticky_pins_hold_on_every_replica() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    // Unlimited concurrency: a turn's lease is released in Redis just after
    // its answer, and the next turn (on another replica) must not find the
    // pinned key still held.
    let sticky = [
        ("STICKY_SESSIONS", "true"),
        ("MAX_CONCURRENT_REQUESTS_PER_KEY_MOCK", "0"),
    ];
    let group = replicas(3, &redis, &mock, &[KEY_1, KEY_2, KEY_3], &sticky);
    let addr = |conversation: usize, n: usize| group[(conversation + n) % 3].running.addr.clone();
    // Each turn of a conversation goes to the next replica: only a pin held
    // in Redis keeps it on one key.
    let mut pinned: HashMap<usize, String> = HashMap::new();
    for n in 0..6 {
        for conversation in 0..4 {
            let key = turn(&mock, &addr(conversation, n), conversation, n);
            let first = pinned.entry(conversation).or_insert_with(|| key.clone());
            assert_eq!(*first, key, "conversation {conversation}, turn {n}");
        }
    }
    let mut keys: Vec<&String> = pinned.values().collect();
    keys.sort();
    keys.dedup();
    assert!(keys.len() > 1, "the conversations spread: {pinned:?}");

    // The key of conversation 0 starts failing: its conversations move,
    // once, and stay on their new keys; the others stay where they were.
    let failing = pinned[&0].clone();
    mock.script(
        &failing,
        "m",
        vec![Reply::status(429).with_header("Retry-After", "600")],
    );
    let calls_before = mock.calls(&failing, "m");
    let mut now_on: HashMap<usize, String> = HashMap::new();
    for n in 6..12 {
        for conversation in 0..4 {
            let key = turn(&mock, &addr(conversation, n), conversation, n);
            let first = now_on.entry(conversation).or_insert_with(|| key.clone());
            assert_eq!(*first, key, "conversation {conversation}, turn {n}");
        }
    }
    for conversation in 0..4 {
        if pinned[&conversation] == failing {
            assert_ne!(now_on[&conversation], failing);
        } else {
            assert_eq!(now_on[&conversation], pinned[&conversation]);
        }
    }
    assert_eq!(
        mock.calls(&failing, "m"),
        calls_before + 1,
        "called once more, by one replica, then left by all"
    );
    let moved = pinned.values().filter(|k| **k == failing).count() as u64;
    assert_eq!(metric(&group, "llm_proxy_sticky_moves_total"), moved);
    assert_eq!(
        metric(&group, "llm_proxy_sticky_hits_total"),
        4 * 5 + 4 * 6 - moved
    );
    assert_nothing_raw(&redis, &[]);
}

#[test]
fn per_key_limits_hold_over_replicas_exactly() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let limits = [("RPD_LIMIT_MOCK", "2"), ("GLOBAL_TIMEOUT", "2")];
    let group = replicas(3, &redis, &mock, &[KEY_1, KEY_2], &limits);
    for i in 0..4 {
        assert_eq!(chat(&group[i % 3].running.addr, "m"), 200, "request {i}");
    }
    assert_eq!(
        mock.calls(KEY_1, "m"),
        2,
        "two calls per key, over all replicas"
    );
    assert_eq!(mock.calls(KEY_2, "m"), 2);
    for replica in &group {
        let body = r#"{"model":"mock/m","messages":[{"role":"user","content":"hi"}]}"#;
        let (status, answer) = call(&replica.running.addr, "POST", "/v1/chat/completions", body);
        assert_eq!(status, 429, "{answer}");
        assert!(answer.contains("rate_limit_exceeded"), "{answer}");
    }
    assert_eq!(mock.total_calls(), 4, "no replica called a capped key");
    assert_nothing_raw(&redis, &[]);
}

#[test]
fn a_waiting_replica_is_woken_when_another_releases() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let delay = Duration::from_millis(300);
    mock.script(KEY_1, "m", vec![Reply::ok().with_delay(delay)]);
    let limit = [("MAX_CONCURRENT_REQUESTS_PER_KEY_MOCK", "1")];
    let group = replicas(2, &redis, &mock, &[KEY_1], &limit);
    let (a, b) = (group[0].running.addr.clone(), group[1].running.addr.clone());
    // The 250 ms poll alone would add 125 ms a round on average (625 ms).
    let mut late = Duration::ZERO;
    for _ in 0..5 {
        let first = {
            let a = a.clone();
            std::thread::spawn(move || chat(&a, "m"))
        };
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        assert_eq!(chat(&b, "m"), 200);
        late += started
            .elapsed()
            .saturating_sub(2 * delay - Duration::from_millis(50));
        assert_eq!(first.join().unwrap(), 200);
    }
    assert!(
        late < Duration::from_millis(450),
        "woken {late:?} late in all"
    );
    assert_eq!(mock.max_in_flight(KEY_1, "m"), 1);
}

/// Starts an endless stream through `addr` and returns once its first
/// bytes arrived; the connection stays open.
fn open_stream(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = r#"{"model":"mock/m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PROXY_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut first = [0u8; 512];
    let n = stream.read(&mut first).unwrap();
    let head = String::from_utf8_lossy(&first[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream
}

#[test]
fn a_killed_replicas_lease_expires_within_the_lease_ttl() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let event =
        r#"{"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#;
    let endless = Reply::ok()
        .with_stream(StreamScript::endless(event.to_string()).with_gap(Duration::from_millis(50)));
    mock.script(KEY_1, "m", vec![endless, Reply::ok()]);
    let settings = [
        ("LEASE_TTL", "3s"),
        ("MAX_CONCURRENT_REQUESTS_PER_KEY_MOCK", "1"),
    ];
    let mut group = replicas(2, &redis, &mock, &[KEY_1], &settings);
    let _stream = open_stream(&group[0].running.addr);
    // Renewed while it runs: past a lease ttl, still held.
    std::thread::sleep(Duration::from_millis(3_500));
    let killed = group.remove(0);
    killed.running.kill_hard();
    let started = Instant::now();
    assert_eq!(chat(&group[0].running.addr, "m"), 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1_500) && waited <= Duration::from_millis(4_500),
        "the key came back after {waited:?}, not within the 3 s lease ttl"
    );
}

#[test]
fn running_leases_are_registered_again_when_redis_restarts_empty() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let event =
        r#"{"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#;
    let endless = Reply::ok()
        .with_stream(StreamScript::endless(event.to_string()).with_gap(Duration::from_millis(50)));
    mock.script(KEY_1, "m", vec![endless]);
    let settings = [
        ("LEASE_TTL", "3s"),
        ("MAX_CONCURRENT_REQUESTS_PER_KEY_MOCK", "1"),
        ("GLOBAL_TIMEOUT", "2s"),
    ];
    let group = replicas(2, &redis, &mock, &[KEY_1], &settings);
    let _stream = open_stream(&group[0].running.addr);
    redis.stop();
    redis.run(); // empty: the stream's lease is gone
                 // Renewed every second: found lost in a new life of Redis, registered.
    std::thread::sleep(Duration::from_millis(2_500));
    assert_ne!(chat(&group[1].running.addr, "m"), 200, "the key is A's");
    assert_eq!(mock.max_in_flight(KEY_1, "m"), 1);
}
