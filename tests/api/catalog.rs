//! `GET /v1/models` and `GET /v1/providers`.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn models_are_aggregated_prefixed_and_cached() {
    let app = spawn_with(Options {
        extra_env: vec![
            (
                "MOCK_MODELS".into(),
                "[\"static-model\",\"mock-model-a\"]".into(),
            ),
            ("DEAD_API_KEY".into(), "dead-provider-key-0001".into()),
            ("DEAD_API_BASE".into(), "http://127.0.0.1:9/v1".into()),
        ],
        ..Options::default()
    })
    .await;
    let (status, list) = app.get_json("/v1/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["object"], "list");
    assert_eq!(
        ids(&list),
        vec![
            "mock/mock-model-a",
            "mock/mock-model-b",
            "mock/static-model"
        ],
        "the unreachable provider is skipped, duplicates removed"
    );
    assert_eq!(
        list["data"][0],
        json!({"id": "mock/mock-model-a", "object": "model", "owned_by": "mock"})
    );
    let auth = app.mock.last_header("/v1/models", "authorization").unwrap();
    assert!(
        auth == format!("Bearer {KEY_1}") || auth == format!("Bearer {KEY_2}"),
        "{auth}"
    );

    app.mock.set_models(vec!["changed"]);
    let (_, again) = app.get_json("/v1/models").await;
    assert_eq!(ids(&again), ids(&list), "served from the cache");
    assert_eq!(app.mock.path_calls("/v1/models"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn the_model_cache_expires() {
    let app = spawn_with(Options {
        extra_env: vec![("MODELS_CACHE_TTL".into(), "0s".into())],
        ..Options::default()
    })
    .await;
    app.get_json("/v1/models").await;
    app.mock.set_models(vec!["fresh"]);
    let (_, list) = app.get_json("/v1/models").await;
    assert_eq!(ids(&list), vec!["mock/fresh"]);
    assert_eq!(app.mock.path_calls("/v1/models"), 2);
    app.stop().await;
}

#[actix_web::test]
async fn a_failing_model_list_is_skipped_and_retried_later() {
    let app = spawn_app().await;
    app.mock.fail_models(500);
    let (status, list) = app.get_json("/v1/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&list), Vec::<String>::new());
    app.mock.restore_models();
    let (_, list) = app.get_json("/v1/models").await;
    assert_eq!(ids(&list).len(), 2, "failures are not cached");
    app.stop().await;
}

#[actix_web::test]
async fn providers_lists_only_configured_ones() {
    let app = spawn_with(Options {
        extra_env: vec![
            ("LONELY_API_BASE".into(), "http://127.0.0.1:9/v1".into()),
            ("OTHER_API_KEY".into(), "".into()),
        ],
        ..Options::default()
    })
    .await;
    let (status, providers) = app.get_json("/v1/providers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(providers, json!(["mock"]));
    app.stop().await;
}

#[actix_web::test]
async fn ignored_models_are_hidden_and_refused_unless_whitelisted() {
    let app = spawn_with(Options {
        extra_env: vec![
            ("IGNORE_MODELS_MOCK".into(), "*".into()),
            (
                "WHITELIST_MODELS_MOCK".into(),
                "mock-model-a, allowed-*".into(),
            ),
        ],
        ..Options::default()
    })
    .await;
    let (_, list) = app.get_json("/v1/models").await;
    assert_eq!(ids(&list), vec!["mock/mock-model-a"]);
    let (status, answer) = app.chat("mock/mock-model-b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("IGNORE_MODELS_MOCK") && message.contains("WHITELIST_MODELS_MOCK"),
        "{message}"
    );
    assert_eq!(app.chat("mock/allowed-7b").await.0, StatusCode::OK);
    assert_eq!(
        app.mock.path_calls("/v1/chat/completions"),
        1,
        "the ignored model never went upstream"
    );
    app.stop().await;
}
