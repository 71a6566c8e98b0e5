//! `GET /metrics` after scripted traffic.

use actix_web::http::StatusCode;

use crate::helpers::*;
use crate::mock_upstream::Reply;

#[actix_web::test]
async fn metrics_count_requests_attempts_and_resting_keys() {
    let app = spawn_app().await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::status(429).with_header("Retry-After", "60")],
    );
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.chat("nope/m").await.0, StatusCode::BAD_REQUEST);

    let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no auth needed");
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    for line in [
        r#"llm_proxy_requests_total{provider="mock",model="m",status="200"} 1"#,
        r#"llm_proxy_requests_total{provider="",model="",status="400"} 1"#,
        r#"llm_proxy_upstream_attempts_total{provider="mock",class="rate_limited"} 1"#,
        r#"llm_proxy_upstream_attempts_total{provider="mock",class="success"} 1"#,
        r#"llm_proxy_keys_cooling{provider="mock"} 1"#,
        r#"llm_proxy_keys_locked{provider="mock"} 0"#,
        r#"llm_proxy_keys{provider="mock"} 2"#,
        r#"llm_proxy_request_duration_seconds_count{route="/v1/chat/completions"} 2"#,
        r#"llm_proxy_upstream_duration_seconds_count{provider="mock"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(
        !text.contains(KEY_1) && !text.contains("key…0001"),
        "no key labels"
    );
    app.stop().await;
}
