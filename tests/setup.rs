//! `llm-key-proxy setup`, run as the real binary in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use llm_key_proxy::providers::presets::PRESETS;

const BIN: &str = env!("CARGO_BIN_EXE_llm-key-proxy");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn shown(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the binary in `dir` with a clean environment, `stdin` piped in.
fn run(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The variables of `dir/.env`, as the proxy reads them.
fn env_vars(dir: &Path) -> Vec<(String, String)> {
    dotenvy::from_path_iter(dir.join(".env"))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn var(dir: &Path, name: &str) -> Option<String> {
    env_vars(dir)
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn assert_hidden(run: &Run, secrets: &[&str]) {
    let shown = run.shown();
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} was printed: {shown}");
    }
}

fn check_config(dir: &Path) -> Run {
    run(dir, &["--check-config", "--host", "127.0.0.1"], "")
}

#[test]
fn non_interactive_setup_writes_keys_and_a_proxy_key_without_printing_them() {
    let dir = tempfile::tempdir().unwrap();
    let first = "gsk_first_secret_0001";
    let second = "gsk_second_secret_0002";
    let out = run(
        dir.path(),
        &[
            "setup",
            "--provider",
            "groq",
            "--key",
            first,
            "--key",
            second,
        ],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.shown());
    assert_eq!(var(dir.path(), "GROQ_API_KEY_1").as_deref(), Some(first));
    assert_eq!(var(dir.path(), "GROQ_API_KEY_2").as_deref(), Some(second));
    let proxy_key = var(dir.path(), "PROXY_API_KEY").unwrap();
    assert!(proxy_key.len() >= 32, "{proxy_key}");
    assert_hidden(
        &out,
        &[first, second, &proxy_key, "first_secret", "second_secret"],
    );
    assert!(
        out.stdout.contains("added GROQ_API_KEY_1 = gsk…0001"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("PROXY_API_KEY generated and saved in .env"),
        "{}",
        out.stdout
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(".env"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "a new .env is private: {mode:o}");
    }

    // Again with the same key: nothing duplicated, the proxy key kept.
    let again = run(
        dir.path(),
        &["setup", "--provider", "groq", "--key", first],
        "",
    );
    assert_eq!(again.code, 0, "{}", again.shown());
    assert_hidden(&again, &[first, &proxy_key]);
    assert!(
        again.stdout.contains("skipped gsk…0001"),
        "{}",
        again.stdout
    );
    let vars = env_vars(dir.path());
    assert_eq!(vars.iter().filter(|(_, v)| v == first).count(), 1);
    assert_eq!(vars.len(), 3, "{vars:?}");
    assert_eq!(
        var(dir.path(), "PROXY_API_KEY").as_deref(),
        Some(proxy_key.as_str())
    );

    let check = check_config(dir.path());
    assert_eq!(check.code, 0, "{}", check.shown());
    assert!(check.stdout.contains("groq"), "{}", check.stdout);
    assert!(check.stdout.contains("# configuration is valid"));
    assert_hidden(&check, &[first, second, &proxy_key]);
}

#[test]
fn existing_lines_are_kept_and_keys_can_come_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let before = "# my settings\nPROXY_API_KEY=proxy-secret-abcdef-9999\nGLOBAL_TIMEOUT=45\n\
                  OPENAI_API_KEY=sk-openai-secret-0001\n";
    std::fs::write(dir.path().join(".env"), before).unwrap();
    let out = run(
        dir.path(),
        &["setup", "--provider", "openai", "--key", "-"],
        "sk-openai-secret-0001\n\nsk-openai-secret-0002\n",
    );
    assert_eq!(out.code, 0, "{}", out.shown());
    assert_hidden(&out, &["openai-secret", "proxy-secret"]);
    let after = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert_eq!(
        after,
        format!("{before}OPENAI_API_KEY_1=sk-openai-secret-0002\n")
    );
}

#[test]
fn custom_provider_with_a_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "setup",
            "--provider",
            "vllm",
            "--base-url",
            "http://localhost:8000/v1/",
            "--key",
            "local-server-key-0001",
        ],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.shown());
    assert_hidden(&out, &["local-server-key-0001"]);
    assert_eq!(
        var(dir.path(), "VLLM_API_BASE").as_deref(),
        Some("http://localhost:8000/v1")
    );
    assert_eq!(
        var(dir.path(), "VLLM_API_KEY_1").as_deref(),
        Some("local-server-key-0001")
    );

    // A later run moves it.
    let moved = run(
        dir.path(),
        &[
            "setup",
            "--provider",
            "vllm",
            "--base-url",
            "http://gpu-box:9000/v1",
        ],
        "",
    );
    assert_eq!(moved.code, 0, "{}", moved.shown());
    assert_eq!(
        var(dir.path(), "VLLM_API_BASE").as_deref(),
        Some("http://gpu-box:9000/v1")
    );
    let bases = env_vars(dir.path())
        .into_iter()
        .filter(|(k, _)| k == "VLLM_API_BASE")
        .count();
    assert_eq!(bases, 1);

    // Once its base URL is in .env, a custom provider takes more keys alone.
    let more = run(
        dir.path(),
        &[
            "setup",
            "--provider",
            "vllm",
            "--key",
            "local-server-key-0002",
        ],
        "",
    );
    assert_eq!(more.code, 0, "{}", more.shown());
    assert_eq!(
        var(dir.path(), "VLLM_API_KEY_2").as_deref(),
        Some("local-server-key-0002")
    );

    let check = check_config(dir.path());
    assert_eq!(check.code, 0, "{}", check.shown());
    assert!(
        check.stdout.contains("vllm") && check.stdout.contains("http://gpu-box:9000/v1"),
        "{}",
        check.stdout
    );
}

#[test]
fn unknown_provider_without_base_url_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "setup",
            "--provider",
            "nosuch",
            "--key",
            "some-secret-key-0001",
        ],
        "",
    );
    assert_eq!(out.code, 1, "{}", out.shown());
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].starts_with("error: "), "{}", out.stderr);
    for text in ["nosuch", "--base-url", "groq", "openai"] {
        assert!(lines[0].contains(text), "missing {text}: {}", out.stderr);
    }
    assert_hidden(&out, &["some-secret-key-0001"]);
    assert!(!dir.path().join(".env").exists());

    // So is a bad base URL, without touching the file.
    let bad = run(
        dir.path(),
        &[
            "setup",
            "--provider",
            "vllm",
            "--base-url",
            "localhost:8000",
            "--key",
            "k",
        ],
        "",
    );
    assert_eq!(bad.code, 1);
    assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("http"), "{}", bad.stderr);
    assert!(!dir.path().join(".env").exists());
}

#[test]
fn setup_works_while_the_configuration_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "GLOBAL_TIMEOUT=soon\n").unwrap();
    assert_eq!(check_config(dir.path()).code, 1);
    let out = run(
        dir.path(),
        &[
            "setup",
            "--provider",
            "groq",
            "--key",
            "gsk_secret_key_0001",
        ],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.shown());
    assert_eq!(var(dir.path(), "GLOBAL_TIMEOUT").as_deref(), Some("soon"));
}

#[test]
fn interactive_setup_with_piped_answers() {
    let dir = tempfile::tempdir().unwrap();
    let groq = PRESETS.iter().position(|(n, _, _)| *n == "groq").unwrap() + 1;
    let answers = format!("{groq}\ngsk_piped_secret_0001\ngsk_piped_secret_0002\n\n");
    let out = run(dir.path(), &["setup"], &answers);
    assert_eq!(out.code, 0, "{}", out.shown());
    let proxy_key = var(dir.path(), "PROXY_API_KEY").unwrap();
    assert_hidden(&out, &["piped_secret", &proxy_key]);
    assert!(out.stdout.contains("custom"), "{}", out.stdout);
    assert!(out.stdout.contains("gsk…0002"), "{}", out.stdout);
    assert_eq!(
        var(dir.path(), "GROQ_API_KEY_1").as_deref(),
        Some("gsk_piped_secret_0001")
    );
    assert_eq!(
        var(dir.path(), "GROQ_API_KEY_2").as_deref(),
        Some("gsk_piped_secret_0002")
    );

    // A custom provider: its number, a name, a base URL, one key.
    let custom = PRESETS.len() + 1;
    let answers = format!("{custom}\nollama\nhttp://localhost:11434/v1\nunused-key-0001\n\n");
    let out = run(dir.path(), &["setup"], &answers);
    assert_eq!(out.code, 0, "{}", out.shown());
    assert_eq!(
        var(dir.path(), "OLLAMA_API_BASE").as_deref(),
        Some("http://localhost:11434/v1")
    );
    assert_eq!(
        var(dir.path(), "OLLAMA_API_KEY_1").as_deref(),
        Some("unused-key-0001")
    );

    let check = check_config(dir.path());
    assert_eq!(check.code, 0, "{}", check.shown());
    assert!(
        check.stdout.contains("groq") && check.stdout.contains("ollama"),
        "{}",
        check.stdout
    );
}

#[test]
fn interactive_setup_stops_cleanly_when_stdin_ends() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["setup"], "");
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("--provider"), "{}", out.stderr);
    assert!(!dir.path().join(".env").exists());
}
