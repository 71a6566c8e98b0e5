//! `POST /v1/admin/keys` and `DELETE /v1/admin/keys/{id}`: bad input,
//! keys already in the pool, unknown ids and auth.

use actix_web::http::StatusCode;
use bytes::Bytes;
use serde_json::json;

use crate::admin_keys_file::{add, entry, id, listed, NEW_KEY};
use crate::helpers::*;

#[actix_web::test]
async fn bad_input_is_a_400_naming_the_problem_and_changes_nothing() {
    let app = spawn_app().await;
    let cases = [
        (json!({"provider": "mock"}), "key", "required"),
        (json!({"key": NEW_KEY}), "provider", "required"),
        (json!({"provider": "mock", "key": ""}), "key", "empty"),
        (json!({"provider": "mock", "key": 7}), "key", "string"),
        (
            json!({"provider": "mock", "key": " key-with-space-0001"}),
            "key",
            "whitespace",
        ),
        (
            json!({"provider": "mock", "key": "key-with\ttab-0001"}),
            "key",
            "whitespace",
        ),
        (
            json!({"provider": "mock", "key": "key-with-nul\u{0}-0001"}),
            "key",
            "control",
        ),
        (
            json!({"provider": "nosuch", "key": NEW_KEY}),
            "provider",
            "unknown provider",
        ),
        (
            json!({"provider": "Bad Name!", "key": NEW_KEY, "base_url": "http://x"}),
            "provider",
            "provider name",
        ),
        (
            json!({"provider": "local", "key": NEW_KEY, "base_url": "ftp://host"}),
            "base_url",
            "http(s) URL",
        ),
        (
            json!({"provider": "mock", "key": NEW_KEY, "base_url": "http://elsewhere/v1"}),
            "base_url",
            "configured",
        ),
    ];
    for (body, param, words) in cases {
        let (status, answer) = add(&app, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");
        assert_eq!(answer["error"]["param"], param, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{body}: {message}");
        assert!(!message.contains("key-with"), "{message}");
    }
    let raw = [
        ("{\"provider\": \"mock\", \"key\": ", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("", "empty"),
        (
            "{\"provider\": \"mock\", \"key\": \"key-added-at-runtime-0004\", \"note\": 1}",
            "unknown field `note`",
        ),
    ];
    for (body, words) in raw {
        let (status, answer) = app
            .post_raw("/v1/admin/keys", Bytes::from(body), Some(PROXY_KEY))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{body}: {message}");
    }
    assert_eq!(listed(&app).await.len(), 2);
    assert!(!app.env_file.exists());
    app.stop().await;
}

#[actix_web::test]
async fn a_key_already_in_the_pool_is_a_409_naming_it_masked() {
    let app = spawn_app().await;
    let (status, body) = add(&app, json!({"provider": "mock", "key": KEY_1})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("key…0001") && !message.contains(KEY_1),
        "{message}"
    );
    assert!(!app.env_file.exists());
    app.stop().await;
}

#[actix_web::test]
async fn unknown_ids_are_a_404_and_every_key_route_needs_the_proxy_key() {
    let app = spawn_app().await;
    let (status, body) = app
        .delete_json("/v1/admin/keys/nosuchkey", Some(PROXY_KEY))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    let added = Bytes::from(json!({"provider": "mock", "key": NEW_KEY}).to_string());
    let path = format!("/v1/admin/keys/{}", id(KEY_1));
    for key in [None, Some("wrong-key")] {
        let (status, _) = app.post_raw("/v1/admin/keys", added.clone(), key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.delete_json(&path, key).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, _) = app
            .post_raw(&format!("{path}/enable"), Bytes::new(), key)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = app.post_raw("/v1/admin/reload", Bytes::new(), key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert!(entry(&app, NEW_KEY).await.is_none());
    assert!(entry(&app, KEY_1).await.is_some());
    assert!(!app.env_file.exists());
    app.stop().await;
}
