//! Routes: a model name that stands for targets at several providers,
//! tried in order — when to move on, and when not. The mock serves two
//! providers here: `mock` (keys `KEY_1`, `KEY_2`, model `m`) and `backup`
//! (key `BACKUP_KEY`, model `b`).

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::Reply;

pub const BACKUP_KEY: &str = "key-number-backup-0009";

/// A proxy with `mock` and `backup`, and route `fast` = mock/m, backup/b;
/// `extra` variables besides.
pub async fn spawn_routes(extra: &[(&str, &str)]) -> TestApp {
    let app = spawn_app().await;
    // `backup` is a custom provider at the mock: it needs the mock's
    // address, known only now; a reload brings it in.
    let base = app.mock.base_url.clone();
    let env = [
        ("BACKUP_API_KEY", BACKUP_KEY),
        ("BACKUP_API_BASE", base.as_str()),
        ("ROUTE_FAST", "mock/m,backup/b"),
    ];
    for (name, value) in env.iter().chain(extra) {
        app.set_env(name, Some(value));
    }
    let (status, answer) = app.post_json("/v1/admin/reload", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    app
}

/// Status, `x-llm-key-proxy-target` and the JSON body of a POST.
pub async fn post(app: &TestApp, path: &str, body: &Value) -> (StatusCode, String, Value) {
    let mut res = app
        .client
        .post(app.url(path))
        .bearer_auth(PROXY_KEY)
        .send_json(body)
        .await
        .unwrap();
    let target = res
        .headers()
        .get("x-llm-key-proxy-target")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = res.body().limit(1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (res.status(), target, body)
}

pub async fn metrics(app: &TestApp) -> String {
    let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
    String::from_utf8(res.body().await.unwrap().to_vec()).unwrap()
}

pub fn rests() -> Reply {
    Reply::status(429).with_header("Retry-After", "60")
}

#[actix_web::test]
async fn a_route_answers_from_its_first_target() {
    let app = spawn_routes(&[]).await;
    let (status, target, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(target, "mock/m");
    assert_eq!(body["model"], "mock/m", "the body names the target");
    assert_eq!(app.mock.calls_for_key(BACKUP_KEY), 0);
    // A plain model says where it went too.
    let (_, target, _) = post(&app, "/v1/chat/completions", &chat_body("backup/b")).await;
    assert_eq!(target, "backup/b");
    app.stop().await;
}

#[actix_web::test]
async fn resting_keys_are_skipped_without_waiting_or_calling_them() {
    let app = spawn_routes(&[("GLOBAL_TIMEOUT", "30s")]).await;
    app.mock.script(KEY_1, "m", vec![rests()]);
    app.mock.script(KEY_2, "m", vec![rests()]);
    for _ in 0..3 {
        let started = Instant::now();
        let (status, target, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(target, "backup/b");
        assert_eq!(body["model"], "backup/b");
        assert!(started.elapsed() < Duration::from_secs(5), "no waiting");
    }
    // Each mock key once: on the first request. Then they rest, skipped.
    assert_eq!(app.mock.calls(KEY_1, "m"), 1);
    assert_eq!(app.mock.calls(KEY_2, "m"), 1);
    assert_eq!(app.mock.calls(BACKUP_KEY, "b"), 3);
    let text = metrics(&app).await;
    let line = r#"llm_proxy_fallbacks_total{route="fast",from="mock/m",to="backup/b"} 3"#;
    assert!(text.contains(line), "{text}");

    // Every target rests: a 429 at once, naming both.
    app.mock.script(BACKUP_KEY, "b", vec![rests()]);
    let started = Instant::now();
    let (status, _, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("route `fast`")
            && message.contains("mock/m: ")
            && message.contains("backup/b: "),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "no waiting");
    assert_eq!(app.mock.calls(KEY_1, "m") + app.mock.calls(KEY_2, "m"), 2);
    app.stop().await;
}

#[actix_web::test]
async fn server_errors_and_attempt_timeouts_fall_over() {
    let app = spawn_routes(&[("UPSTREAM_TIMEOUT", "200ms")]).await;
    app.mock.script(KEY_1, "m", vec![Reply::status(500)]);
    app.mock.script(KEY_2, "m", vec![Reply::status(500)]);
    let (status, target, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(target, "backup/b");
    // The first key with its retries, then the second: the failure
    // follows the request (502), and the route moves on.
    assert_eq!(app.mock.calls(KEY_1, "m"), 3);
    assert_eq!(app.mock.calls(KEY_2, "m"), 1);

    let slow = Reply::ok().with_delay(Duration::from_secs(2));
    app.mock.script(KEY_1, "slow", vec![slow.clone()]);
    app.mock.script(KEY_2, "slow", vec![slow]);
    app.set_env("ROUTE_SLOW", Some("mock/slow,backup/b"));
    assert_eq!(
        app.post_json("/v1/admin/reload", &json!({})).await.0,
        StatusCode::OK
    );
    let (status, target, body) = post(&app, "/v1/chat/completions", &chat_body("slow")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(target, "backup/b");
    app.stop().await;
}

#[actix_web::test]
async fn a_client_error_is_returned_without_falling_over() {
    let app = spawn_routes(&[]).await;
    for code in [400, 404, 413, 422] {
        app.mock.script(KEY_1, "m", vec![Reply::status(code)]);
        app.mock.script(KEY_2, "m", vec![Reply::status(code)]);
        let (status, target, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
        assert_eq!(status.as_u16(), code, "{body}");
        assert_eq!(body["error"]["message"], format!("mock {code}"));
        assert_eq!(target, "mock/m");
    }
    assert_eq!(app.mock.calls_for_key(BACKUP_KEY), 0);
    app.stop().await;
}

#[actix_web::test]
async fn an_input_too_long_goes_to_the_context_chain() {
    let app = spawn_routes(&[("CONTEXT_FALLBACK_FAST", "backup/big")]).await;
    let too_long = Reply::status(400).with_body(json!({"error": {
        "message": "This model's maximum context length is 8192 tokens.",
        "type": "invalid_request_error", "code": "context_length_exceeded"
    }}));
    app.mock.script(KEY_1, "m", vec![too_long.clone()]);
    app.mock.script(KEY_2, "m", vec![too_long]);
    let (status, target, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(target, "backup/big");
    assert_eq!(app.mock.calls(BACKUP_KEY, "b"), 0, "not the main chain");
    assert_eq!(
        app.mock.calls(KEY_1, "m") + app.mock.calls(KEY_2, "m"),
        1,
        "a refusal is no key's fault: no other key is asked"
    );

    // Without a context chain the client gets the refusal.
    app.set_env("CONTEXT_FALLBACK_FAST", None);
    assert_eq!(
        app.post_json("/v1/admin/reload", &json!({})).await.0,
        StatusCode::OK
    );
    let (status, _, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    app.stop().await;
}

#[actix_web::test]
async fn the_global_timeout_bounds_every_target_together() {
    let app = spawn_routes(&[("GLOBAL_TIMEOUT", "1s"), ("UPSTREAM_TIMEOUT", "300ms")]).await;
    let slow = Reply::ok().with_delay(Duration::from_secs(5));
    app.mock.script(KEY_1, "m", vec![slow.clone()]);
    app.mock.script(KEY_2, "m", vec![slow.clone()]);
    app.mock.script(BACKUP_KEY, "b", vec![slow]);
    let started = Instant::now();
    let (status, _, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[actix_web::test]
async fn busy_keys_are_skipped_and_waited_for_only_when_no_target_has_one() {
    let app = spawn_routes(&[]).await;
    let slow = Reply::ok().with_delay(Duration::from_millis(1500));
    app.mock.script(KEY_1, "m", vec![slow.clone()]);
    app.mock.script(KEY_2, "m", vec![slow.clone()]);
    // Both mock keys busy (one request each at a time, the default).
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let (base, client) = (app.base.clone(), app.client.clone());
            actix_rt::spawn(async move {
                let mut res = client
                    .post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(PROXY_KEY)
                    .send_json(&chat_body("mock/m"))
                    .await
                    .unwrap();
                let _ = res.body().await;
                res.status()
            })
        })
        .collect();
    let app_ref = &app;
    eventually("both keys busy", || {
        app_ref.mock.in_flight(KEY_1, "m") == 1 && app_ref.mock.in_flight(KEY_2, "m") == 1
    })
    .await;
    let started = Instant::now();
    let (status, target, _) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!((status, target.as_str()), (StatusCode::OK, "backup/b"));
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "not waited"
    );

    // Now the backup is busy too: the request waits for the first key
    // that frees up.
    app.mock.script(BACKUP_KEY, "b", vec![slow]);
    let backup = {
        let (base, client) = (app.base.clone(), app.client.clone());
        actix_rt::spawn(async move {
            let mut res = client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(PROXY_KEY)
                .send_json(&chat_body("backup/b"))
                .await
                .unwrap();
            let _ = res.body().await;
        })
    };
    eventually("backup busy", || {
        app_ref.mock.in_flight(BACKUP_KEY, "b") == 1
    })
    .await;
    let (status, _, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for request in busy {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    backup.await.unwrap();
    app.stop().await;
}
