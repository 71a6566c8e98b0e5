//! The status page: `GET /` and `GET /status` serve a self-contained page
//! without auth and without data; the data stays behind the proxy key.

use actix_web::http::StatusCode;
use mock_upstream::Reply;
use serde_json::Value;

use crate::helpers::*;

async fn fetch_page(app: &TestApp, path: &str) -> (StatusCode, String, String, String) {
    let mut res = app.client.get(app.url(path)).send().await.unwrap();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let content_type = header("content-type");
    let csp = header("content-security-policy");
    let body = res.body().await.unwrap();
    (
        res.status(),
        content_type,
        csp,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[actix_web::test]
async fn status_page_is_served_without_auth_and_without_key_material() {
    let app = spawn_app().await;
    // Some usage first, so that there would be something to leak.
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    for path in ["/", "/status"] {
        let (status, content_type, csp, body) = fetch_page(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(content_type, "text/html; charset=utf-8", "{path}");
        assert!(
            body.contains("<title>llm-key-proxy status</title>"),
            "{path}"
        );
        assert!(
            body.contains("/v1/usage"),
            "{path}: the page reads the usage"
        );
        for secret in [KEY_1, KEY_2, PROXY_KEY, "key…0001"] {
            assert!(!body.contains(secret), "{path} leaks {secret}");
        }
        for directive in [
            "default-src 'none'",
            "script-src 'unsafe-inline'",
            "style-src 'unsafe-inline'",
            "connect-src 'self'",
            "img-src data:",
        ] {
            assert!(
                csp.contains(directive),
                "{path}: CSP {csp:?} lacks {directive}"
            );
        }
    }
    app.stop().await;
}

#[actix_web::test]
async fn status_page_is_self_contained() {
    let app = spawn_app().await;
    let (_, _, _, body) = fetch_page(&app, "/status").await;
    // The chart's SVG namespace is a name, not something loaded.
    let body = body.replace("\"http://www.w3.org/2000/svg\"", "");
    for external in ["http://", "https://", "src=", "<link rel=\"stylesheet\""] {
        assert!(!body.contains(external), "the page loads {external}");
    }
    assert!(!body.contains("innerHTML"), "text goes in via textContent");
    app.stop().await;
}

#[actix_web::test]
async fn status_page_data_still_needs_the_proxy_key() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/v1/usage")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .get(app.url("/v1/usage"))
        .bearer_auth("not-the-key")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (status, usage) = app.get_json("/v1/usage").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usage["providers"]["mock"]["keys"][0]["masked"], "key…0001");
    app.stop().await;
}

#[actix_web::test]
async fn status_page_answers_get_only() {
    let app = spawn_app().await;
    let res = app.client.post(app.url("/status")).send().await.unwrap();
    assert_ne!(res.status(), StatusCode::OK);
    app.stop().await;
}

#[actix_web::test]
async fn hourly_history_counts_requests_failures_and_rate_limits_and_survives_a_restart() {
    let mut app = spawn_app().await;
    app.mock.script(
        KEY_1,
        "m",
        vec![
            Reply::status(429).with_header("Retry-After", "900"),
            Reply::ok(),
        ],
    );
    // The 429 rotates to the other key: two attempts, one rate-limited.
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    let hours = |usage: &Value| usage["history"]["mock"].as_array().cloned().unwrap();
    let (_, usage) = app.get_json("/v1/usage").await;
    let counted = hours(&usage);
    let this_hour = counted.last().unwrap();
    assert_eq!(this_hour["requests"], 3, "{usage}");
    assert_eq!(this_hour["failures"], 1, "{usage}");
    assert_eq!(this_hour["rate_limited"], 1, "{usage}");
    let start = chrono::DateTime::parse_from_rfc3339(this_hour["hour"].as_str().unwrap()).unwrap();
    let age = chrono::Utc::now().signed_duration_since(start);
    assert!(age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::hours(1));
    // Written behind like usage, and saved at shutdown.
    app.restart().await;
    let (_, usage) = app.get_json("/v1/usage").await;
    assert_eq!(hours(&usage), counted);
    app.stop().await;
}
