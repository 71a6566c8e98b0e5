//! A group of real proxy binaries sharing key state through one test
//! Redis, against the scripted mock upstream; and what the tests read
//! from them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use mock_upstream::MockUpstream;
use serde_json::Value;

use super::redis_server::RedisServer;
use super::{proxy, Running};

pub const KEY_1: &str = "sk-live-AAAA1111-first";
pub const KEY_2: &str = "sk-live-BBBB2222-second";
pub const PROXY_KEY: &str = "pk-CCCC3333-for-the-proxy";
pub const NAMESPACE: &str = "replica-tests";

/// One replica: its binary and its (unused) data directory.
pub struct Replica {
    pub running: Running,
    _dir: tempfile::TempDir,
}

/// A replica against `redis` and `mock`, with `keys` and `extra` settings.
pub fn replica(
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
        ("STATE_NAMESPACE", NAMESPACE),
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

pub fn replicas(
    n: usize,
    redis: &RedisServer,
    mock: &MockUpstream,
    keys: &[&str],
    extra: &[(&str, &str)],
) -> Vec<Replica> {
    (0..n).map(|_| replica(redis, mock, keys, extra)).collect()
}

/// One HTTP/1.1 exchange with the proxy key: status and body.
pub fn call(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
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

pub fn chat(addr: &str, model: &str) -> u16 {
    let body =
        format!(r#"{{"model":"mock/{model}","messages":[{{"role":"user","content":"hi"}}]}}"#);
    call(addr, "POST", "/v1/chat/completions", &body).0
}

pub fn usage(addr: &str) -> Value {
    serde_json::from_str(&call(addr, "GET", "/v1/usage", "").1).unwrap()
}

pub fn health(addr: &str) -> Value {
    serde_json::from_str(&call(addr, "GET", "/health", "").1).unwrap()
}

/// Fails if any raw key, the proxy key, or a fragment of 8+ characters of
/// one appears in any Redis key name or value, or in `heard` (pub/sub
/// messages).
pub fn assert_nothing_raw(redis: &RedisServer, heard: &[String]) {
    let mut dump = redis.dump_all();
    assert!(!dump.is_empty(), "the replicas wrote state");
    dump.extend_from_slice(heard);
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

/// Totals over every key and model of a replica's `/v1/usage`: (requests,
/// successes, prompt tokens, completion tokens), today and in all.
pub fn totals(addr: &str) -> [u64; 8] {
    totals_of(&usage(addr))
}

/// [`totals`] of a usage report.
pub fn totals_of(report: &Value) -> [u64; 8] {
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
