//! The real Claude Code CLI (`claude`, npm `@anthropic-ai/claude-code`,
//! which `.ci/run` installs) against the proxy's `/v1/messages`, with an
//! OpenAI-compatible provider behind: it answers a prompt, and a Bash tool
//! call makes the whole round trip. Skipped, with a message, when `claude`
//! is not installed.
//!
//! The CLI runs offline: everything it needs goes to `ANTHROPIC_BASE_URL`,
//! with telemetry, updates and other traffic switched off, in a temporary
//! `HOME`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::{Reply, StreamScript};

/// Longest a CLI run may take (it needs about a second).
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// A working `claude`, or `None` with the reason printed (the test is then
/// skipped). With `LLMKP_REQUIRE_TOOLS` set (`.ci/run` sets it) a missing
/// CLI fails the test instead, so CI cannot pass without running it.
fn claude_or_skip() -> Option<PathBuf> {
    let Some(claude) = find_claude() else {
        return skip_without(
            "Claude Code (`claude`) not found on PATH or in npm's global prefix; \
             `npm install -g @anthropic-ai/claude-code` (.ci/run does)"
                .to_string(),
        );
    };
    match Command::new(&claude).arg("--version").output() {
        Ok(out) if out.status.success() => Some(claude),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            skip_without(format!("`{} --version` failed: {stderr}", claude.display()))
        }
        Err(e) => skip_without(format!("cannot run {}: {e}", claude.display())),
    }
}

/// `claude` on `PATH`, or in the bin directory of npm's global prefix.
fn find_claude() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("claude"));
    let prefix = Command::new("npm")
        .args(["prefix", "-g"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|prefix| !prefix.is_empty())
        .map(|prefix| Path::new(&prefix).join("bin").join("claude"));
    on_path.chain(prefix).find(|candidate| candidate.is_file())
}

/// What a CLI run printed.
struct Run {
    stdout: String,
    stderr: String,
}

/// Runs `claude -p <prompt> <args>` against the proxy, in a fresh home
/// directory, off the actix thread (the proxy's actors live there).
async fn run_claude(claude: PathBuf, app: &TestApp, prompt: &str, args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let base = app.base.clone();
    let prompt = prompt.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let run = actix_rt::task::spawn_blocking(move || {
        let home = home.path();
        let stdout_path = home.join("stdout");
        let stderr_path = home.join("stderr");
        let mut child = Command::new(claude)
            .arg("-p")
            .arg(&prompt)
            .args(&args)
            .current_dir(home)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
            .env("ANTHROPIC_BASE_URL", &base)
            .env("ANTHROPIC_AUTH_TOKEN", PROXY_KEY)
            .env("ANTHROPIC_MODEL", "mock/main")
            .env("ANTHROPIC_DEFAULT_HAIKU_MODEL", "mock/small")
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).unwrap())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > CLI_TIMEOUT {
                child.kill().unwrap();
                child.wait().unwrap();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Run {
            stdout: std::fs::read_to_string(stdout_path).unwrap(),
            stderr: std::fs::read_to_string(stderr_path).unwrap(),
        }
    });
    run.await.unwrap()
}

/// A streamed OpenAI answer: `text`, or else one call of `tool` with
/// `arguments`.
fn answer(text: Option<&str>, tool: Option<(&str, Value)>) -> Reply {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-cc", "object": "chat.completion.chunk", "created": 1,
            "model": "main", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if let Some(text) = text {
        events.push(chunk(json!({"content": text}), Value::Null));
        events.push(chunk(json!({}), json!("stop")));
    }
    if let Some((name, arguments)) = tool {
        let call = json!([{"index": 0, "id": "call_cc_1", "type": "function",
            "function": {"name": name, "arguments": arguments.to_string()}}]);
        events.push(chunk(json!({"tool_calls": call}), Value::Null));
        events.push(chunk(json!({}), json!("tool_calls")));
    }
    let usage = json!({"id": "chatcmpl-cc", "object": "chat.completion.chunk", "created": 1,
        "model": "main", "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}});
    events.push(usage.to_string());
    Reply::ok().with_stream(StreamScript::raw(events))
}

/// A value no earlier run can have left behind.
fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

#[actix_web::test]
async fn claude_code_answers_a_prompt_through_an_openai_provider() {
    let Some(claude) = claude_or_skip() else {
        return;
    };
    let app = spawn_app().await;
    let nonce = nonce();
    let expected = format!("answer-{nonce}");
    app.mock
        .reply_when(&format!("ping {nonce}"), answer(Some(&expected), None));
    let run = run_claude(claude, &app, &format!("ping {nonce}"), &[]).await;
    assert!(
        run.stdout.contains(&expected),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    let sent = app.mock.bodies_with(&format!("ping {nonce}"));
    let first = sent.first().expect("the provider was asked");
    assert_eq!(first["model"], "main");
    // Claude Code's system entries inside `messages` keep their place.
    let roles: Vec<&str> = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles.first(), Some(&"system"), "{roles:?}");
    assert!(roles[1..].contains(&"system"), "{roles:?}");
    app.stop().await;
}

#[actix_web::test]
async fn claude_code_runs_a_bash_tool_and_the_result_reaches_the_provider() {
    let Some(claude) = claude_or_skip() else {
        return;
    };
    let app = spawn_app().await;
    let nonce = nonce();
    // The command prints the marker in capitals: only its output, not the
    // command itself, contains `MARKER-…`.
    let marker = format!("MARKER-{}", nonce.to_uppercase());
    let done = format!("done-{nonce}");
    app.mock.reply_when(&marker, answer(Some(&done), None));
    let command = format!("echo marker-{nonce} | tr a-z A-Z");
    app.mock.reply_when(
        &format!("run {nonce}"),
        answer(
            None,
            Some((
                "Bash",
                json!({"command": command, "description": "Print the marker"}),
            )),
        ),
    );
    let prompt = format!("run {nonce}");
    let run = run_claude(claude, &app, &prompt, &["--allowedTools", "Bash"]).await;
    assert!(
        run.stdout.contains(&done),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert_eq!(app.mock.bodies_with(&format!("run {nonce}")).len(), 1);
    let sent = app.mock.bodies_with(&marker);
    let last = sent.last().expect("the tool result reached the provider");
    let messages = last["messages"].as_array().unwrap();
    let call = messages
        .iter()
        .find(|m| m["role"] == "assistant")
        .expect("the tool call is in the history");
    assert_eq!(call["tool_calls"][0]["function"]["name"], "Bash");
    let id = call["tool_calls"][0]["id"].as_str().unwrap();
    let result = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("a tool message");
    assert_eq!(result["tool_call_id"], id);
    assert!(
        result["content"].as_str().unwrap().contains(&marker),
        "{result}"
    );
    app.stop().await;
}
