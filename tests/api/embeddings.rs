//! `encoding_format` on `POST /v1/embeddings`: passed through to
//! OpenAI-compatible providers; for Gemini, whose answer the proxy
//! translates, the proxy encodes the vectors itself.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// The mock Gemini vector `[0.1, 0.2, 0.3]` as little-endian float32,
/// base64-encoded (what OpenAI answers for `encoding_format: "base64"`).
const MOCK_VECTOR_BASE64: &str = "zczMPc3MTD6amZk+";

fn embeddings(model: &str, input: Value, encoding: Option<&str>) -> Value {
    let mut body = json!({"model": model, "input": input});
    if let Some(encoding) = encoding {
        body["encoding_format"] = json!(encoding);
    }
    body
}

#[actix_web::test]
async fn gemini_embeddings_are_base64_encoded_when_asked() {
    let app = spawn_with(Options {
        provider: "gemini",
        ..Options::default()
    })
    .await;
    let model = "gemini/text-embedding-004";
    for input in [json!("one"), json!(["a", "b"])] {
        let body = embeddings(model, input.clone(), Some("base64"));
        let (status, answer) = app.post_json("/v1/embeddings", &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let data = answer["data"].as_array().unwrap();
        assert_eq!(data.len(), if input.is_array() { 2 } else { 1 });
        for item in data {
            assert_eq!(item["embedding"], MOCK_VECTOR_BASE64, "{answer}");
        }
        assert_eq!(answer["model"], model);
    }
    let floats = embeddings(model, json!("one"), Some("float"));
    let (_, answer) = app.post_json("/v1/embeddings", &floats).await;
    assert_eq!(answer["data"][0]["embedding"], json!([0.1, 0.2, 0.3]));

    let calls = app.mock.total_calls();
    let (status, answer) = app
        .post_json(
            "/v1/embeddings",
            &embeddings(model, json!("one"), Some("int8")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["param"], "encoding_format");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("\"float\" or \"base64\""), "{message}");
    assert_eq!(app.mock.total_calls(), calls, "refused before any call");
    app.stop().await;
}

#[actix_web::test]
async fn openai_compatible_providers_get_encoding_format_as_sent() {
    let app = spawn_app().await;
    let body = embeddings("mock/e", json!("one"), Some("base64"));
    let (status, _) = app.post_json("/v1/embeddings", &body).await;
    assert_eq!(status, StatusCode::OK);
    let sent = app.mock.last_body("/v1/embeddings").unwrap();
    assert_eq!(sent["encoding_format"], "base64", "{sent}");
    assert_eq!(sent["model"], "e");
    app.stop().await;
}
