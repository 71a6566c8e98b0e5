//! Keys managed at runtime across real processes: a key added to the
//! binary goes to the `.env` in its working directory and is there after a
//! restart, and gone after its removal and another; with Redis, a key
//! disabled on one replica gets no call from another, nor from a replica
//! started afterwards, until it is enabled again. The Redis test skips,
//! with a message, without `redis-server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::replica_group::*;
use common::{proxy, Running};
use llm_key_proxy::secret::KeyId;
use mock_upstream::MockUpstream;
use serde_json::Value;

const NEW_KEY: &str = "sk-live-DDDD4444-added";

fn keys(addr: &str) -> Vec<Value> {
    let (status, body) = call(addr, "GET", "/v1/admin/keys", "");
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    list["data"].as_array().unwrap().clone()
}

fn disabled(addr: &str, key: &str) -> Option<bool> {
    let id = KeyId::of(key).to_string();
    keys(addr)
        .iter()
        .find(|k| k["id"] == id.as_str())
        .map(|k| k["disabled"] == true)
}

fn eventually(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_key_added_to_the_binary_is_in_its_env_file_across_restarts_until_removed() {
    let mock = MockUpstream::start_in_background();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join(".env");
    std::fs::write(&env_file, format!("# keys\nMOCK_API_KEY_1={KEY_1}\n")).unwrap();
    let env = [
        ("RUST_LOG", "info"),
        ("MOCK_API_BASE", mock.base_url.as_str()),
        ("PROXY_API_KEY", PROXY_KEY),
    ];
    let start = || {
        let mut cmd = proxy(dir.path(), &env);
        cmd.args(["--host", "127.0.0.1", "--port", "0"]);
        Running::start(cmd)
    };
    let running = start();
    let body = format!(r#"{{"provider":"mock","key":"{NEW_KEY}"}}"#);
    let (status, answer) = call(&running.addr, "POST", "/v1/admin/keys", &body);
    assert_eq!(status, 201, "{answer}");
    assert!(!answer.contains(NEW_KEY), "{answer}");
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(
        text,
        format!("# keys\nMOCK_API_KEY_1={KEY_1}\nMOCK_API_KEY_2={NEW_KEY}\n")
    );
    running.kill_hard();

    let running = start();
    assert_eq!(disabled(&running.addr, NEW_KEY), Some(false));
    let path = format!("/v1/admin/keys/{}", KeyId::of(NEW_KEY));
    let (status, answer) = call(&running.addr, "DELETE", &path, "");
    assert_eq!(status, 200, "{answer}");
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(text, format!("# keys\nMOCK_API_KEY_1={KEY_1}\n"));
    running.kill_hard();

    let running = start();
    assert_eq!(disabled(&running.addr, NEW_KEY), None);
    assert_eq!(keys(&running.addr).len(), 1);
}

#[test]
fn a_key_disabled_on_one_replica_gets_no_call_from_another_until_enabled() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let group = replicas(2, &redis, &mock, &[KEY_1, KEY_2], &[]);
    let (a, b) = (&group[0].running.addr, &group[1].running.addr);
    let id = KeyId::of(KEY_1).to_string();
    let (status, answer) = call(a, "POST", &format!("/v1/admin/keys/{id}/disable"), "");
    assert_eq!(status, 200, "{answer}");

    // At once: B has not read the flag back yet, its acquire script refuses
    // the key.
    for _ in 0..10 {
        assert_eq!(chat(b, "m"), 200);
    }
    assert_eq!(mock.calls(KEY_1, "m"), 0);
    assert_eq!(mock.calls(KEY_2, "m"), 10);
    eventually("B lists the key disabled", || {
        disabled(b, KEY_1) == Some(true)
    });

    // A replica started afterwards knows it from Redis.
    let late = replica(&redis, &mock, &[KEY_1, KEY_2], &[]);
    let c = &late.running.addr;
    for _ in 0..5 {
        assert_eq!(chat(c, "m"), 200);
    }
    assert_eq!(mock.calls(KEY_1, "m"), 0);
    eventually("C lists the key disabled", || {
        disabled(c, KEY_1) == Some(true)
    });

    let (status, answer) = call(c, "POST", &format!("/v1/admin/keys/{id}/enable"), "");
    assert_eq!(status, 200, "{answer}");
    eventually("B lists the key enabled", || {
        disabled(b, KEY_1) == Some(false)
    });
    // Key 1 has served nothing today: B picks it next.
    assert_eq!(chat(b, "m"), 200);
    assert_eq!(mock.calls(KEY_1, "m"), 1);
    assert_nothing_raw(&redis, &[]);
}
