//! The real Codex CLI (`codex`, npm `@openai/codex`, which `.ci/run`
//! installs) against the proxy's `/v1/responses`, with an OpenAI-compatible
//! provider behind: `codex exec` answers a prompt, and a shell tool call
//! makes the whole round trip (Codex runs the command and sends its
//! `function_call_output` back). Skipped, with a message, when `codex` is
//! not installed.
//!
//! Codex runs with a custom provider (`wire_api = "responses"`) in a
//! temporary `CODEX_HOME`, with retries off so a failure shows at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::{Reply, StreamScript};

/// Longest a CLI run may take (it needs a few seconds).
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// The shell tool Codex 0.171 offers (`{"cmd": "…"}`).
pub const SHELL_TOOL: &str = "exec_command";

/// A working `codex`, or `None` with the reason printed (the test is then
/// skipped). With `LLMKP_REQUIRE_TOOLS` set (`.ci/run` sets it) a missing
/// CLI fails the test instead, so CI cannot pass without running it.
pub fn codex_or_skip() -> Option<PathBuf> {
    let Some(codex) = find_codex() else {
        return skip_without(
            "Codex CLI (`codex`) not found on PATH or in npm's global prefix; \
             `npm install -g @openai/codex` (.ci/run does)"
                .to_string(),
        );
    };
    match Command::new(&codex).arg("--version").output() {
        Ok(out) if out.status.success() => Some(codex),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            skip_without(format!("`{} --version` failed: {stderr}", codex.display()))
        }
        Err(e) => skip_without(format!("cannot run {}: {e}", codex.display())),
    }
}

/// `codex` on `PATH`, or in the bin directory of npm's global prefix.
fn find_codex() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("codex"));
    let prefix = Command::new("npm")
        .args(["prefix", "-g"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|prefix| !prefix.is_empty())
        .map(|prefix| Path::new(&prefix).join("bin").join("codex"));
    on_path.chain(prefix).find(|candidate| candidate.is_file())
}

/// What a CLI run printed: `--json` events on stdout.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `item.completed` items of the JSONL output.
    pub fn items(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["type"] == "item.completed")
            .map(|event| event["item"].clone())
            .collect()
    }
}

/// The `config.toml` of a Codex home whose provider is the proxy at `base`,
/// asking for `model`.
fn config(base: &str, model: &str) -> String {
    format!(
        "model = \"{model}\"\n\
         model_provider = \"proxy\"\n\
         \n\
         [model_providers.proxy]\n\
         name = \"llm-key-proxy\"\n\
         base_url = \"{base}/v1\"\n\
         env_key = \"LLM_KEY_PROXY_KEY\"\n\
         wire_api = \"responses\"\n\
         request_max_retries = 0\n\
         stream_max_retries = 0\n\
         stream_idle_timeout_ms = 20000\n"
    )
}

/// Runs `codex exec <prompt>` against the proxy, in a fresh home and work
/// directory, off the actix thread (the proxy's actors live there).
pub async fn run_codex(codex: PathBuf, app: &TestApp, model: &str, prompt: &str) -> Run {
    let home = tempfile::tempdir().unwrap();
    let config = config(&app.base, model);
    let prompt = prompt.to_string();
    let run = actix_rt::task::spawn_blocking(move || {
        let home = home.path();
        let codex_home = home.join("codex");
        let work = home.join("work");
        std::fs::create_dir_all(&codex_home).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(codex_home.join("config.toml"), config).unwrap();
        let stdout_path = home.join("stdout");
        let stderr_path = home.join("stderr");
        let mut child = Command::new(codex)
            .args(["exec", "--skip-git-repo-check", "--ephemeral", "--json"])
            // A throwaway directory; Linux sandboxing may be unavailable.
            .arg("--dangerously-bypass-approvals-and-sandbox")
            .arg("-C")
            .arg(&work)
            .arg(&prompt)
            .current_dir(&work)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("CODEX_HOME", &codex_home)
            .env("LLM_KEY_PROXY_KEY", PROXY_KEY)
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
        json!({"id": "chatcmpl-cx", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-test", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let mut events = vec![chunk(json!({"role": "assistant"}), Value::Null)];
    if let Some(text) = text {
        events.push(chunk(json!({"content": text}), Value::Null));
        events.push(chunk(json!({}), json!("stop")));
    }
    if let Some((name, arguments)) = tool {
        let call = json!([{"index": 0, "id": "call_cx_1", "type": "function",
            "function": {"name": name, "arguments": arguments.to_string()}}]);
        events.push(chunk(json!({"tool_calls": call}), Value::Null));
        events.push(chunk(json!({}), json!("tool_calls")));
    }
    let usage = json!({"id": "chatcmpl-cx", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-test", "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}});
    events.push(usage.to_string());
    Reply::ok().with_stream(StreamScript::raw(events))
}

/// A value no earlier run can have left behind.
pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

#[actix_web::test]
async fn codex_answers_a_prompt_through_an_openai_provider() {
    let Some(codex) = codex_or_skip() else {
        return;
    };
    let app = spawn_app().await;
    let nonce = nonce();
    let expected = format!("answer-{nonce}");
    app.mock
        .reply_when(&format!("ping {nonce}"), answer(Some(&expected), None));
    let run = run_codex(codex, &app, "mock/gpt-test", &format!("ping {nonce}")).await;
    let said = run
        .items()
        .iter()
        .any(|item| item["type"] == "agent_message" && item["text"] == expected.as_str());
    assert!(said, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    let sent = app.mock.bodies_with(&format!("ping {nonce}"));
    let first = sent.first().expect("the provider was asked");
    assert_eq!(first["model"], "gpt-test");
    assert_eq!(first["stream"], true);
    let offered: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(offered.contains(&SHELL_TOOL), "{offered:?}");
    app.stop().await;
}

#[actix_web::test]
async fn codex_runs_a_shell_command_and_its_output_reaches_the_provider() {
    let Some(codex) = codex_or_skip() else {
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
        answer(None, Some((SHELL_TOOL, json!({"cmd": command})))),
    );
    let run = run_codex(codex, &app, "mock/gpt-test", &format!("run {nonce}")).await;
    let said = run
        .items()
        .iter()
        .any(|item| item["type"] == "agent_message" && item["text"] == done.as_str());
    assert!(said, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert_eq!(app.mock.bodies_with(&format!("run {nonce}")).len(), 1);
    let sent = app.mock.bodies_with(&marker);
    let last = sent
        .last()
        .expect("the command's output reached the provider");
    let messages = last["messages"].as_array().unwrap();
    let call = messages
        .iter()
        .find(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .expect("the tool call is in the history");
    assert_eq!(call["tool_calls"][0]["function"]["name"], SHELL_TOOL);
    assert_eq!(call["tool_calls"][0]["id"], "call_cx_1");
    let result = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("a tool message");
    assert_eq!(result["tool_call_id"], "call_cx_1");
    assert!(
        result["content"].as_str().unwrap().contains(&marker),
        "{result}"
    );
    app.stop().await;
}
