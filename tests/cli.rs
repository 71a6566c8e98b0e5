//! The real binary: flags, startup errors, and serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

mod common;

use common::{http, proxy, Running};

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = proxy(dir, env).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_clear_line(stderr: &str, expected: &[&str]) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for text in expected {
        assert!(lines[0].contains(text), "missing {text:?}: {stderr}");
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "PROXY_API_KEY=\"proxy-secret-abcdef-9999\"\nGROQ_API_KEY_1=gsk_secret_value_0001\nGROQ_API_KEY_2=\n",
    )
    .unwrap();
    let env = [("OPENAI_API_KEY", "sk-real-env-secret-0002")];
    let (code, stdout, stderr) = run(dir.path(), &env, &["--check-config", "--port", "9123"]);
    assert_eq!(code, 0, "{stderr}");
    for secret in ["proxy-secret-abcdef", "gsk_secret_value", "real-env-secret"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
    assert!(stdout.contains("port = 9123"), "{stdout}");
    assert!(
        stdout.contains("gsk…0001") && stdout.contains("sk-…0002"),
        "{stdout}"
    );
    assert!(stdout.contains("pro…9999"), "{stdout}");
    assert!(
        stdout.contains("https://api.groq.com/openai/v1"),
        "{stdout}"
    );
    assert!(
        stderr.contains("GROQ_API_KEY_2") && stderr.contains("empty"),
        "{stderr}"
    );
}

#[test]
fn public_address_without_proxy_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(dir.path(), &[], &["--port", "0"]);
    assert_eq!(code, 1);
    assert_one_clear_line(&stderr, &["PROXY_API_KEY", "--host 127.0.0.1"]);
}

#[test]
fn unknown_setting_in_a_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("local.toml"),
        "[proxy]\nglobal_timeot = \"5s\"\n",
    )
    .unwrap();
    let (code, _, stderr) = run(
        dir.path(),
        &[],
        &["--host", "127.0.0.1", "--config", "local.toml"],
    );
    assert_eq!(code, 1);
    assert_one_clear_line(&stderr, &["global_timeot"]);
}

#[test]
fn bad_values_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(
        dir.path(),
        &[("GLOBAL_TIMEOUT", "soon")],
        &["--host", "127.0.0.1"],
    );
    assert_eq!(code, 1);
    assert_one_clear_line(&stderr, &["soon", "30s"]);
    let env = [("VLLM_API_KEY", "x"), ("VLLM_API_BASE", "localhost:8000")];
    let (code, _, stderr) = run(dir.path(), &env, &["--host", "127.0.0.1"]);
    assert_eq!(code, 1);
    assert_one_clear_line(&stderr, &["VLLM_API_BASE", "http"]);
}

#[test]
fn unusable_data_dir_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocker"), "a file, not a directory").unwrap();
    let (code, _, stderr) = run(
        dir.path(),
        &[("RUST_LOG", "error")],
        &[
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            "blocker/data",
        ],
    );
    assert_eq!(code, 1);
    assert_one_clear_line(&stderr, &["blocker/data", "--data-dir"]);
}

#[test]
fn the_binary_serves_on_loopback_without_a_proxy_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = proxy(dir.path(), &[("RUST_LOG", "info")]);
    cmd.args(["--host", "127.0.0.1", "--port", "0"]);
    let mut running = Running::start(cmd);
    let log = running.startup.join("\n");
    assert!(log.contains("no provider keys configured"), "{log}");
    assert!(log.contains("PROXY_API_KEY is not set"), "{log}");
    let (status, body) = http(&running.addr, "GET", "/v1/providers", "");
    assert_eq!(status, 200);
    assert_eq!(body, "[]");
    assert!(
        dir.path().join("data").is_dir(),
        "the default data dir was created"
    );

    // SIGTERM: a graceful stop that saves state and exits 0.
    let pid = running.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let rest: Vec<String> = running.lines.by_ref().map_while(Result::ok).collect();
    let status = running.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
    assert!(!rest.iter().any(|l| l.contains("ERROR")), "{rest:?}");
}
