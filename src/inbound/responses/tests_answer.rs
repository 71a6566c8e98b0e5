//! Answer translation: exact `response` objects for chat completions, and
//! the failure codes of `response.failed`.

use serde_json::{json, Value};

use super::*;

/// The context of a request with a plain, a custom and a namespaced tool.
pub(super) fn context() -> ResponseContext {
    let request = chat_request(
        &json!({"model": "groq/llama", "input": "hi", "temperature": 0.5, "tools": [
            {"type": "function", "name": "shell"},
            {"type": "custom", "name": "apply_patch"},
            {"type": "namespace", "name": "mcp__cal__", "tools": [{"type": "function", "name": "create_event"}]},
        ]}),
        &[],
    )
    .unwrap();
    request.context("resp_abc", 1_760_000_000, "groq/llama")
}

fn completion(message: Value, finish: &str, usage: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "llama",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})
}

#[test]
fn text_answer_becomes_a_completed_response() {
    let chat = completion(
        json!({"role": "assistant", "content": "Hello!"}),
        "stop",
        json!({"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4}}),
    );
    let response = response_object(&chat, &context()).unwrap();
    assert_eq!(response["id"], "resp_abc");
    assert_eq!(response["object"], "response");
    assert_eq!(response["created_at"], 1_760_000_000);
    assert_eq!(response["status"], "completed");
    assert_eq!(response["model"], "groq/llama");
    assert_eq!(response["error"], Value::Null);
    assert_eq!(response["incomplete_details"], Value::Null);
    assert_eq!(response["temperature"], 0.5);
    assert_eq!(response["parallel_tool_calls"], true);
    assert_eq!(response["tools"].as_array().unwrap().len(), 3);
    assert_eq!(
        response["output"],
        json!([{"type": "message", "id": "msg_abc_0", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": []}]}])
    );
    assert_eq!(
        response["usage"],
        json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15})
    );
}

#[test]
fn reasoning_text_and_every_kind_of_tool_call() {
    let call = |id: &str, name: &str, args: &str| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}});
    let chat = completion(
        json!({"role": "assistant", "reasoning_content": "Need files.", "content": "Checking.",
        "tool_calls": [
            call("call_1", "shell", "{\"command\":[\"ls\"]}"),
            call("call_2", "apply_patch", "{\"input\":\"*** Begin Patch\\n*** End Patch\"}"),
            call("call_3", "mcp__cal__create_event", "{}"),
            call("call_4", "invented", "{}"),
        ]}),
        "tool_calls",
        json!({"prompt_tokens": 5, "completion_tokens": 9,
            "completion_tokens_details": {"reasoning_tokens": 2}}),
    );
    let response = response_object(&chat, &context()).unwrap();
    assert_eq!(
        response["output"],
        json!([
            {"type": "reasoning", "id": "rs_abc_0", "summary": [{"type": "summary_text", "text": "Need files."}]},
            {"type": "message", "id": "msg_abc_1", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Checking.", "annotations": [], "logprobs": []}]},
            {"type": "function_call", "id": "fc_abc_2", "call_id": "call_1", "name": "shell",
             "arguments": "{\"command\":[\"ls\"]}", "status": "completed"},
            {"type": "custom_tool_call", "id": "ctc_abc_3", "call_id": "call_2", "name": "apply_patch",
             "input": "*** Begin Patch\n*** End Patch", "status": "completed"},
            {"type": "function_call", "id": "fc_abc_4", "call_id": "call_3", "name": "create_event",
             "namespace": "mcp__cal__", "arguments": "{}", "status": "completed"},
            {"type": "function_call", "id": "fc_abc_5", "call_id": "call_4", "name": "invented",
             "arguments": "{}", "status": "completed"},
        ])
    );
    assert_eq!(response["status"], "completed");
    assert_eq!(response["usage"]["total_tokens"], 14);
    assert_eq!(
        response["usage"]["output_tokens_details"]["reasoning_tokens"],
        2
    );
}

#[test]
fn length_and_content_filter_are_incomplete() {
    let chat = completion(
        json!({"role": "assistant", "content": "Once upon"}),
        "length",
        json!({}),
    );
    let response = response_object(&chat, &context()).unwrap();
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    let chat = completion(
        json!({"role": "assistant", "content": null}),
        "content_filter",
        json!({}),
    );
    let response = response_object(&chat, &context()).unwrap();
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "content_filter"})
    );
    assert_eq!(response["output"], json!([]));
}

#[test]
fn errors_and_empty_answers_are_err() {
    let ctx = context();
    assert_eq!(
        response_object(&json!({"error": {"message": "boom"}}), &ctx).unwrap_err(),
        "boom"
    );
    assert_eq!(
        response_object(&json!({"choices": []}), &ctx).unwrap_err(),
        "the chat answer has no choices"
    );
}

#[test]
fn custom_input_that_is_not_wrapped_passes_as_text() {
    let chat = completion(
        json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
            "function": {"name": "apply_patch", "arguments": "raw patch"}}]}),
        "tool_calls",
        json!({}),
    );
    let response = response_object(&chat, &context()).unwrap();
    assert_eq!(response["output"][0]["input"], "raw patch");
}

#[test]
fn failure_codes_clients_act_on() {
    let code = |e: Value| failure_code(&e);
    assert_eq!(
        code(json!({"code": "rate_limit_exceeded", "message": "slow down"})),
        RATE_LIMIT_EXCEEDED
    );
    assert_eq!(
        code(json!({"message": "Rate limit reached", "code": 429})),
        RATE_LIMIT_EXCEEDED
    );
    assert_eq!(
        code(json!({"type": "insufficient_quota", "message": "quota"})),
        INSUFFICIENT_QUOTA
    );
    assert_eq!(
        code(json!({"code": "context_length_exceeded"})),
        CONTEXT_LENGTH_EXCEEDED
    );
    assert_eq!(
        code(json!({"type": "upstream_error", "code": "stream_interrupted", "message": "cut"})),
        SERVER_ERROR
    );
    assert_eq!(
        failed_error(&json!({"code": "rate_limit_exceeded", "message": "Rate limit reached."})),
        json!({"code": "rate_limit_exceeded",
               "message": "Rate limit reached. Please try again in 1s."}),
        "a rate limit says when to retry, the form Codex reads"
    );
    assert_eq!(
        failed_error(&json!({"code": "rate_limit_exceeded",
                             "message": "Limit. Please try again in 20s."})),
        json!({"code": "rate_limit_exceeded", "message": "Limit. Please try again in 20s."}),
        "the provider's own wait is kept"
    );
    assert_eq!(
        failed_error(&json!({"code": "server_error", "message": "cut"})),
        json!({"code": "server_error", "message": "cut"})
    );
    assert_eq!(
        with_retry_hint("Rate limit reached.", 7),
        "Rate limit reached. Please try again in 7s."
    );
    assert_eq!(
        with_retry_hint("Limit", 7),
        "Limit. Please try again in 7s."
    );
    assert_eq!(
        with_retry_hint("Please try again in 2s.", 7),
        "Please try again in 2s."
    );
}
