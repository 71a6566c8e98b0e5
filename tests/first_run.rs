//! What a new user trips over, through the real binary: the README's
//! commands, `--check-config` warnings, bad values, a short proxy key, and
//! `stats` against a proxy on another port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

mod common;

use common::{proxy, Running};

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = proxy(dir, env).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The one line of a failed start.
fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0]
}

#[test]
fn check_config_warns_about_missing_misspelt_and_empty_keys() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("{example}\nOPENAI_APIKEY=sk-SECRET-one-0001\nmock_api_key_6=SECRET-two-0002\n"),
    )
    .unwrap();
    let (code, stdout, stderr) = run(dir.path(), &[], &["--check-config", "--host", "127.0.0.1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("SECRET") && !stderr.contains("SECRET"));
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 4, "{stderr}");
    assert!(stderr.contains("did you mean `OPENAI_API_KEY`"), "{stderr}");
    assert!(stderr.contains("did you mean `MOCK_API_KEY_6`"), "{stderr}");
    assert!(stderr.contains("key variables are empty"), "{stderr}");
    assert!(stderr.contains("no provider keys configured"), "{stderr}");
    assert!(stdout.contains("configuration is valid"), "{stdout}");
}

#[test]
fn a_bad_port_variable_is_named_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(
        dir.path(),
        &[("PROXY_PORT", "abc")],
        &["--host", "127.0.0.1"],
    );
    assert_eq!(code, 1);
    let line = one_line(&stderr);
    assert!(
        line.contains("`PROXY_PORT` = `abc`") && line.contains("e.g. 8000"),
        "{line}"
    );
}

#[test]
fn a_short_proxy_key_on_a_public_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(
        dir.path(),
        &[("PROXY_API_KEY", "a")],
        &["--check-config", "--port", "0"],
    );
    assert_eq!(code, 1);
    let line = one_line(&stderr);
    assert!(
        line.contains("PROXY_API_KEY is only 1 character long")
            && line.contains("openssl rand -hex 32"),
        "{line}"
    );
}

#[test]
fn stats_against_a_proxy_on_another_port_says_to_pass_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let key = ("PROXY_API_KEY", "a-proxy-key-long-enough-0001");
    let mut cmd = proxy(dir.path(), &[("RUST_LOG", "info"), key]);
    cmd.args(["--host", "127.0.0.1", "--port", "0"]);
    let running = Running::start(cmd);
    let port = running.addr.rsplit(':').next().unwrap().to_string();

    // A port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free_port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let (code, _, stderr) = run(dir.path(), &[key], &["stats", "--port", &free_port]);
    assert_eq!(code, 1, "{stderr}");
    let line = one_line(&stderr);
    assert!(
        line.contains(&format!("127.0.0.1:{free_port}")) && line.contains("--port"),
        "{line}"
    );
    assert!(
        !line.contains("writable") && !line.contains("--data-dir"),
        "{line}"
    );

    // The right port without the key: the key is what is missing.
    let (code, _, stderr) = run(dir.path(), &[], &["stats", "--port", &port]);
    assert_eq!(code, 1, "{stderr}");
    let line = one_line(&stderr);
    assert!(
        line.contains("refused the key") && line.contains("PROXY_API_KEY"),
        "{line}"
    );
    assert!(!line.contains("writable"), "{line}");

    let (code, stdout, stderr) = run(dir.path(), &[key], &["stats", "--port", &port]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("from the running proxy"), "{stdout}");
}

#[test]
fn no_readme_command_overwrites_the_users_env_file() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (n, line) in readme.lines().enumerate() {
        let squeezed: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
        for clobber in ["> .env", ">.env", "cp .env.example .env"] {
            assert!(
                !squeezed.contains(clobber),
                "README line {}: `{line}` would overwrite .env",
                n + 1
            );
        }
    }
}
