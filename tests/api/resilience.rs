//! Cooldowns, lockouts, retries and deadlines against the scripted upstream.

use std::time::Duration;

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::{Reply, StreamScript};

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .to_utc()
}

#[actix_web::test]
async fn a_rate_limited_key_rests_for_that_model_only() {
    let app = spawn_app().await;
    app.mock.script(
        KEY_1,
        "m",
        vec![
            Reply::status(429).with_header("Retry-After", "30"),
            Reply::ok(),
        ],
    );
    let (status, _) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (app.mock.calls(KEY_1, "m"), app.mock.calls(KEY_2, "m")),
        (1, 1)
    );

    let usage = app.usage_of(KEY_1, "m").await;
    let rest = time(&usage["cooldown_until"]) - Utc::now();
    assert!((25..=30).contains(&rest.num_seconds()), "{usage}");
    assert_eq!(usage["consecutive_failures"], 1);

    // Key 2 now has more successes, yet key 1 stays untouched for `m`…
    for _ in 0..2 {
        assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    }
    assert_eq!(app.mock.calls(KEY_1, "m"), 1, "key 1 rests for m");
    // …while it still serves other models.
    assert_eq!(app.chat("mock/other").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(KEY_1, "other"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn transient_errors_are_retried_on_the_same_key() {
    let app = spawn_app().await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::status(500), Reply::status(500), Reply::ok()],
    );
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.mock.calls(KEY_1, "m"), 3);
    assert_eq!(app.mock.calls(KEY_2, "m"), 0);
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(
        usage["consecutive_failures"], 0,
        "the success reset the counter"
    );
    assert!(usage["cooldown_until"].is_null());
    app.stop().await;
}

#[actix_web::test]
async fn a_rejected_key_is_locked_for_every_model() {
    let app = spawn_app().await;
    app.mock.script(KEY_1, "*", vec![Reply::status(401)]);
    assert_eq!(app.chat("mock/a").await.0, StatusCode::OK);
    assert_eq!(app.chat("mock/b").await.0, StatusCode::OK);
    assert_eq!(app.chat("mock/c").await.0, StatusCode::OK);
    assert_eq!(
        app.mock.calls_for_key(KEY_1),
        1,
        "only the first request tried key 1"
    );
    assert_eq!(app.mock.calls_for_key(KEY_2), 3);
    let (_, usage) = app.get_json("/v1/usage").await;
    let key_1 = &usage["providers"]["mock"]["keys"][0];
    let locked = time(&key_1["locked_until"]) - Utc::now();
    assert!((290..=300).contains(&locked.num_seconds()), "{key_1}");
    app.stop().await;
}

#[actix_web::test]
async fn every_key_resting_past_the_deadline_is_an_immediate_429() {
    let app = spawn_app().await;
    for key in [KEY_1, KEY_2] {
        app.mock.script(
            key,
            "m",
            vec![Reply::status(429).with_header("Retry-After", "3600")],
        );
    }
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(app.mock.total_calls(), 2);

    // The next request does not even reach the upstream.
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(PROXY_KEY)
        .send_json(&chat_body("mock/m"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3590..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(app.mock.total_calls(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn a_hanging_upstream_ends_in_504_within_the_deadline() {
    let app = spawn_with(Options {
        extra_env: vec![("GLOBAL_TIMEOUT".into(), "400ms".into())],
        ..Options::default()
    })
    .await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_delay(Duration::from_secs(30))],
    );
    app.mock.script(
        KEY_2,
        "m",
        vec![Reply::ok().with_delay(Duration::from_secs(30))],
    );
    let started = std::time::Instant::now();
    let mut body = chat_body("mock/m");
    body["stream"] = json!(true);
    let (status, answer) = app.post_json("/v1/chat/completions", &body).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{answer}");
    assert_eq!(answer["error"]["code"], "timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the deadline, not the upstream"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_stream_whose_first_event_is_an_error_counts_as_that_error() {
    let app = spawn_app().await;
    let error = json!({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded", "code": 429}});
    let script = StreamScript::raw(vec![error.to_string()]);
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(script)]);
    let mut body = chat_body("mock/m");
    body["stream"] = json!(true);
    let (status, _, events) = app.chat_stream(&body).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !events.iter().any(|e| e.contains("Rate limit reached")),
        "{events:?}"
    );
    assert_eq!(
        app.mock.calls(KEY_1, "m"),
        1,
        "a rate limit is not retried on the same key"
    );
    assert_eq!(app.mock.calls(KEY_2, "m"), 1);
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["last_failure"], "rate_limited");
    assert!(!usage["cooldown_until"].is_null());
    app.stop().await;
}

#[actix_web::test]
async fn cooldowns_can_be_cleared_by_hand() {
    let app = spawn_app().await;
    for key in [KEY_1, KEY_2] {
        app.mock.script(
            key,
            "m",
            vec![
                Reply::status(429).with_header("Retry-After", "3600"),
                Reply::ok(),
            ],
        );
    }
    assert_eq!(app.chat("mock/m").await.0, StatusCode::TOO_MANY_REQUESTS);
    let key_1 = llm_key_proxy::secret::KeyId::of(KEY_1).to_string();
    let (status, answer) = app
        .post_json(
            "/v1/usage/reset",
            &json!({"provider": "mock", "key_id": key_1, "model": "m"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["reset"], 1);
    assert!(app.usage_of(KEY_1, "m").await["cooldown_until"].is_null());
    assert!(!app.usage_of(KEY_2, "m").await["cooldown_until"].is_null());
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(KEY_1, "m"), 2);

    let (status, answer) = app
        .post_json("/v1/usage/reset", &json!({"key_id": "nope"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = app
        .post_json("/v1/usage/reset", &json!({"model": "never-asked-for"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("never-asked-for"), "{message}");
    let (status, answer) = app
        .post_raw("/v1/usage/reset", bytes::Bytes::new(), Some(PROXY_KEY))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an empty body resets everything: {answer}"
    );
    assert!(app.usage_of(KEY_2, "m").await["cooldown_until"].is_null());
    app.stop().await;
}

#[actix_web::test]
async fn usage_reports_the_daily_reset_schedule() {
    let app = spawn_with(Options {
        extra_env: vec![
            ("DAILY_RESET_TIME".into(), "04:30".into()),
            ("DAILY_RESET_TIMEZONE".into(), "Asia/Kolkata".into()),
        ],
        ..Options::default()
    })
    .await;
    let (_, usage) = app.get_json("/v1/usage").await;
    let next = time(&usage["daily_reset"]["next"]);
    assert_eq!(
        next.format("%H:%M").to_string(),
        "23:00",
        "04:30 in Kolkata is 23:00 UTC"
    );
    assert!(next > Utc::now());
    assert!(time(&usage["daily_reset"]["last"]) <= Utc::now());
    app.stop().await;
}
