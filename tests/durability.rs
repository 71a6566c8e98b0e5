//! The real binary's state survives `kill -9`, and a damaged database does
//! not stop it from starting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{http, proxy, Running};
use mock_upstream::{MockUpstream, Reply};
use serde_json::Value;

const KEY_1: &str = "durable-key-one-0001";
const KEY_2: &str = "durable-key-two-0002";

fn start_proxy(dir: &Path, mock: &MockUpstream) -> Running {
    let base = mock.base_url.clone();
    let env = [
        ("RUST_LOG", "info"),
        ("MOCK_API_BASE", base.as_str()),
        ("MOCK_API_KEY_1", KEY_1),
        ("MOCK_API_KEY_2", KEY_2),
    ];
    let mut cmd = proxy(dir, &env);
    cmd.args(["--host", "127.0.0.1", "--port", "0"]);
    Running::start(cmd)
}

fn chat(addr: &str) -> u16 {
    http(
        addr,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"mock/m","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .0
}

#[test]
fn a_cooldown_survives_kill_9() {
    let mock = MockUpstream::start_in_background();
    mock.script(
        KEY_1,
        "m",
        vec![Reply::status(429).with_header("Retry-After", "600")],
    );
    let dir = tempfile::tempdir().unwrap();

    let proxy = start_proxy(dir.path(), &mock);
    assert_eq!(chat(&proxy.addr), 200, "served by key 2");
    assert_eq!(mock.calls(KEY_1, "m"), 1);
    proxy.kill_hard(); // SIGKILL right after the response

    let proxy = start_proxy(dir.path(), &mock);
    let (_, usage) = http(&proxy.addr, "GET", "/v1/usage", "");
    let usage: Value = serde_json::from_str(&usage).unwrap();
    let key_1 = &usage["providers"]["mock"]["keys"][0];
    assert!(
        key_1["models"]["m"]["cooldown_until"].is_string(),
        "{key_1}"
    );
    for _ in 0..3 {
        assert_eq!(chat(&proxy.addr), 200);
    }
    assert_eq!(
        mock.calls(KEY_1, "m"),
        1,
        "key 1 still rests after the restart"
    );
    assert_eq!(mock.calls(KEY_2, "m"), 4);
    drop(proxy);

    // With no proxy running, `stats` reads the data directory.
    let out = proxy_stats(dir.path(), &mock);
    let row = out
        .lines()
        .find(|l| l.contains("dur…0001"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("m ") && !row.contains(" - "),
        "key 1 shows its cooldown: {row}"
    );
    assert!(out.contains("no proxy is running"), "{out}");
}

fn proxy_stats(dir: &Path, mock: &MockUpstream) -> String {
    let base = mock.base_url.clone();
    let env = [
        ("MOCK_API_BASE", base.as_str()),
        ("MOCK_API_KEY_1", KEY_1),
        ("MOCK_API_KEY_2", KEY_2),
    ];
    // A port nothing listens on: the stats command falls back to the disk.
    let out = proxy(dir, &env)
        .args(["stats", "--port", "9"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_damaged_database_is_moved_aside_and_the_proxy_starts() {
    let mock = MockUpstream::start_in_background();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data").join("state.sled");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("conf"), b"this is not a sled configuration").unwrap();
    std::fs::write(db.join("db"), vec![0xA5u8; 4096]).unwrap();

    let proxy = start_proxy(dir.path(), &mock);
    let log = proxy.startup.join("\n");
    assert!(
        log.contains("COULD NOT BE OPENED") && log.contains("corrupt"),
        "{log}"
    );
    assert_eq!(chat(&proxy.addr), 200);
    let moved = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("corrupt")
        })
        .count();
    assert_eq!(moved, 1, "the damaged database is kept aside");
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let mock = MockUpstream::start_in_background();
    mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_delay(std::time::Duration::from_millis(800))],
    );
    mock.script(
        KEY_2,
        "m",
        vec![Reply::ok().with_delay(std::time::Duration::from_millis(800))],
    );
    let dir = tempfile::tempdir().unwrap();
    let mut proxy = start_proxy(dir.path(), &mock);
    let addr = proxy.addr.clone();
    let in_flight = std::thread::spawn(move || chat(&addr));
    while mock.total_calls() == 0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pid = proxy.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(
        in_flight.join().unwrap(),
        200,
        "the request in flight completed"
    );
    let status = proxy.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = proxy.lines.by_ref().map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}

#[test]
fn sighup_reloads_the_dot_env() {
    let mock = MockUpstream::start_in_background();
    let dir = tempfile::tempdir().unwrap();
    let dotenv = dir.path().join(".env");
    let base = format!("MOCK_API_BASE={}\nMOCK_API_KEY_1={KEY_1}\n", mock.base_url);
    std::fs::write(&dotenv, &base).unwrap();
    let mut cmd = proxy(dir.path(), &[("RUST_LOG", "info")]);
    cmd.args(["--host", "127.0.0.1", "--port", "0"]);
    let proxy = Running::start(cmd);
    let keys = |addr: &str| -> usize {
        let (_, usage) = http(addr, "GET", "/v1/usage", "");
        let usage: Value = serde_json::from_str(&usage).unwrap();
        usage["providers"]["mock"]["keys"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(keys(&proxy.addr), 1);

    std::fs::write(&dotenv, format!("{base}MOCK_API_KEY_2={KEY_2}\n")).unwrap();
    let pid = proxy.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let mut seen = 0;
    for _ in 0..100 {
        seen = keys(&proxy.addr);
        if seen == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(seen, 2, "the new key joined after SIGHUP");
    assert_eq!(chat(&proxy.addr), 200, "still serving");
}
