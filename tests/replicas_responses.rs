//! Stored Responses API responses with the Redis backend: a response one
//! replica kept is fetched, listed, continued and deleted via another,
//! and its record in Redis holds no key; the size bounds and oldest-first
//! eviction hold in Redis as in sled. Skipped, with a message, without
//! `redis-server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::redis_server::RedisServer;
use common::replica_group::*;
use mock_upstream::MockUpstream;

fn json(answer: (u16, String)) -> (u16, Value) {
    let value = serde_json::from_str(&answer.1).unwrap_or(Value::Null);
    (answer.0, value)
}

/// `GET path` on `addr` until it answers 200 (a replica keeps a response
/// from a task of its own, just after answering).
fn fetched(addr: &str, path: &str) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = json(call(addr, "GET", path, ""));
        if status == 200 || start.elapsed() > Duration::from_secs(5) {
            assert_eq!(status, 200, "{path}: {body}");
            return body;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_response_kept_via_one_replica_is_continued_via_another() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let group = replicas(2, &redis, &mock, &[KEY_1], &[]);
    let (a, b) = (&group[0].running.addr, &group[1].running.addr);

    let body = r#"{"model":"mock/m","input":"my name is Ada"}"#;
    let (status, first) = json(call(a, "POST", "/v1/responses", body));
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["store"], true);
    let id = first["id"].as_str().unwrap();

    let fetched_b = fetched(b, &format!("/v1/responses/{id}"));
    assert_eq!(fetched_b, first, "replica B returns what A answered");
    let (_, items) = json(call(
        b,
        "GET",
        &format!("/v1/responses/{id}/input_items"),
        "",
    ));
    assert_eq!(
        items["data"][0]["content"][0]["text"], "my name is Ada",
        "{items}"
    );

    let next = format!(r#"{{"model":"mock/m","input":"and now?","previous_response_id":"{id}"}}"#);
    let (status, second) = json(call(b, "POST", "/v1/responses", &next));
    assert_eq!(status, 200, "{second}");
    let sent = mock.last_body("/v1/chat/completions").unwrap();
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{sent}");
    assert_eq!(messages[0]["content"], "my name is Ada");

    let (status, _) = call(a, "DELETE", &format!("/v1/responses/{id}"), "");
    assert_eq!(status, 200);
    let (status, _) = call(b, "GET", &format!("/v1/responses/{id}"), "");
    assert_eq!(status, 404, "deleted for every replica");
    let (status, error) = json(call(b, "POST", "/v1/responses", &next));
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["code"], "previous_response_not_found");

    assert_nothing_raw(&redis, &[]);
}

#[test]
fn responses_in_redis_are_bounded_and_the_oldest_go_first() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockUpstream::start_in_background();
    let bounds = [
        ("RESPONSES_MAX_RESPONSE_BYTES", "6000"),
        ("RESPONSES_MAX_STORED_BYTES", "12000"),
    ];
    let a = replica(&redis, &mock, &[KEY_1], &bounds);
    let addr = &a.running.addr;
    let mut ids = Vec::new();
    for i in 0..8 {
        let body = format!(r#"{{"model":"mock/m","input":"{i} {}"}}"#, "x".repeat(2500));
        let (status, response) = json(call(addr, "POST", "/v1/responses", &body));
        assert_eq!(status, 200, "{response}");
        ids.push(response["id"].as_str().unwrap().to_string());
        // Kept in order: each by a task of its own, just after its answer.
        fetched(addr, &format!("/v1/responses/{}", ids[i]));
    }
    let kept: Vec<bool> = ids
        .iter()
        .map(|id| call(addr, "GET", &format!("/v1/responses/{id}"), "").0 == 200)
        .collect();
    let first_kept = kept.iter().position(|k| *k).unwrap();
    assert!(first_kept > 0, "the oldest were evicted: {kept:?}");
    assert!(
        kept[first_kept..].iter().all(|k| *k),
        "only the oldest: {kept:?}"
    );

    let big = format!(r#"{{"model":"mock/m","input":"{}"}}"#, "y".repeat(7000));
    let (status, response) = json(call(addr, "POST", "/v1/responses", &big));
    assert_eq!(status, 200, "answered, larger than one response may be");
    let id = response["id"].as_str().unwrap();
    // Time for its keeping task to have run, had it anything to keep.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(call(addr, "GET", &format!("/v1/responses/{id}"), "").0, 404);
    assert_eq!(
        call(addr, "GET", &format!("/v1/responses/{}", ids[7]), "").0,
        200,
        "the refused one evicted nothing"
    );
}
