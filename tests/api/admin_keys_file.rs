//! `POST /v1/admin/keys` and `DELETE /v1/admin/keys/{id}`: keys added to
//! and removed from a running proxy and its `.env`, across restarts and
//! reloads, the environment's names and keys, the file failing, request
//! logs.

use actix_web::http::StatusCode;
use llm_key_proxy::secret::KeyId;
use serde_json::{json, Value};

use crate::helpers::*;

/// Not in the app's environment: added at runtime.
pub(crate) const NEW_KEY: &str = "key-added-at-runtime-0004";

pub(crate) fn id(key: &str) -> String {
    KeyId::of(key).to_string()
}

pub(crate) fn env_text(app: &TestApp) -> String {
    std::fs::read_to_string(&app.env_file).unwrap_or_default()
}

pub(crate) async fn listed(app: &TestApp) -> Vec<Value> {
    let (status, list) = app.get_json("/v1/admin/keys").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["data"].as_array().unwrap().clone()
}

pub(crate) async fn entry(app: &TestApp, key: &str) -> Option<Value> {
    listed(app).await.into_iter().find(|k| k["id"] == id(key))
}

pub(crate) async fn add(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post_json("/v1/admin/keys", &body).await
}

async fn set_disabled(app: &TestApp, key: &str, disabled: bool) {
    let action = if disabled { "disable" } else { "enable" };
    let (status, body) = app
        .post_json(&format!("/v1/admin/keys/{}/{action}", id(key)), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn a_key_is_added_used_disabled_kept_across_restarts_enabled_and_removed() {
    let mut app = spawn_app().await;
    let (status, added) = add(&app, json!({"provider": "mock", "key": NEW_KEY})).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["id"], id(NEW_KEY));
    assert_eq!(added["masked"], "key…0004");
    assert!(!added.to_string().contains(NEW_KEY), "{added}");
    // MOCK_API_KEY_1 and _2 are taken by the (process) environment.
    assert_eq!(added["variable"], "MOCK_API_KEY_3");
    assert_eq!(env_text(&app), format!("MOCK_API_KEY_3={NEW_KEY}\n"));
    assert_eq!(entry(&app, NEW_KEY).await.unwrap()["state"], "ready");

    // Used at once: the mock sees it.
    set_disabled(&app, KEY_1, true).await;
    set_disabled(&app, KEY_2, true).await;
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(NEW_KEY, "m"), 1);

    // Disabled, and still after a restart, which reads it from .env.
    set_disabled(&app, NEW_KEY, true).await;
    app.restart().await;
    assert_eq!(entry(&app, NEW_KEY).await.unwrap()["disabled"], true);
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("disabled") && message.contains("/v1/admin/keys/{id}/enable"),
        "{message}"
    );
    assert_eq!(app.mock.total_calls(), 1);

    set_disabled(&app, NEW_KEY, false).await;
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(NEW_KEY, "m"), 2);

    // Removed: from the pool and from .env, for good.
    set_disabled(&app, KEY_1, false).await;
    let (status, removed) = app
        .delete_json(&format!("/v1/admin/keys/{}", id(NEW_KEY)), Some(PROXY_KEY))
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["deleted"], true);
    assert_eq!(removed["masked"], "key…0004");
    assert_eq!(removed["variables"], json!(["MOCK_API_KEY_3"]));
    assert!(!removed.to_string().contains(NEW_KEY));
    assert!(!env_text(&app).contains(NEW_KEY), "{}", env_text(&app));
    assert!(entry(&app, NEW_KEY).await.is_none());
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(NEW_KEY, "m"), 2);
    app.restart().await;
    assert!(entry(&app, NEW_KEY).await.is_none());
    assert_eq!(listed(&app).await.len(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn a_reload_after_adding_and_removing_agrees_with_the_file() {
    let app = spawn_app().await;
    assert_eq!(
        add(&app, json!({"provider": "mock", "key": NEW_KEY}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, reloaded) = app.post_json("/v1/admin/reload", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    assert_eq!(reloaded["keys_removed"], 0, "{reloaded}");
    assert!(entry(&app, NEW_KEY).await.is_some());

    let path = format!("/v1/admin/keys/{}", id(NEW_KEY));
    assert_eq!(
        app.delete_json(&path, Some(PROXY_KEY)).await.0,
        StatusCode::OK
    );
    let (status, reloaded) = app.post_json("/v1/admin/reload", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    assert_eq!(reloaded["keys_added"], 0, "{reloaded}");
    assert!(entry(&app, NEW_KEY).await.is_none());
    app.stop().await;
}

#[actix_web::test]
async fn names_taken_by_the_environment_are_skipped_and_its_keys_cannot_be_removed() {
    let app = spawn_with(Options {
        // The environment wins over .env: a key written as MOCK_API_KEY_5
        // would be lost on the next start.
        extra_env: vec![("MOCK_API_KEY_5".into(), KEY_3.into())],
        ..Options::default()
    })
    .await;
    // A placeholder the environment overrides is no place for a key.
    std::fs::write(&app.env_file, "# mine\nMOCK_API_KEY_2=\n").unwrap();
    let (status, added) = add(&app, json!({"provider": "mock", "key": NEW_KEY})).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["variable"], "MOCK_API_KEY_6");
    assert_eq!(
        env_text(&app),
        format!("# mine\nMOCK_API_KEY_2=\nMOCK_API_KEY_6={NEW_KEY}\n")
    );

    let (status, body) = app
        .delete_json(&format!("/v1/admin/keys/{}", id(KEY_1)), Some(PROXY_KEY))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("MOCK_API_KEY_1"), "{message}");
    assert!(!message.contains(KEY_1), "{message}");
    assert!(entry(&app, KEY_1).await.is_some());
    app.stop().await;
}

#[actix_web::test]
async fn a_custom_provider_is_created_with_a_base_url() {
    let app = spawn_app().await;
    let (status, body) = add(&app, json!({"provider": "local", "key": NEW_KEY})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "provider");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("base_url"));

    let base = app.mock.base_url.clone();
    let (status, added) = add(
        &app,
        json!({"provider": "local", "key": NEW_KEY, "base_url": base}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["variable"], "LOCAL_API_KEY_1");
    let text = env_text(&app);
    assert!(text.contains(&format!("LOCAL_API_BASE={base}\n")), "{text}");
    assert!(!text.contains("PROXY_API_KEY"), "{text}");
    assert_eq!(app.chat("local/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(NEW_KEY, "m"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn two_keys_added_at_once_are_both_kept() {
    let app = spawn_app().await;
    let (a, b) = futures_util::future::join(
        add(&app, json!({"provider": "mock", "key": NEW_KEY})),
        add(
            &app,
            json!({"provider": "mock", "key": "key-added-at-once-0005"}),
        ),
    )
    .await;
    assert_eq!((a.0, b.0), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(a.1["variable"], b.1["variable"]);
    let text = env_text(&app);
    assert!(
        text.contains(NEW_KEY) && text.contains("key-added-at-once-0005"),
        "{text}"
    );
    assert_eq!(listed(&app).await.len(), 4);
    app.stop().await;
}

#[actix_web::test]
async fn an_env_file_that_cannot_be_written_adds_nothing_and_says_so() {
    let app = spawn_app().await;
    // A directory where the file should be: neither readable nor
    // replaceable as a file.
    std::fs::create_dir(&app.env_file).unwrap();
    let (status, body) = add(&app, json!({"provider": "mock", "key": NEW_KEY})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "env_file_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not added") && !message.contains(NEW_KEY),
        "{message}"
    );
    assert!(entry(&app, NEW_KEY).await.is_none());
    app.stop().await;
}

#[actix_web::test]
async fn request_logs_mask_a_key_added_at_runtime() {
    let (app, logs, _logs_tmp) = spawn_logging().await;
    assert_eq!(
        add(&app, json!({"provider": "mock", "key": NEW_KEY}))
            .await
            .0,
        StatusCode::CREATED
    );
    let body = json!({"model": "mock/m",
        "messages": [{"role": "user", "content": format!("my key is {NEW_KEY}")}]});
    assert_eq!(
        app.post_json("/v1/chat/completions", &body).await.0,
        StatusCode::OK
    );
    let mut logged = String::new();
    for _ in 0..200 {
        logged = all_files_under(&logs);
        if logged.contains("my key is") {
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(logged.contains("my key is"), "{logged}");
    assert!(!logged.contains(NEW_KEY), "{logged}");
    app.stop().await;
}

fn all_files_under(dir: &std::path::Path) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return text;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&all_files_under(&path));
        } else {
            text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    text
}
