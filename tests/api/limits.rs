//! Per-key limits through the app: a daily cap spreads requests over the
//! keys, then the client gets 429 with `Retry-After` and no call goes
//! upstream; the counts show in `/v1/usage` and `/metrics` and survive a
//! restart. Minute and token windows are tested with an injected clock in
//! the key pool (`keypool/limits_tests.rs`).

use actix_web::http::StatusCode;
use chrono::{DateTime, Timelike, Utc};

use crate::helpers::*;

/// `HH:MM` two hours from now (UTC), whole minutes: a provider reset the
/// test can predict without waiting for it.
fn two_hours_ahead() -> (String, DateTime<Utc>) {
    let at = (Utc::now() + chrono::TimeDelta::hours(2))
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    (at.format("%H:%M").to_string(), at)
}

#[actix_web::test]
async fn a_daily_cap_spreads_requests_then_refuses_without_calling_the_provider() {
    let (time, reset) = two_hours_ahead();
    let mut app = spawn_with(Options {
        extra_env: vec![
            ("RPD_LIMIT_MOCK".into(), "2".into()),
            ("DAILY_RESET_TIME_MOCK".into(), time),
        ],
        ..Options::default()
    })
    .await;
    for _ in 0..4 {
        assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    }
    assert_eq!(app.mock.calls(KEY_1, "m"), 2, "the cap spreads requests");
    assert_eq!(app.mock.calls(KEY_2, "m"), 2);

    let (status, retry_after, body) = chat_with_retry_after(&app, "mock/m").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    // Until the provider's own reset, two hours on (not the global 03:00).
    let expected = (reset - Utc::now()).num_seconds() as u64;
    let told = retry_after.unwrap();
    assert!(told.abs_diff(expected) <= 5, "{told} vs {expected}");
    assert_eq!(app.mock.total_calls(), 4, "no call upstream");

    let usage = app.usage_of(KEY_1, "m").await;
    let rpd = &usage["limits"]["rpd"];
    assert_eq!(
        (rpd["limit"].as_u64(), rpd["used"].as_u64()),
        (Some(2), Some(2))
    );
    let resets_at: DateTime<Utc> = rpd["resets_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(resets_at, reset);
    assert!(usage["limits"].get("rpm").is_none(), "{usage}");

    let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
    let metrics = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    for line in [
        "llm_proxy_limit{provider=\"mock\",limit=\"rpd\"} 4",
        "llm_proxy_limit_used{provider=\"mock\",limit=\"rpd\"} 4",
        "llm_proxy_keys_capped{provider=\"mock\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    // A restart remembers the day's count.
    app.restart().await;
    let (status, _, _) = chat_with_retry_after(&app, "mock/m").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.mock.total_calls(), 4);
    app.stop().await;
}

#[actix_web::test]
async fn bad_limits_stop_the_start_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MOCK_API_KEY", KEY_1),
        ("MOCK_API_BASE", "http://127.0.0.1:9/v1"),
        ("RPM_LIMIT_MOCK", "-3"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let error = try_config_for(&env, dir.path()).unwrap_err().to_string();
    assert!(error.contains("RPM_LIMIT_MOCK"), "{error}");
    assert!(error.contains("positive whole number"), "{error}");
}

#[actix_web::test]
async fn a_route_moves_on_when_every_key_of_a_target_is_at_its_limit() {
    let app = crate::routes::spawn_routes(&[("RPD_LIMIT_MOCK", "1")]).await;
    let mut answered = Vec::new();
    for _ in 0..4 {
        let (status, target, body) =
            crate::routes::post(&app, "/v1/chat/completions", &chat_body("fast")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        answered.push(target);
    }
    // One call per key of `mock` today, then the backup, at once.
    assert_eq!(answered, ["mock/m", "mock/m", "backup/b", "backup/b"]);
    assert_eq!(app.mock.calls(KEY_1, "m"), 1);
    assert_eq!(app.mock.calls(KEY_2, "m"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn a_token_limit_counts_the_usage_of_the_answer() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        extra_env: vec![("TPM_LIMIT_MOCK".into(), "100000".into())],
        ..Options::default()
    })
    .await;
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let used = body["usage"]["total_tokens"].as_u64().unwrap();
    let tpm = &app.usage_of(KEY_1, "m").await["limits"]["tpm"];
    assert_eq!(tpm["limit"], 100000);
    // The estimate reserved for the call gave way to the answer's usage
    // (unless the minute turned in between: then it starts from zero).
    let counted = tpm["used"].as_u64().unwrap();
    assert!(counted == used || counted == 0, "{counted} vs {used}");
    app.stop().await;
}
