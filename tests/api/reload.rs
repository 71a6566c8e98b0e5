//! Hot reload through `POST /v1/admin/reload`.

use std::time::Duration;

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::Reply;

fn key_ids(usage: &Value) -> Vec<String> {
    usage["providers"]["mock"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

fn id(key: &str) -> String {
    llm_key_proxy::secret::KeyId::of(key).to_string()
}

#[actix_web::test]
async fn keys_join_and_leave_and_unchanged_keys_keep_their_state() {
    let app = spawn_app().await;
    app.mock.script(
        KEY_2,
        "m",
        vec![Reply::status(429).with_header("Retry-After", "600")],
    );
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK); // key 1
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK); // key 2 rests, key 1 serves
    assert_eq!(app.usage_of(KEY_1, "m").await["daily"]["successes"], 2);

    app.set_env("MOCK_API_KEY_2", None);
    app.set_env("MOCK_API_KEY_3", Some(KEY_3));
    let (status, answer) = app.post_json("/v1/admin/reload", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["keys_added"], 1);
    assert_eq!(answer["keys_kept"], 1);
    assert_eq!(answer["keys_removed"], 1);
    assert_eq!(answer["providers"], json!(["mock"]));

    let (_, usage) = app.get_json("/v1/usage").await;
    assert_eq!(
        key_ids(&usage),
        vec![id(KEY_1), id(KEY_3)],
        "key 2 left, key 3 joined"
    );
    assert_eq!(
        app.usage_of(KEY_1, "m").await["daily"]["successes"],
        2,
        "key 1 kept its usage"
    );
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(
        app.mock.calls(KEY_3, "m"),
        1,
        "the new key is used (fewest successes)"
    );
    assert_eq!(app.mock.calls(KEY_2, "m"), 1, "the removed key is not");
    app.stop().await;
}

#[actix_web::test]
async fn an_invalid_new_configuration_is_refused_and_the_old_one_keeps_running() {
    let app = spawn_app().await;
    app.set_env("GLOBAL_TIMEOUT", Some("forever"));
    app.set_env("MOCK_API_KEY_3", Some(KEY_3));
    let (status, answer) = app.post_json("/v1/admin/reload", &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("forever") && message.contains("old one stays"),
        "{message}"
    );
    let (_, usage) = app.get_json("/v1/usage").await;
    assert_eq!(
        key_ids(&usage),
        vec![id(KEY_1), id(KEY_2)],
        "nothing changed"
    );
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    app.stop().await;
}

#[actix_web::test]
async fn a_removed_key_finishes_its_request_in_flight() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        ..Options::default()
    })
    .await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_delay(Duration::from_millis(500))],
    );
    let in_flight = app.chat("mock/m");
    let reload = async {
        eventually("the call reached the upstream", || {
            app.mock.in_flight(KEY_1, "m") == 1
        })
        .await;
        app.set_env("MOCK_API_KEY_1", None);
        app.set_env("MOCK_API_KEY_2", Some(KEY_2));
        app.post_json("/v1/admin/reload", &json!({})).await
    };
    let ((status, _), (reloaded, _)) = futures_util::future::join(in_flight, reload).await;
    assert_eq!(reloaded, StatusCode::OK);
    assert_eq!(
        status,
        StatusCode::OK,
        "the request on the removed key completed"
    );
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(KEY_2, "m"), 1);
    assert_eq!(app.mock.calls(KEY_1, "m"), 1);
    app.stop().await;
}
