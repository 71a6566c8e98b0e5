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

#[actix_web::test]
async fn one_model_is_retrieved_by_its_id_with_slashes_or_encoded() {
    let app = spawn_with(Options {
        extra_env: vec![
            ("MOCK_MODELS".into(), "[\"static-model\"]".into()),
            ("IGNORE_MODELS_MOCK".into(), "hidden-*".into()),
        ],
        ..Options::default()
    })
    .await;
    app.mock
        .set_models(vec!["meta-llama/llama-3-8b", "llama", "hidden-model"]);
    for (path, id) in [
        (
            "/v1/models/mock/meta-llama/llama-3-8b",
            "mock/meta-llama/llama-3-8b",
        ),
        ("/v1/models/mock%2Fllama", "mock/llama"),
        (
            "/v1/models/mock%2Fmeta-llama%2Fllama-3-8b",
            "mock/meta-llama/llama-3-8b",
        ),
        ("/v1/models/MOCK/llama", "mock/llama"),
        ("/v1/models/mock/static-model", "mock/static-model"),
    ] {
        let (status, model) = app.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {model}");
        assert_eq!(
            model,
            json!({"id": id, "object": "model", "owned_by": "mock"}),
            "{path}"
        );
    }
    for (path, hint) in [
        ("/v1/models/mock/unknown", "GET /v1/models"),
        ("/v1/models/mock/hidden-model", "IGNORE_MODELS_MOCK"),
        ("/v1/models/llama", "\"openai/gpt-4o-mini\""),
        ("/v1/models/other%2Fllama", "configured: mock"),
        ("/v1/models/", "GET /v1/models"),
    ] {
        let (status, answer) = app.get_json(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "model_not_found", "{path}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
        assert_eq!(answer["error"]["param"], "model");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(hint), "{path}: {message}");
    }
    assert_eq!(
        app.mock.path_calls("/v1/models"),
        1,
        "one fetch, then the cached list"
    );
    let res = app
        .client
        .post(app.url("/v1/models/mock/llama"))
        .bearer_auth(PROXY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.stop().await;
}
