//! Usage lives in sled under hashed key ids and survives a restart.

use actix_web::http::StatusCode;

use crate::helpers::*;

#[actix_web::test]
async fn usage_survives_a_restart_on_the_same_data_dir() {
    let mut app = spawn_app().await;
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(KEY_1, "m"), 1);
    app.restart().await;
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["daily"]["successes"], 1, "{usage}");
    assert_eq!(usage["lifetime"]["prompt_tokens"], 10);
    // Selection sees the restored counters: the next request goes to key 2.
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.mock.calls(KEY_2, "m"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn the_last_failure_class_survives_a_restart_with_its_cooldown() {
    let mut app = spawn_with(Options {
        keys: vec![KEY_1],
        ..Options::default()
    })
    .await;
    app.mock.script(
        KEY_1,
        "m",
        vec![mock_upstream::Reply::status(429).with_header("Retry-After", "3600")],
    );
    assert_eq!(app.chat("mock/m").await.0, StatusCode::TOO_MANY_REQUESTS);
    app.restart().await;
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["last_failure"], "rate_limited", "{usage}");
    assert!(!usage["cooldown_until"].is_null(), "{usage}");
    app.stop().await;
}

#[actix_web::test]
async fn no_raw_key_reaches_the_database_or_the_usage_report() {
    let mut app = spawn_app().await;
    app.chat("mock/m").await;
    let (_, report) = app.get_json("/v1/usage").await;
    let text = report.to_string();
    assert!(!text.contains(KEY_1) && !text.contains(KEY_2), "{text}");
    assert!(text.contains("key…0001"), "{text}");
    app.restart().await;
    let mut files = vec![app.data_dir.clone()];
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            scanned += bytes.len();
            for key in [KEY_1, KEY_2, PROXY_KEY] {
                assert!(
                    !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                    "{key} found in {}",
                    path.display()
                );
            }
        }
    }
    assert!(scanned > 0, "the database was written");
    app.stop().await;
}
