//! Several real proxy binaries sharing key state through a real
//! `redis-server` (no mock), against the scripted mock upstream: a key one
//! replica cooled gets no calls from the others, the ladder climbs across
//! replicas, per-key limits hold over all of them, a killed replica's
//! lease expires, a Redis outage fails open and recovers, and nothing raw
//! reaches Redis. Skipped, with a message, without `redis-server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::{proxy, Running};
use mock_upstream::{MockUpstream, Reply, StreamScript};
use serde_json::Value;

const KEY_1: &str = "sk-live-AAAA1111-first";
const KEY_2: &str = "sk-live-BBBB2222-second";
const PROXY_KEY: &str = "pk-CCCC3333-for-the-proxy";

/// One replica: its binary and its (unused) data directory.
struct Replica {
    running: Running,
    _dir: tempfile::TempDir,
}

/// A replica against `redis` and `mock`, with `keys` and `extra` settings.
fn replica(
    redis: &RedisServer,
    mock: &MockUpstream,
    keys: &[&str],
    extra: &[(&str, &str)],
) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let names: Vec<String> = (1..=keys.len())
        .map(|i| format!("MOCK_API_KEY_{i}"))
        .collect();
    let mut env: Vec<(&str, &str)> = vec![
        ("RUST_LOG", "warn,llm_key_proxy::server=info"),
        ("MOCK_API_BASE", mock.base_url.as_str()),
        ("PROXY_API_KEY", PROXY_KEY),
        ("STATE_BACKEND", "redis"),
        ("REDIS_URL", url.as_str()),
        ("STATE_NAMESPACE", "replica-tests"),
    ];
    env.extend(names.iter().map(String::as_str).zip(keys.iter().copied()));
    env.extend_from_slice(extra);
    let mut cmd = proxy(dir.path(), &env);
    cmd.args(["--host", "127.0.0.1", "--port", "0"]);
    Replica {
        running: Running::start(cmd),
        _dir: dir,
    }
}

fn replicas(
    n: usize,
    redis: &RedisServer,
    mock: &MockUpstream,
    keys: &[&str],
    extra: &[(&str, &str)],
) -> Vec<Replica> {
    (0..n).map(|_| replica(redis, mock, keys, extra)).collect()
}

/// One HTTP/1.1 exchange with the proxy key: status and body.
fn call(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \
         {PROXY_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn chat(addr: &str, model: &str) -> u16 {
    let body =
        format!(r#"{{"model":"mock/{model}","messages":[{{"role":"user","content":"hi"}}]}}"#);
    call(addr, "POST", "/v1/chat/completions", &body).0
}

fn usage(addr: &str) -> Value {
    serde_json::from_str(&call(addr, "GET", "/v1/usage", "").1).unwrap()
}

fn health(addr: &str) -> Value {
    serde_json::from_str(&call(addr, "GET", "/health", "").1).unwrap()
}

/// Fails if any raw key, the proxy key, or a fragment of 8+ characters of
/// one appears in any Redis key name or value.
fn assert_nothing_raw(redis: &RedisServer) {
    let dump = redis.dump_all();
    assert!(!dump.is_empty(), "the replicas wrote state");
    for secret in [KEY_1, KEY_2, PROXY_KEY] {
        for start in 0..=secret.len() - 8 {
            let fragment = &secret[start..start + 8];
            for item in &dump {
                assert!(
                    !item.contains(fragment),
                    "{fragment:?} of a secret in Redis: {item}"
                );
            }
        }
    }
}

#[test]
fn a_key_one_replica_cooled_gets_no_calls_from_the_others() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    mock.script(KEY_1, "m", vec![Reply::status(429), Reply::ok()]);
    let group = replicas(3, &redis, &mock, &[KEY_1, KEY_2], &[]);
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
    assert_nothing_raw(&redis);
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
    // The 250 ms poll alone would add 125 ms a round on average.
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
        late < Duration::from_millis(300),
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
    assert_nothing_raw(&redis);
}

/// Totals over every key and model of a replica's `/v1/usage`: (requests,
/// successes, prompt tokens, completion tokens), today and in all.
fn totals(addr: &str) -> [u64; 8] {
    let report = usage(addr);
    let mut sum = [0u64; 8];
    for key in report["providers"]["mock"]["keys"].as_array().unwrap() {
        for model in key["models"].as_object().unwrap().values() {
            for (i, (bucket, field)) in ["daily", "lifetime"]
                .iter()
                .flat_map(|b| {
                    [
                        "requests",
                        "successes",
                        "prompt_tokens",
                        "completion_tokens",
                    ]
                    .map(move |f| (*b, f))
                })
                .enumerate()
            {
                sum[i] += model[bucket][field].as_u64().unwrap();
            }
        }
    }
    sum
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
