//! Bad input and bad credentials get clear errors in the OpenAI envelope.

use actix_web::http::StatusCode;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::helpers::*;

fn assert_envelope(body: &Value, kind: &str) -> String {
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(
        body["error"].get("param").is_some() && body["error"].get("code").is_some(),
        "{body}"
    );
    body["error"]["message"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn missing_or_wrong_proxy_key_is_401() {
    let app = spawn_app().await;
    let body = Bytes::from(chat_body("mock/m").to_string());
    for key in [None, Some("wrong-key"), Some("")] {
        let (status, answer) = app
            .post_raw("/v1/chat/completions", body.clone(), key)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        let message = assert_envelope(&answer, "authentication_error");
        assert!(message.contains("PROXY_API_KEY"), "{message}");
        assert!(!message.contains(PROXY_KEY));
    }
    // The scheme is case-insensitive.
    let mut res = app
        .client
        .get(app.url("/v1/providers"))
        .insert_header(("authorization", format!("bEaReR {PROXY_KEY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!(["mock"]));
    // Every /v1 route is protected; /health is not.
    let res = app.client.get(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn bad_requests_are_400_with_a_helpful_message() {
    let app = spawn_app().await;
    let cases: Vec<(Bytes, &str)> = vec![
        (Bytes::from_static(b"{not json"), "not valid JSON"),
        (Bytes::from_static(b""), "empty"),
        (Bytes::from_static(b"[1,2]"), "JSON object"),
        (
            Bytes::from(json!({"messages": []}).to_string()),
            "`model` is required",
        ),
        (
            Bytes::from(chat_body("gpt-4o").to_string()),
            "no provider prefix",
        ),
        (
            Bytes::from(chat_body("nope/gpt-4o").to_string()),
            "unknown provider `nope`",
        ),
        (
            Bytes::from(json!({"model": "mock/m", "stream": "yes"}).to_string()),
            "`stream`",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = app
            .post_raw("/v1/chat/completions", body, Some(PROXY_KEY))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expected}: {answer}");
        let message = assert_envelope(&answer, "invalid_request_error");
        assert!(message.contains(expected), "{message}");
    }
    let (_, answer) = app.chat("nope/gpt-4o").await;
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("configured providers: mock"), "{message}");
    assert_eq!(answer["error"]["param"], "model");
    assert_eq!(app.mock.total_calls(), 0, "nothing reached the upstream");
    app.stop().await;
}

#[actix_web::test]
async fn oversized_body_is_413() {
    let app = spawn_with(Options {
        extra_env: vec![("MAX_BODY_SIZE".into(), "1024".into())],
        ..Options::default()
    })
    .await;
    let big =
        json!({"model": "mock/m", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let (status, answer) = app.post_json("/v1/chat/completions", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let message = assert_envelope(&answer, "invalid_request_error");
    assert!(message.contains("1024"), "{message}");
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn unknown_routes_and_methods_use_the_envelope() {
    let app = spawn_app().await;
    let (status, answer) = app.get_json("/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_envelope(&answer, "invalid_request_error");
    let (status, answer) = app.get_json("/v1/chat/completions").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_envelope(&answer, "invalid_request_error");
    let res = app.client.get(app.url("/elsewhere")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().contains_key("x-request-id"));
    app.stop().await;
}

#[actix_web::test]
async fn request_id_is_echoed_or_generated() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/health"))
        .insert_header(("x-request-id", "my-trace-42"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get("x-request-id").unwrap(), "my-trace-42");
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    let id = res.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert!(id.starts_with("req_") && id.len() > 10, "{id}");
    app.stop().await;
}
