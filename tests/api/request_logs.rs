//! `--enable-request-logging`: one directory per request, failures.jsonl,
//! and no secret in any file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::{Reply, StreamScript};

fn request_dirs(logs: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(logs) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.join("metadata.json").exists())
        .collect();
    dirs.sort();
    dirs
}

fn read_json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[actix_web::test]
async fn each_request_gets_a_directory_and_failures_a_line_without_secrets() {
    let (app, logs, _logs_tmp) = spawn_logging().await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::status(429).with_header("Retry-After", "30")],
    );
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    let body =
        json!({"model": "mock/s", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(app.chat_stream(&body).await.0, StatusCode::OK);

    let mut dirs = Vec::new();
    for _ in 0..200 {
        dirs = request_dirs(&logs);
        if dirs.len() == 2 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dirs.len(), 2, "{dirs:?}");

    let chat = read_json(dirs[0].join("metadata.json"));
    assert_eq!(chat["status"], 200);
    assert_eq!(chat["provider"], "mock");
    assert_eq!(chat["model"], "m");
    let classes: Vec<&str> = chat["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["rate_limited", "success"]);
    assert_eq!(chat["attempts"][0]["key"], "key…0001");
    assert_eq!(chat["prompt_tokens"], 10);
    assert_eq!(read_json(dirs[0].join("request.json"))["model"], "mock/m");
    assert_eq!(
        read_json(dirs[0].join("response.json"))["choices"][0]["message"]["content"],
        "hello from mock"
    );
    let headers = chat["headers"].to_string();
    assert!(headers.contains("[redacted"), "{headers}");

    let stream = read_json(dirs[1].join("metadata.json"));
    assert_eq!(stream["status"], 200);
    assert_eq!(stream["completion_tokens"], 3);
    let events = std::fs::read_to_string(dirs[1].join("stream.jsonl")).unwrap();
    assert!(
        events.contains("\"content\":\"hello\"") && events.trim_end().ends_with("[DONE]"),
        "{events}"
    );

    let failures = std::fs::read_to_string(logs.join("failures.jsonl")).unwrap();
    let lines: Vec<Value> = failures
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{failures}");
    assert_eq!(lines[0]["class"], "rate_limited");
    assert_eq!(lines[0]["key"], "key…0001");

    assert_no_secret_in(&logs);
    app.stop().await;
}

/// No configured secret anywhere under `logs`.
fn assert_no_secret_in(logs: &Path) {
    let mut files = vec![logs.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            for secret in [KEY_1, KEY_2, PROXY_KEY] {
                assert!(!text.contains(secret), "{secret} in {}", path.display());
            }
        }
    }
}

#[actix_web::test]
async fn a_key_the_provider_echoes_is_masked_in_answers_and_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let app = logging_app(&logs).await;
    let echo = |code: u16| {
        json!({"error": {"message": format!("Incorrect API key provided: {KEY_1}"),
            "type": "invalid_request_error", "code": code}})
    };
    let hello = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#;
    app.mock.script(
        KEY_1,
        "m",
        vec![
            // A refusal relayed to the client as it came.
            Reply::status(400).with_body(echo(400)),
            // A stream whose first event is a refusal.
            Reply::ok().with_stream(StreamScript::raw(vec![echo(400).to_string()])),
            // A stream that fails after output began.
            Reply::ok().with_stream(StreamScript::raw(vec![
                hello.to_string(),
                echo(500).to_string(),
            ])),
        ],
    );
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Incorrect API key provided: ") && !message.contains(KEY_1),
        "{message}"
    );
    let stream =
        json!({"model": "mock/m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, events) = app.chat_stream(&stream).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(events.iter().all(|e| !e.contains(KEY_1)), "{events:?}");
    let (status, _, events) = app.chat_stream(&stream).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        events.iter().any(|e| e.contains("Incorrect API key")),
        "{events:?}"
    );
    assert!(events.iter().all(|e| !e.contains(KEY_1)), "{events:?}");
    assert_eq!(app.mock.calls(KEY_1, "m"), 3);
    wait_for_logs(&logs, 3).await;
    assert_no_secret_in(&logs);
    app.stop().await;
}

async fn logging_app(logs: &Path) -> TestApp {
    spawn_with(Options {
        keys: vec![KEY_1],
        extra_env: vec![
            ("ENABLE_REQUEST_LOGGING".into(), "true".into()),
            ("REQUEST_LOG_DIR".into(), logs.display().to_string()),
        ],
        ..Options::default()
    })
    .await
}

async fn wait_for_logs(logs: &Path, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let dirs = request_dirs(logs);
        if dirs.len() >= n {
            return dirs
                .into_iter()
                .map(|d| read_json(d.join("metadata.json")))
                .collect();
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} request logs in {}", logs.display());
}

#[actix_web::test]
async fn refused_and_abandoned_requests_are_logged_too() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let app = logging_app(&logs).await;
    // Refused before any provider is asked.
    assert_eq!(app.chat("nope/m").await.0, StatusCode::BAD_REQUEST);
    let first = wait_for_logs(&logs, 1).await;
    assert_eq!(first[0]["status"], 400);

    // The client gives up while the upstream is still working.
    app.mock.script(
        KEY_1,
        "slow",
        vec![Reply::ok().with_delay(Duration::from_secs(30))],
    );
    let addr = app.base.trim_start_matches("http://").to_string();
    let body = chat_body("mock/slow").to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PROXY_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut socket, request.as_bytes()).unwrap();
    eventually("the call reached the upstream", || {
        app.mock.in_flight(KEY_1, "slow") == 1
    })
    .await;
    drop(socket);
    let all = wait_for_logs(&logs, 2).await;
    let abandoned = all.iter().find(|m| m["model"] == "slow").unwrap();
    assert_eq!(abandoned["status"], 499, "{abandoned}");
    app.stop().await;
}

#[actix_web::test]
async fn old_request_directories_are_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        extra_env: vec![
            ("ENABLE_REQUEST_LOGGING".into(), "true".into()),
            ("REQUEST_LOG_DIR".into(), logs.display().to_string()),
            ("REQUEST_LOG_KEEP".into(), "5".into()),
        ],
        ..Options::default()
    })
    .await;
    // The writer prunes every 100 requests.
    for _ in 0..100 {
        assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    }
    let last = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(PROXY_KEY)
        .insert_header(("x-request-id", "the-last-one"))
        .send_json(&chat_body("mock/m"))
        .await
        .unwrap();
    assert_eq!(last.status(), StatusCode::OK);
    // The newest are the ones kept: the last request's among them.
    eventually("the oldest directories deleted", || {
        let dirs = request_dirs(&logs);
        dirs.len() == 5
            && dirs
                .iter()
                .any(|d| d.to_string_lossy().contains("the-last-one"))
    })
    .await;
    assert_eq!(app.mock.calls(KEY_1, "m"), 101);
    app.stop().await;
}
