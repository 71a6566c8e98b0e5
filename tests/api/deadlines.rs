//! Time bounds: `GLOBAL_TIMEOUT` bounds a non-streaming attempt in flight,
//! and `REQUEST_BODY_TIMEOUT` a client's body.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;

use crate::helpers::*;
use mock_upstream::Reply;

#[actix_web::test]
async fn the_global_timeout_bounds_a_non_streaming_attempt_in_flight() {
    let app = spawn_with(Options {
        extra_env: vec![("GLOBAL_TIMEOUT".into(), "2s".into())],
        ..Options::default()
    })
    .await;
    for key in [KEY_1, KEY_2] {
        let hang = Reply::ok().with_delay(Duration::from_secs(30));
        app.mock.script(key, "m", vec![hang]);
    }
    let started = Instant::now();
    let (status, body) = app.chat("mock/m").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by GLOBAL_TIMEOUT, not UPSTREAM_TIMEOUT: {:?}",
        started.elapsed()
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("global timeout of 2s"), "{message}");
    app.stop().await;
}

/// Sends a request head declaring 1,000 bytes of body, then `send` (each
/// call writes more or stalls); answers the status line and whether the
/// server then closed the connection.
fn stalled_body(addr: SocketAddr, mut send: impl FnMut(&mut TcpStream, usize)) -> (String, bool) {
    let mut socket = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer \
         {PROXY_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut step = 0;
    let closed = loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no answer within 10 s: {}",
            String::from_utf8_lossy(&answer)
        );
        send(&mut socket, step);
        step += 1;
        match socket.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => {}
        }
    };
    let text = String::from_utf8_lossy(&answer).to_string();
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    (text.lines().next().unwrap_or_default().to_string(), closed)
}

#[actix_web::test]
async fn a_stalled_or_trickled_body_gets_408_and_the_connection_closes() {
    let app = spawn_with(Options {
        extra_env: vec![("REQUEST_BODY_TIMEOUT".into(), "1s".into())],
        ..Options::default()
    })
    .await;
    let addr: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let stalled = actix_web::rt::task::spawn_blocking(move || {
        stalled_body(addr, |socket, step| {
            if step == 0 {
                socket.write_all(br#"{"model":"#).unwrap();
            }
        })
    });
    let (status_line, closed) = stalled.await.unwrap();
    assert!(status_line.starts_with("HTTP/1.1 408"), "{status_line}");
    assert!(closed);
    let trickled = actix_web::rt::task::spawn_blocking(move || {
        stalled_body(addr, |socket, _| {
            // One byte per read timeout (250 ms); the server may have
            // closed already.
            let _ = socket.write_all(b" ");
        })
    });
    let (status_line, closed) = trickled.await.unwrap();
    assert!(status_line.starts_with("HTTP/1.1 408"), "{status_line}");
    assert!(closed);
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}
