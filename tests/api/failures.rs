//! Failures that follow the request, not the key: a repeated transient
//! failure is a 502, an outage is a 503 (never the client's 429), and a
//! locked key beside rate-limited ones still gives a 429.

use actix_web::http::StatusCode;

use crate::helpers::*;
use mock_upstream::Reply;

#[actix_web::test]
async fn a_transient_failure_on_a_second_key_is_a_502_and_cools_no_further_key() {
    let app = spawn_with(Options {
        keys: vec![KEY_1, KEY_2, KEY_3],
        ..Options::default()
    })
    .await;
    for key in [KEY_1, KEY_2, KEY_3] {
        app.mock.script(key, "m", vec![Reply::status(500)]);
    }
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["type"], "upstream_error");
    assert_eq!(body["error"]["code"], "upstream_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("HTTP 500: mock 500"), "{message}");
    assert!(message.contains("key…0002"), "{message}");
    assert!(!message.contains(KEY_2), "raw key leaked: {message}");
    // The first key with its retries, the second once, the third never.
    for (key, calls) in [(KEY_1, 3), (KEY_2, 1), (KEY_3, 0)] {
        assert_eq!(app.mock.calls(key, "m"), calls, "{key}");
    }
    assert!(!app.usage_of(KEY_1, "m").await["cooldown_until"].is_null());
    let second = app.usage_of(KEY_2, "m").await;
    assert!(second["cooldown_until"].is_null(), "{second}");
    assert_eq!(second["daily"]["failures"], 1, "{second}");
    app.stop().await;
}

#[actix_web::test]
async fn an_outage_is_a_503_with_retry_after_not_a_429() {
    let app = spawn_with(Options {
        extra_env: vec![("GLOBAL_TIMEOUT".into(), "3s".into())],
        ..Options::default()
    })
    .await;
    for key in [KEY_1, KEY_2] {
        app.mock.script(key, "m", vec![Reply::status(503)]);
    }
    let (status, _, body) = chat_with_retry_after(&app, "mock/m").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    // Key 1 rests; key 2 fails for the next request and rests too.
    let (status, retry_after, body) = chat_with_retry_after(&app, "mock/m").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        retry_after.is_some_and(|s| (1..=10).contains(&s)),
        "{retry_after:?}"
    );
    let calls = app.mock.total_calls();
    // Every key resting after 5xx: refused at once, as an outage.
    let (status, retry_after, body) = chat_with_retry_after(&app, "mock/m").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "no_available_keys");
    assert!(
        retry_after.is_some_and(|s| (1..=10).contains(&s)),
        "{retry_after:?}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("provider failures"), "{message}");
    assert_eq!(app.mock.total_calls(), calls, "no upstream call");
    app.stop().await;
}

#[actix_web::test]
async fn a_locked_key_beside_rate_limited_ones_is_a_429_with_retry_after() {
    let app = spawn_app().await;
    let limited = || Reply::status(429).with_header("Retry-After", "60");
    app.mock.script(KEY_1, "m", vec![Reply::ok(), limited()]);
    app.mock.script(KEY_1, "n", vec![limited()]);
    app.mock.script(KEY_2, "*", vec![Reply::status(401)]);
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    // Key 2 (fewer successes) is rejected and locked, key 1 rate-limited.
    let (status, retry_after, body) = chat_with_retry_after(&app, "mock/m").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        retry_after.is_some_and(|s| (50..=60).contains(&s)),
        "{retry_after:?}"
    );
    // Key 2 is locked already; key 1 is rate-limited by this request.
    let (status, retry_after, body) = chat_with_retry_after(&app, "mock/n").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(
        retry_after.is_some_and(|s| (50..=60).contains(&s)),
        "{retry_after:?}"
    );
    assert_eq!(app.mock.calls_for_key(KEY_2), 1);
    app.stop().await;
}
