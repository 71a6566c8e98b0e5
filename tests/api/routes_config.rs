//! Routes in the configuration: listed as models, named like a model,
//! refused when bad (at startup and on reload), picked up by a reload.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::routes::{post, rests, spawn_routes, BACKUP_KEY};

#[actix_web::test]
async fn routes_are_listed_and_an_unknown_bare_model_names_them() {
    let app = spawn_routes(&[]).await;
    let (status, list) = app.get_json("/v1/models").await;
    assert_eq!(status, StatusCode::OK);
    let route = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "fast")
        .cloned();
    assert_eq!(route.unwrap()["owned_by"], "route");
    let (status, entry) = app.get_json("/v1/models/fast").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entry["owned_by"], "route");

    let (status, body) = app.chat("slowest").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("routes: fast") && message.contains("backup, mock"),
        "{message}"
    );
    let messages = json!({"model": "claude-x", "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, body) = post(&app, "/v1/messages", &messages).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("routes: fast"), "{message}");
    app.stop().await;
}

#[actix_web::test]
async fn a_route_named_like_a_model_gives_it_fallbacks() {
    let mock = mock_upstream::MockUpstream::start().await;
    // Env names cannot hold a slash: a settings file can.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.toml");
    std::fs::write(
        &file,
        "[routes.\"mock/m\"]\ntargets = [\"mock/m\", \"backup/b\"]\n",
    )
    .unwrap();
    let env: llm_key_proxy::config::EnvMap = [
        ("PROXY_API_KEY", PROXY_KEY),
        ("MOCK_API_KEY", KEY_1),
        ("MOCK_API_BASE", &mock.base_url),
        ("BACKUP_API_KEY", BACKUP_KEY),
        ("BACKUP_API_BASE", &mock.base_url),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cli = llm_key_proxy::cli::Cli {
        host: Some("127.0.0.1".into()),
        port: Some(0),
        data_dir: Some(dir.path().join("data")),
        config: Some(file),
        ..Default::default()
    };
    let settings =
        llm_key_proxy::config::load_settings(std::path::Path::new("/nonexistent"), &cli, &env)
            .unwrap();
    let config = llm_key_proxy::config::Config::from_settings(settings, &env).unwrap();
    let app = llm_key_proxy::server::start(config).await.unwrap();
    let client = awc::Client::default();
    let ask = || async {
        let mut res = client
            .post(format!("http://{}/v1/chat/completions", app.addr()))
            .bearer_auth(PROXY_KEY)
            .send_json(&chat_body("mock/m"))
            .await
            .unwrap();
        let target = res.headers().get("x-llm-key-proxy-target").cloned();
        let _ = res.body().await;
        (res.status(), target.unwrap().to_str().unwrap().to_string())
    };
    assert_eq!(ask().await, (StatusCode::OK, "mock/m".to_string()));
    mock.script(KEY_1, "m", vec![rests()]);
    assert_eq!(ask().await, (StatusCode::OK, "backup/b".to_string()));
    assert_eq!(ask().await, (StatusCode::OK, "backup/b".to_string()));
    assert_eq!(mock.calls(KEY_1, "m"), 2, "the model itself first, no loop");
    app.stop().await;
}

#[actix_web::test]
async fn bad_routes_are_refused_at_startup_and_on_reload() {
    let base = vec![
        ("PROXY_API_KEY".to_string(), PROXY_KEY.to_string()),
        ("OPENAI_API_KEY".to_string(), KEY_1.to_string()),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, value, wanted) in [
        ("ROUTE_FAST", "nope/m", "unknown provider `nope`"),
        ("ROUTE_FAST", " , ", "`targets` is empty"),
        ("ROUTE_OPENAI", "openai/gpt-4o", "shadows the provider"),
    ] {
        let mut env = base.clone();
        env.push((name.into(), value.into()));
        let err = try_config_for(&env, dir.path()).unwrap_err().to_string();
        assert!(err.contains(wanted), "{name}={value}: {err}");
    }
    let mut env = base.clone();
    env.push(("ROUTE_A".into(), "b".into()));
    env.push(("ROUTE_B".into(), "openai/gpt-4o,a".into()));
    let err = try_config_for(&env, dir.path()).unwrap_err().to_string();
    assert!(err.contains("cycle") && err.contains("route `a`"), "{err}");

    // A reload with a bad route is refused; the old routes keep serving.
    let app = spawn_routes(&[]).await;
    app.set_env("ROUTE_FAST", Some("mock/m,nope/x"));
    let (status, answer) = app.post_json("/v1/admin/reload", &json!({})).await;
    assert_ne!(status, StatusCode::OK, "{answer}");
    assert!(answer.to_string().contains("route `fast`"), "{answer}");
    assert_eq!(app.chat("fast").await.0, StatusCode::OK);
    // A good one is picked up.
    app.set_env("ROUTE_FAST", Some("backup/b"));
    assert_eq!(
        app.post_json("/v1/admin/reload", &json!({})).await.0,
        StatusCode::OK
    );
    let (_, target, _) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(target, "backup/b");
    app.stop().await;
}

#[actix_web::test]
async fn a_route_is_counted_as_its_first_target() {
    let app = spawn_routes(&[("ROUTE_SMART", "mock/gpt-4o,backup/b")]).await;
    let (status, answer) = app
        .post_json(
            "/v1/token-count",
            &json!({"model": "smart", "text": "hello world"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["method"], "tiktoken o200k_base", "as gpt-4o");
    app.stop().await;
}
