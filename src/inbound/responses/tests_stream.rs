//! Stream translation: exact event sequences, consistent indices and ids
//! when text, reasoning and several tool calls interleave, the terminal
//! events, and that the events assemble into the final response the way
//! the openai SDK's stream accumulator does.

use serde_json::{json, Value};

use super::tests_answer::context;
use super::*;

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn usage_chunk() -> Value {
    json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}})
}

fn run(chunks: &[Value]) -> Vec<Event> {
    let mut stream = ToResponsesStream::new(context());
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(stream.events(chunk));
    }
    events.extend(stream.finish());
    events
}

fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|(name, _)| *name).collect()
}

/// Rebuilds the output from added/delta/done events, as the SDK does, and
/// checks every event's `type` and `sequence_number`.
fn accumulate(events: &[Event]) -> Vec<Value> {
    let mut output: Vec<Value> = Vec::new();
    for (n, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], *name);
        assert_eq!(
            data["sequence_number"], n as u64,
            "strictly increasing from 0"
        );
        let at = data["output_index"].as_u64().unwrap_or(0) as usize;
        match *name {
            "response.output_item.added" => {
                assert_eq!(at, output.len(), "items are added in output_index order");
                output.push(data["item"].clone());
            }
            "response.content_part.added" => output[at]["content"]
                .as_array_mut()
                .unwrap()
                .push(data["part"].clone()),
            "response.output_text.delta" => {
                let text = &mut output[at]["content"][0]["text"];
                *text = json!(format!(
                    "{}{}",
                    text.as_str().unwrap(),
                    data["delta"].as_str().unwrap()
                ));
            }
            "response.function_call_arguments.delta" => {
                assert_eq!(data["item_id"], output[at]["id"]);
                let args = &mut output[at]["arguments"];
                *args = json!(format!(
                    "{}{}",
                    args.as_str().unwrap(),
                    data["delta"].as_str().unwrap()
                ));
            }
            "response.output_item.done" => {
                assert_eq!(
                    data["item"]["id"], output[at]["id"],
                    "done item keeps its id"
                );
                output[at] = data["item"].clone();
            }
            _ => {}
        }
    }
    output
}

#[test]
fn text_stream_event_sequence() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Hel"}), None),
        chunk(json!({"content": "lo"}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(),
    ]);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    assert_eq!(events[0].1["response"]["output"], json!([]));
    assert_eq!(
        events[4].1,
        json!({"type": "response.output_text.delta", "sequence_number": 4, "item_id": "msg_abc_0",
            "output_index": 0, "content_index": 0, "delta": "Hel", "logprobs": []})
    );
    assert_eq!(events[6].1["text"], "Hello");
    let completed = &events[9].1["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["usage"]["total_tokens"], 11);
    // The same response as the non-streaming call.
    let chat = json!({"choices": [{"message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}});
    assert_eq!(*completed, response_object(&chat, &context()).unwrap());
    assert_eq!(
        accumulate(&events),
        completed["output"].as_array().unwrap().clone()
    );
}

#[test]
fn reasoning_text_and_interleaved_tool_calls() {
    let call = |index: u64, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut c = json!({"index": index, "function": {"arguments": args}});
        if let Some(id) = id {
            c["id"] = json!(id);
            c["type"] = json!("function");
        }
        if let Some(name) = name {
            c["function"]["name"] = json!(name);
        }
        c
    };
    let events = run(&[
        chunk(json!({"reasoning_content": "Think"}), None),
        chunk(json!({"content": "Doing it."}), None),
        chunk(
            json!({"tool_calls": [call(0, Some("call_a"), Some("shell"), "{\"comm")]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [call(1, Some("call_b"), Some("apply_patch"), "{\"input\":")]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [call(0, None, None, "and\":[\"ls\"]}"), call(1, None, None, "\"P\\n\"}")]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [call(2, Some("call_c"), Some("mcp__cal__create_event"), "{}")]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(),
    ]);
    let output = accumulate(&events);
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(events.last().unwrap().0, "response.completed");
    assert_eq!(output, completed["output"].as_array().unwrap().clone());
    assert_eq!(
        completed["output"],
        json!([
            {"type": "reasoning", "id": "rs_abc_0", "summary": [{"type": "summary_text", "text": "Think"}]},
            {"type": "message", "id": "msg_abc_1", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Doing it.", "annotations": [], "logprobs": []}]},
            {"type": "function_call", "id": "fc_abc_2", "call_id": "call_a", "name": "shell",
             "arguments": "{\"command\":[\"ls\"]}", "status": "completed"},
            {"type": "custom_tool_call", "id": "ctc_abc_3", "call_id": "call_b", "name": "apply_patch",
             "input": "P\n", "status": "completed"},
            {"type": "function_call", "id": "fc_abc_4", "call_id": "call_c", "name": "create_event",
             "namespace": "mcp__cal__", "arguments": "{}", "status": "completed"},
        ])
    );
    let find = |name: &str| {
        events
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, d)| d.clone())
            .collect::<Vec<_>>()
    };
    let summary = find("response.reasoning_summary_text.delta");
    assert_eq!(
        summary[0],
        json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 4,
            "item_id": "rs_abc_0", "output_index": 0, "summary_index": 0, "delta": "Think"})
    );
    assert_eq!(find("response.reasoning_summary_part.added").len(), 1);
    let custom = find("response.custom_tool_call_input.done");
    assert_eq!(
        custom,
        [json!({"type": "response.custom_tool_call_input.done",
        "sequence_number": custom[0]["sequence_number"], "item_id": "ctc_abc_3", "output_index": 3, "input": "P\n"})]
    );
    assert_eq!(
        find("response.custom_tool_call_input.delta")[0]["delta"],
        "P\n"
    );
    let done = find("response.function_call_arguments.done");
    assert_eq!(done[0]["arguments"], "{\"command\":[\"ls\"]}");
    assert_eq!(done[0]["name"], "shell");
    assert_eq!(done[1]["name"], "create_event");
    // The added function call is in progress with no arguments yet.
    let added = find("response.output_item.added");
    assert_eq!(
        added[2]["item"],
        json!({"type": "function_call", "id": "fc_abc_2", "call_id": "call_a", "name": "shell",
            "arguments": "", "status": "in_progress"})
    );
}

#[test]
fn a_name_after_the_arguments_still_adds_the_call_in_order() {
    let events = run(&[
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "c1", "function": {"arguments": "{\"a\":"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"name": "shell", "arguments": "1}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ]);
    let output = accumulate(&events);
    assert_eq!(output[0]["arguments"], "{\"a\":1}");
    assert_eq!(output[0]["name"], "shell");
}

#[test]
fn length_ends_with_response_incomplete() {
    let events = run(&[chunk(json!({"content": "Once"}), Some("length"))]);
    let (name, data) = events.last().unwrap();
    assert_eq!(*name, "response.incomplete");
    assert_eq!(data["response"]["status"], "incomplete");
    assert_eq!(
        data["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(data["response"]["usage"]["input_tokens"], 0);
}

#[test]
fn an_error_after_output_began_is_response_failed_and_final() {
    let mut stream = ToResponsesStream::new(context());
    stream.events(&chunk(json!({"content": "Hi"}), None));
    let events = stream.events(
        &json!({"error": {"message": "Rate limit reached. Please try again in 3s.",
        "type": "tokens", "code": "rate_limit_exceeded"}}),
    );
    assert_eq!(names(&events), ["response.failed"]);
    let response = &events[0].1["response"];
    assert_eq!(events[0].1["sequence_number"], 5);
    assert_eq!(response["status"], "failed");
    assert_eq!(
        response["error"],
        json!({"code": "rate_limit_exceeded", "message": "Rate limit reached. Please try again in 3s."})
    );
    assert_eq!(stream.final_response().unwrap()["status"], "failed");
    assert!(stream.finish().is_empty());
    assert!(stream
        .events(&chunk(json!({"content": "more"}), None))
        .is_empty());
}

#[test]
fn empty_stream_and_proxy_failures_still_end_with_a_terminal_event() {
    let mut stream = ToResponsesStream::new(context());
    assert_eq!(
        names(&stream.finish()),
        [
            "response.created",
            "response.in_progress",
            "response.completed"
        ]
    );
    let mut stream = ToResponsesStream::new(context());
    let events = stream.fail(SERVER_ERROR, "the upstream stream failed: timeout");
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    assert_eq!(events[2].1["response"]["error"]["code"], "server_error");
    assert!(stream.fail(SERVER_ERROR, "again").is_empty());
}

#[test]
fn frames_are_event_and_data_lines() {
    assert_eq!(
        sse_frame("response.created", &json!({"a": 1})),
        "event: response.created\ndata: {\"a\":1}\n\n"
    );
}
