//! `/v1/admin/keys`: listing keys masked, disabling and enabling one at
//! runtime (persisted across a restart), errors and auth.

use std::time::Duration;

use actix_web::http::StatusCode;
use bytes::Bytes;
use mock_upstream::Reply;
use serde_json::{json, Value};

use crate::helpers::*;

/// The id of the key masked as `masked`, from `GET /v1/admin/keys`.
async fn id_of(app: &TestApp, masked: &str) -> String {
    let (status, list) = app.get_json("/v1/admin/keys").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let key = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["masked"] == masked)
        .unwrap_or_else(|| panic!("no key {masked} in {list}"));
    key["id"].as_str().unwrap().to_string()
}

async fn entry_of(app: &TestApp, id: &str) -> Value {
    let (_, list) = app.get_json("/v1/admin/keys").await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

#[actix_web::test]
async fn keys_are_listed_masked_with_provider_and_state() {
    let app = spawn_app().await;
    let (status, list) = app.get_json("/v1/admin/keys").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let text = list.to_string();
    assert!(!text.contains(KEY_1) && !text.contains(KEY_2), "{text}");
    let id = id_of(&app, "key…0001").await;
    assert_eq!(
        entry_of(&app, &id).await,
        json!({"id": id, "provider": "mock", "masked": "key…0001", "state": "ready",
               "disabled": false})
    );
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn a_disabled_key_is_skipped_survives_a_restart_and_serves_again_once_enabled() {
    let mut app = spawn_app().await;
    let id = id_of(&app, "key…0001").await;
    let (status, answer) = app
        .post_json(&format!("/v1/admin/keys/{id}/disable"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"][0]["disabled"], true, "{answer}");
    assert_eq!(answer["data"][0]["state"], "disabled", "{answer}");
    assert!(!answer.to_string().contains(KEY_1));
    for _ in 0..3 {
        assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    }
    assert_eq!(app.mock.calls(KEY_1, "m"), 0);
    assert_eq!(app.mock.calls(KEY_2, "m"), 3);

    app.restart().await;
    assert_eq!(entry_of(&app, &id).await["disabled"], true);
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(KEY_1, "m"), 0);

    let (status, answer) = app
        .post_json(&format!("/v1/admin/keys/{id}/enable"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"][0]["state"], "ready", "{answer}");
    // Key 1 has served nothing today: it is picked next.
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(KEY_1, "m"), 1);
    app.restart().await;
    assert_eq!(entry_of(&app, &id).await["disabled"], false);
    app.stop().await;
}

#[actix_web::test]
async fn a_request_in_flight_on_a_key_being_disabled_finishes() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        ..Options::default()
    })
    .await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_delay(Duration::from_millis(400))],
    );
    let id = id_of(&app, "key…0001").await;
    let disable = async {
        eventually("the request reaches the upstream", || {
            app.mock.in_flight(KEY_1, "m") == 1
        })
        .await;
        app.post_json(&format!("/v1/admin/keys/{id}/disable"), &json!({}))
            .await
    };
    let ((chat, _), (disabled, _)) = futures_util::future::join(app.chat("mock/m"), disable).await;
    assert_eq!(disabled, StatusCode::OK);
    assert_eq!(chat, StatusCode::OK);
    app.stop().await;
}

#[actix_web::test]
async fn with_every_key_disabled_no_upstream_call_is_made() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        ..Options::default()
    })
    .await;
    let id = id_of(&app, "key…0001").await;
    app.post_json(&format!("/v1/admin/keys/{id}/disable"), &json!({}))
        .await;
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "no_available_keys", "{body}");
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn an_unknown_id_is_a_404_in_the_openai_envelope() {
    let app = spawn_app().await;
    for action in ["disable", "enable"] {
        let (status, body) = app
            .post_json(&format!("/v1/admin/keys/nosuchkey/{action}"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(body["error"]["code"], "not_found", "{body}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn the_admin_key_routes_need_the_proxy_key() {
    let app = spawn_app().await;
    let id = id_of(&app, "key…0001").await;
    for key in [None, Some("wrong-key")] {
        let (status, body) = app
            .post_raw(&format!("/v1/admin/keys/{id}/disable"), Bytes::new(), key)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let mut res = app
            .client
            .get(app.url("/v1/admin/keys"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let text = res.body().await.unwrap();
        assert!(!String::from_utf8_lossy(&text).contains("key…0001"));
    }
    assert_eq!(entry_of(&app, &id).await["disabled"], false);
    app.stop().await;
}
