//! Clients choose model names: what they make the proxy remember is
//! bounded. A record per (key, model) is made only when the provider
//! answered for the model, at most 1,000 per key are kept (in memory and on
//! disk), and `/metrics` labels only models that were answered.

use actix_web::http::StatusCode;
use llm_key_proxy::store::Store;

use crate::helpers::*;
use mock_upstream::Reply;

/// Records per key (`keypool::records::MAX_RECORDS_PER_KEY`).
const MAX_RECORDS: usize = 1_000;

async fn models_of(app: &TestApp, key: &str) -> serde_json::Map<String, serde_json::Value> {
    let (_, usage) = app.get_json("/v1/usage").await;
    let id = llm_key_proxy::secret::KeyId::of(key).to_string();
    let keys = usage["providers"]["mock"]["keys"]
        .as_array()
        .unwrap()
        .clone();
    let entry = keys.into_iter().find(|k| k["id"] == id.as_str()).unwrap();
    entry["models"].as_object().unwrap().clone()
}

#[actix_web::test]
async fn a_model_answered_404_leaves_no_state() {
    let mut app = spawn_app().await;
    for key in [KEY_1, KEY_2] {
        app.mock
            .script(key, "no-such-model", vec![Reply::status(404); 3]);
    }
    for _ in 0..3 {
        let (status, _) = app.chat("mock/no-such-model").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.chat("mock/real").await.0, StatusCode::OK);
    for key in [KEY_1, KEY_2] {
        let models = models_of(&app, key).await;
        assert!(!models.contains_key("no-such-model"), "{models:?}");
    }
    let (_, metrics) = {
        let mut res = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth(PROXY_KEY)
            .send()
            .await
            .unwrap();
        (
            res.status(),
            String::from_utf8(res.body().await.unwrap().to_vec()).unwrap(),
        )
    };
    assert!(!metrics.contains("no-such-model"), "{metrics}");
    assert!(
        metrics.contains(r#"model="other",status="404"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"model="real",status="200"} 1"#),
        "{metrics}"
    );

    app.restart().await;
    for key in [KEY_1, KEY_2] {
        let models = models_of(&app, key).await;
        assert!(
            !models.contains_key("no-such-model"),
            "nothing on disk: {models:?}"
        );
    }
    app.stop().await;
}

#[actix_web::test]
async fn records_per_key_are_capped_keeping_resting_ones() {
    let mut app = spawn_with(Options {
        keys: vec![KEY_1],
        ..Options::default()
    })
    .await;
    app.mock.script(
        KEY_1,
        "resting",
        vec![Reply::status(429).with_header("Retry-After", "900")],
    );
    assert_eq!(
        app.chat("mock/resting").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    for i in 0..MAX_RECORDS + 5 {
        let (status, _) = app.chat(&format!("mock/m{i}")).await;
        assert_eq!(status, StatusCode::OK, "model m{i}");
    }
    let models = models_of(&app, KEY_1).await;
    assert_eq!(models.len(), MAX_RECORDS);
    assert!(
        models["resting"]["cooldown_until"].is_string(),
        "the resting one stays"
    );
    for i in 0..6 {
        assert!(
            !models.contains_key(&format!("m{i}")),
            "the oldest go: m{i}"
        );
    }
    assert!(models.contains_key("m6") && models.contains_key(&format!("m{}", MAX_RECORDS + 4)));

    app.stop_keeping_data().await;
    let store = Store::open(&app.data_dir).unwrap();
    let on_disk = store.load_models();
    assert_eq!(
        on_disk.len(),
        MAX_RECORDS,
        "evicted records leave the disk too"
    );
    assert!(on_disk.iter().any(|(id, _)| id.model == "resting"));
    assert!(!on_disk.iter().any(|(id, _)| id.model == "m0"));
}
