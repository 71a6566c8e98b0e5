//! The real Codex CLI over `/v1/responses` with a Gemini or an Anthropic
//! provider behind: a shell tool call makes the whole round trip (the
//! provider's own call — `functionCall`, `tool_use` — reaches Codex as a
//! `function_call`, Codex runs the command, and its output goes back as the
//! provider's own tool result). Skipped, with a message, without `codex`
//! (see `codex_cli.rs`).

use serde_json::{json, Value};

use crate::codex_cli::{codex_or_skip, nonce, run_codex, SHELL_TOOL};
use crate::helpers::*;
use mock_upstream::{Reply, StreamScript};

/// A Gemini stream of one chunk: `text`, or a call of `tool`.
fn gemini_answer(text: Option<&str>, tool: Option<(&str, Value)>) -> Reply {
    let part = match (text, tool) {
        (Some(text), _) => json!({"text": text}),
        (None, Some((name, args))) => json!({"functionCall": {"name": name, "args": args}}),
        (None, None) => unreachable!("an answer says something"),
    };
    let chunk = json!({"candidates": [{"content": {"role": "model", "parts": [part]},
                       "finishReason": "STOP", "index": 0}],
                       "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                                         "totalTokenCount": 15}});
    Reply::ok().with_stream(StreamScript::raw(vec![chunk.to_string()]).without_done())
}

/// An Anthropic Messages stream: `text`, or a call of `tool`.
fn anthropic_answer(text: Option<&str>, tool: Option<(&str, Value)>) -> Reply {
    let (block, delta, stop) = match (text, tool) {
        (Some(text), _) => (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": text}),
            "end_turn",
        ),
        (None, Some((name, input))) => (
            json!({"type": "tool_use", "id": "toolu_cx_1", "name": name, "input": {}}),
            json!({"type": "input_json_delta", "partial_json": input.to_string()}),
            "tool_use",
        ),
        (None, None) => unreachable!("an answer says something"),
    };
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_cx", "type": "message",
               "role": "assistant", "model": "m", "content": [], "stop_reason": null,
               "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": block}),
        json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": stop},
               "usage": {"output_tokens": 5}}),
        json!({"type": "message_stop"}),
    ];
    let frames = events.iter().map(Value::to_string).collect();
    Reply::ok().with_stream(StreamScript::raw(frames).without_done())
}

type Answer = fn(Option<&str>, Option<(&str, Value)>) -> Reply;

/// Codex asks `provider/m` to run a command whose output only the command
/// can produce; the provider's second request must carry that output.
async fn round_trip(provider: &'static str, answer: Answer) {
    let Some(codex) = codex_or_skip() else {
        return;
    };
    let app = spawn_with(Options {
        provider,
        ..Options::default()
    })
    .await;
    let nonce = nonce();
    let marker = format!("MARKER-{}", nonce.to_uppercase());
    let done = format!("done-{nonce}");
    app.mock.reply_when(&marker, answer(Some(&done), None));
    let command = format!("echo marker-{nonce} | tr a-z A-Z");
    app.mock.reply_when(
        &format!("run {nonce}"),
        answer(None, Some((SHELL_TOOL, json!({"cmd": command})))),
    );
    let model = format!("{provider}/m");
    let run = run_codex(codex, &app, &model, &format!("run {nonce}")).await;
    let said = run
        .items()
        .iter()
        .any(|item| item["type"] == "agent_message" && item["text"] == done.as_str());
    assert!(
        said,
        "{provider}: stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let sent = app.mock.bodies_with(&marker);
    let last = sent
        .last()
        .expect("the command's output reached the provider");
    let result = match provider {
        "gemini" => "functionResponse",
        _ => "tool_result",
    };
    assert!(last.to_string().contains(result), "{provider}: {last}");
    app.stop().await;
}

#[actix_web::test]
async fn codex_round_trips_a_shell_call_through_gemini() {
    round_trip("gemini", gemini_answer).await;
}

#[actix_web::test]
async fn codex_round_trips_a_shell_call_through_anthropic() {
    round_trip("anthropic", anthropic_answer).await;
}
