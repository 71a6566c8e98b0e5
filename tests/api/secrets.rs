//! Keys echoed in a provider's answer reach the client masked, in every
//! JSON spelling; placeholder keys (servers without auth) are not masked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;

use crate::helpers::*;
use mock_upstream::Reply;

/// An upstream that answers every request with `status` and exactly
/// `body` (the scripted mock re-encodes its JSON, which never writes `\/`).
async fn raw_upstream(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().default_service(web::to(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                HttpResponse::build(StatusCode::from_u16(status).unwrap())
                    .content_type("application/json")
                    .body(body)
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let base = format!("http://{}/v1", server.addrs()[0]);
    actix_rt::spawn(server.run());
    (base, calls)
}

#[actix_web::test]
async fn an_echoed_key_is_masked_in_its_json_escaped_spellings() {
    const KEY: &str = "mk/slash-0123456789-secret";
    let (base, calls) = raw_upstream(
        400,
        r#"{"error":{"message":"Invalid model for key mk\/slash-0123456789-secret (mk\/slash\u002d0123456789-secret)","type":"invalid_request_error"}}"#,
    )
    .await;
    let app = spawn_with(Options {
        extra_env: vec![
            ("RAW_API_BASE".into(), base),
            ("RAW_API_KEY".into(), KEY.into()),
        ],
        ..Options::default()
    })
    .await;
    let (status, answer) = app.chat("raw/m").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains(KEY),
        "the decoded answer holds the key: {message}"
    );
    assert!(!message.contains("0123456789"), "{message}");
    assert!(
        message.starts_with("Invalid model for key mk/…cret ("),
        "{message}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn placeholder_keys_are_not_masked_in_relayed_answers() {
    let app = spawn_with(Options {
        keys: vec!["o"],
        ..Options::default()
    })
    .await;
    let error = json!({"error": {"message": "Model not found", "type": "invalid_request_error",
        "param": null, "code": "model_not_found"}});
    app.mock
        .script("o", "m", vec![Reply::status(404).with_body(error.clone())]);
    let (status, answer) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer, error, "relayed as the provider wrote it");
    app.stop().await;
}
