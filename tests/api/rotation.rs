//! Failed attempts rotate to the next untried key; client errors do not.

use actix_web::http::StatusCode;

use crate::helpers::*;
use mock_upstream::Reply;

#[actix_web::test]
async fn rate_limit_auth_failure_and_server_error_each_rotate() {
    // Transient failures (5xx) are retried on the same key first.
    for (code, calls_on_key_1) in [(429, 1), (401, 1), (403, 1), (500, 3), (502, 3)] {
        let app = spawn_app().await;
        app.mock.script(
            KEY_1,
            "m",
            vec![Reply::status(code).with_header("Retry-After", "30")],
        );
        let (status, body) = app.chat("mock/m").await;
        assert_eq!(status, StatusCode::OK, "{code}: {body}");
        assert_eq!(app.mock.calls(KEY_1, "m"), calls_on_key_1, "{code}");
        assert_eq!(app.mock.calls(KEY_2, "m"), 1, "{code}");
        let failed = app.usage_of(KEY_1, "m").await;
        // One failure per upstream call, retries included.
        assert_eq!(failed["daily"]["failures"], calls_on_key_1, "{code}");
        let served = app.usage_of(KEY_2, "m").await;
        assert_eq!(served["daily"]["successes"], 1, "{code}");
        app.stop().await;
    }
}

#[actix_web::test]
async fn upstream_client_errors_are_returned_after_one_attempt_without_penalty() {
    for code in [400, 404, 413, 422] {
        let app = spawn_app().await;
        app.mock.script(KEY_1, "m", vec![Reply::status(code)]);
        app.mock.script(KEY_2, "m", vec![Reply::status(code)]);
        let (status, body) = app.chat("mock/m").await;
        assert_eq!(status.as_u16(), code, "{body}");
        assert_eq!(
            body["error"]["message"],
            format!("mock {code}"),
            "upstream body unchanged"
        );
        assert_eq!(
            app.mock.total_calls(),
            1,
            "{code}: exactly one upstream call"
        );
        let usage = app.usage_of(KEY_1, "m").await;
        assert!(
            usage.is_null(),
            "{code}: no penalty, and no record: {usage}"
        );
        app.stop().await;
    }
}

#[actix_web::test]
async fn every_key_failing_gives_503_naming_each_masked_key() {
    let app = spawn_with(Options {
        keys: vec![KEY_1, KEY_2, KEY_3],
        ..Options::default()
    })
    .await;
    app.mock.script(KEY_1, "m", vec![Reply::status(429)]);
    app.mock.script(KEY_2, "m", vec![Reply::status(401)]);
    app.mock.script(KEY_3, "m", vec![Reply::status(503)]);
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "no_available_keys");
    let message = body["error"]["message"].as_str().unwrap();
    for (mask, why) in [
        ("key…0001", "rate_limited"),
        ("key…0002", "key_rejected"),
        ("key…0003", "transient"),
    ] {
        assert!(message.contains(&format!("{mask} ({why}")), "{message}");
    }
    // Each key once; the 503 (transient) key with its two retries.
    for (key, calls) in [(KEY_1, 1), (KEY_2, 1), (KEY_3, 3)] {
        assert!(!message.contains(key), "raw key leaked: {message}");
        assert_eq!(app.mock.calls(key, "m"), calls, "{key}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn unreachable_provider_is_a_transient_failure_of_every_key() {
    let app = spawn_with(Options {
        extra_env: vec![
            ("DEAD_API_KEY".into(), "dead-provider-key-0001".into()),
            // A port nobody listens on.
            ("DEAD_API_BASE".into(), "http://127.0.0.1:9/v1".into()),
        ],
        ..Options::default()
    })
    .await;
    let (status, body) = app.chat("dead/m").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dea…0001 (transient"),
        "{body}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_bad_success_body_rotates() {
    let app = spawn_app().await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_body(serde_json::json!("not an object"))],
    );
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.mock.calls(KEY_2, "m"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn after_every_key_failed_the_request_waits_for_one_to_come_back() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        // Long enough for the 10 s ladder step.
        extra_env: vec![("GLOBAL_TIMEOUT".into(), "60s".into())],
        ..Options::default()
    })
    .await;
    app.mock
        .script(KEY_1, "m", vec![Reply::status(429), Reply::ok()]);
    let request = app.chat("mock/m");
    let recover = async {
        // The only key failed and cools down for 10 s; rather than a 429,
        // the request waits for it. The key comes back (here by the manual
        // reset, which wakes waiting requests) and the request succeeds.
        eventually("the first attempt", || app.mock.calls(KEY_1, "m") == 1).await;
        let (status, _) = app
            .post_json("/v1/usage/reset", &serde_json::json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
    };
    let ((status, body), ()) = futures_util::future::join(request, recover).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.mock.calls(KEY_1, "m"), 2);
    app.stop().await;
}

#[actix_web::test]
async fn retries_on_the_same_key_count_in_its_usage() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        ..Options::default()
    })
    .await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::status(500), Reply::status(502), Reply::ok()],
    );
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(KEY_1, "m"), 3);
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["daily"]["requests"], 3, "{usage}");
    assert_eq!(usage["daily"]["failures"], 2, "{usage}");
    assert_eq!(usage["daily"]["successes"], 1, "{usage}");
    // Retried failures do not cool the key: the success reset the count.
    assert!(usage["cooldown_until"].is_null(), "{usage}");
    assert_eq!(usage["consecutive_failures"], 0, "{usage}");
    app.stop().await;
}
