//! A client that goes away — or stops reading — releases its key and
//! cancels its upstream call.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::{Reply, StreamScript};

/// A raw HTTP/1.1 request, so a test controls the socket's lifetime.
fn raw_request(app: &TestApp, body: &Value) -> (TcpStream, Vec<u8>) {
    let addr = app.base.trim_start_matches("http://").to_string();
    let body = body.to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PROXY_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    (TcpStream::connect(addr).unwrap(), request.into_bytes())
}

/// Polls `/v1/usage` until `key` has nothing in flight, for at most `limit`.
async fn wait_until_released(app: &TestApp, key: &str, model: &str, limit: Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        // No record at all once released: nothing was earned (see
        // `Outcome::earns_record`).
        let state = app.usage_of(key, model).await;
        if state.is_null() || state["in_flight"] == 0 {
            return true;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn one_key() -> Options {
    Options {
        keys: vec![KEY_1],
        ..Options::default()
    }
}

#[actix_web::test]
async fn a_waiting_client_that_leaves_never_reaches_the_upstream() {
    let app = spawn_with(one_key()).await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_delay(Duration::from_millis(600))],
    );
    let holder = app.chat("mock/m");
    let leaver = async {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
        let (mut socket, request) = raw_request(&app, &chat_body("mock/m"));
        socket.write_all(&request).unwrap();
        actix_rt::time::sleep(Duration::from_millis(200)).await;
        drop(socket); // gives up while queued behind `holder`
    };
    let ((status, _), ()) = futures_util::future::join(holder, leaver).await;
    assert_eq!(status, StatusCode::OK);
    // Queued after the leaver: served only once its place was given up.
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(
        app.mock.calls(KEY_1, "m"),
        2,
        "the departed client's request was not sent"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_client_that_leaves_mid_call_releases_the_key_at_once() {
    let app = spawn_with(one_key()).await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_delay(Duration::from_secs(30))],
    );
    let (mut socket, request) = raw_request(&app, &chat_body("mock/m"));
    socket.write_all(&request).unwrap();
    crate::helpers::eventually("the upstream call started", || {
        app.mock.in_flight(KEY_1, "m") == 1
    })
    .await;
    drop(socket);
    assert!(
        wait_until_released(&app, KEY_1, "m", Duration::from_secs(5)).await,
        "the key stayed leased for the upstream's 30 s"
    );
    crate::helpers::eventually("the upstream call was cancelled", || {
        app.mock.in_flight(KEY_1, "m") == 0
    })
    .await;
    app.stop().await;
}

#[actix_web::test]
async fn a_stream_client_that_disconnects_releases_the_key_and_counts_the_request() {
    let app = spawn_with(one_key()).await;
    let words = ["w"; 50];
    let slow = StreamScript::chat("m", &words, false).with_gap(Duration::from_millis(100));
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(slow)]);
    let mut body = chat_body("mock/m");
    body["stream"] = json!(true);
    let mut res = app.open_stream(&body).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.next().await.unwrap().unwrap();
    drop(res);
    assert!(wait_until_released(&app, KEY_1, "m", Duration::from_secs(3)).await);
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["daily"]["requests"], 1, "{usage}");
    assert_eq!(usage["daily"]["successes"], 0);
    assert_eq!(usage["daily"]["failures"], 0, "the key did nothing wrong");
    crate::helpers::eventually("the upstream stream was closed", || {
        app.mock.in_flight(KEY_1, "m") == 0
    })
    .await;
    app.stop().await;
}

#[actix_web::test]
async fn a_stream_client_that_stops_reading_releases_the_key() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        extra_env: vec![("STREAM_IDLE_TIMEOUT".into(), "300ms".into())],
        ..Options::default()
    })
    .await;
    let chunk = json!({"model": "m", "choices": [{"index": 0, "delta": {"content": "a".repeat(16_000)}, "finish_reason": null}]});
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_stream(StreamScript::endless(chunk.to_string()))],
    );
    let mut body = chat_body("mock/m");
    body["stream"] = json!(true);
    let (mut socket, request) = raw_request(&app, &body);
    // Blocking socket calls stay off the test's runtime thread.
    let (socket, head) = actix_rt::task::spawn_blocking(move || {
        socket.write_all(&request).unwrap();
        let mut head = [0u8; 64];
        socket.read_exact(&mut head).unwrap();
        (socket, head)
    })
    .await
    .unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"));
    // The socket stays open but nobody reads: buffers fill, then the relay
    // gives up after the idle timeout.
    assert!(
        wait_until_released(&app, KEY_1, "m", Duration::from_secs(10)).await,
        "a stalled reader pinned the key"
    );
    drop(socket);
    app.stop().await;
}
