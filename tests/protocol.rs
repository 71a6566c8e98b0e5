//! The real binary against malformed HTTP: the HTTP layer's own 400 and
//! 431 answers, and a log that clients cannot flood with ERROR lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

mod common;

use common::{http, proxy, Running};

/// Sends `raw` on a fresh connection; the status of the answer.
fn send_raw(addr: &str, raw: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn malformed_requests_are_answered_without_error_lines_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("RUST_LOG", "info"),
        ("LOCAL_API_KEY", "o"),
        ("LOCAL_API_BASE", "http://127.0.0.1:9/v1"),
    ];
    let mut cmd = proxy(dir.path(), &env);
    cmd.args(["--host", "127.0.0.1", "--port", "0"]);
    let mut running = Running::start(cmd);
    let startup = running.startup.join("\n");
    let placeholder: Vec<&str> = startup
        .lines()
        .filter(|l| l.contains("placeholder"))
        .collect();
    assert_eq!(placeholder.len(), 1, "one warning: {startup}");
    assert!(
        placeholder[0].contains("WARN") && placeholder[0].contains("`LOCAL_API_KEY`"),
        "{startup}"
    );

    let addr = running.addr.clone();
    for _ in 0..3 {
        assert_eq!(send_raw(&addr, b"GARBAGE\r\n\r\n"), 400);
    }
    let bad_length =
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n";
    assert_eq!(send_raw(&addr, bad_length), 400);
    let mut huge_head = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..200 {
        huge_head.extend_from_slice(format!("X-Header-{i}: v\r\n").as_bytes());
    }
    huge_head.extend_from_slice(b"\r\n");
    assert_eq!(send_raw(&addr, &huge_head), 431);
    // The proxy still serves.
    assert_eq!(http(&addr, "GET", "/health", "").0, 200);

    let pid = running.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let rest: Vec<String> = running.lines.by_ref().map_while(Result::ok).collect();
    assert!(running.child.wait().unwrap().success(), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("GET /health 200")),
        "{rest:?}"
    );
    assert!(
        !rest
            .iter()
            .any(|l| l.contains("ERROR") || l.contains("stream error")),
        "malformed requests are not ERROR lines (debug only): {rest:?}"
    );
}
