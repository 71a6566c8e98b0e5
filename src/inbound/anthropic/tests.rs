//! Tests of the inbound requests, answers and error bodies (`request.rs`,
//! `response.rs`) against the `in_*` fixtures, and round trips of
//! requests and answers through both directions.

use serde_json::{json, Value};

use super::*;
use crate::providers::anthropic::testing::parse;
use crate::providers::anthropic::{chat_response, messages_request};

#[test]
fn inbound_request_matches_fixture() {
    let out = openai_request_from_messages(&parse(fixture!("in_anthropic_request.json"))).unwrap();
    let expected = parse(fixture!("in_openai_request.expected.json"));
    assert_eq!(
        out,
        expected,
        "{}",
        serde_json::to_string_pretty(&out).unwrap()
    );
}

/// A request Claude Code 2.1.332 sent (texts trimmed) on the second turn
/// of a tool round trip: a `system` entry inside `messages`, adaptive
/// thinking, `context_management`, `output_config`, `cache_control`,
/// `metadata` and a deferred tool.
#[test]
fn claude_code_request_matches_fixture() {
    let request = parse(fixture!("in_claude_code_request.json"));
    let out = openai_request_from_messages(&request).unwrap();
    let expected = parse(fixture!("in_claude_code_openai.expected.json"));
    assert_eq!(
        out,
        expected,
        "{}",
        serde_json::to_string_pretty(&out).unwrap()
    );
    // Native Anthropic and Gemini providers fold the system entry into
    // their one system instruction, after the top-level one.
    let anthropic = messages_request(&out).unwrap();
    let system = anthropic["system"].as_str().unwrap();
    assert!(
        system.starts_with("x-anthropic-billing-header") && system.contains("\n\n# Environment"),
        "{system}"
    );
    let roles: Vec<&str> = anthropic["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    let gemini = crate::providers::gemini::chat_request(&out).unwrap();
    let instruction = gemini["systemInstruction"]["parts"][0]["text"].clone();
    assert!(
        instruction.as_str().unwrap().ends_with("Platform: linux …"),
        "{instruction}"
    );
}

#[test]
fn system_entries_in_messages_keep_their_place() {
    let req = json!({"model":"p/m","messages":[
        {"role":"user","content":"hi"},
        {"role":"system","content":[{"type":"text","text":"one","cache_control":{"type":"ephemeral"}},{"type":"text","text":"two"}]},
        {"role":"assistant","content":"hello"},
        {"role":"system","content":[]},
        {"role":"user","content":"bye"}]});
    let out = openai_request_from_messages(&req).unwrap();
    assert_eq!(
        out["messages"],
        json!([
            {"role":"user","content":"hi"},
            {"role":"system","content":"one\n\ntwo"},
            {"role":"assistant","content":"hello"},
            {"role":"user","content":"bye"}])
    );
}

#[test]
fn fields_of_the_wrong_type_are_refused_with_their_name() {
    let base = json!({"model":"p/m","messages":[{"role":"user","content":"hi"}]});
    let table = [
        ("stream", json!("yes"), "`stream` must be true or false"),
        ("model", json!(42), "`model` must be a string"),
        ("model", Value::Null, "`model` is required"),
        ("messages", json!("hi"), "`messages` must be an array"),
        (
            "max_tokens",
            json!("100"),
            "`max_tokens` must be a positive integer",
        ),
        (
            "max_tokens",
            json!(0),
            "`max_tokens` must be a positive integer",
        ),
        (
            "temperature",
            json!("hot"),
            "`temperature` must be a number",
        ),
        ("top_p", json!([1]), "`top_p` must be a number"),
        (
            "stop_sequences",
            json!("END"),
            "`stop_sequences` must be an array of strings",
        ),
        ("tools", json!({"name":"f"}), "`tools` must be an array"),
        (
            "tool_choice",
            json!("auto"),
            "`tool_choice` must be an object",
        ),
    ];
    for (field, value, message) in table {
        let mut req = base.clone();
        req[field] = value;
        let err = openai_request_from_messages(&req).unwrap_err();
        assert!(err.contains(message), "{field}: {err}");
    }
    // Null is absent; settings no OpenAI provider has are dropped.
    let mut req = base.clone();
    req["stream"] = Value::Null;
    req["thinking"] = json!({"type":"adaptive"});
    req["context_management"] = json!({"edits":[]});
    req["output_config"] = json!({"effort":"high"});
    let out = openai_request_from_messages(&req).unwrap();
    assert_eq!(
        out,
        json!({"model":"p/m","messages":[{"role":"user","content":"hi"}]})
    );
}

#[test]
fn json_schema_output_becomes_response_format() {
    let schema = json!({"type":"object","properties":{"title":{"type":"string"}}});
    let expected = json!({"type":"json_schema","json_schema":{"name":"output","schema":schema}});
    let base = json!({"model":"p/m","messages":[{"role":"user","content":"hi"}]});
    let table = [
        (
            "output_config",
            json!({"effort":"low","format":{"type":"json_schema","schema":schema}}),
            Some(&expected),
        ),
        (
            "output_format",
            json!({"type":"json_schema","schema":schema}),
            Some(&expected),
        ),
        ("output_config", json!({"effort":"high"}), None),
        (
            "output_config",
            json!({"format":{"type":"json_schema"}}),
            None,
        ),
    ];
    for (field, value, expected) in table {
        let mut req = base.clone();
        req[field] = value.clone();
        let out = openai_request_from_messages(&req).unwrap();
        assert_eq!(out.get("response_format"), expected, "{value}");
        assert!(out.get("reasoning_effort").is_none());
    }
}

#[test]
fn inbound_simple_request_and_tool_choice_table() {
    let req = json!({"model":"openai/gpt-4o-mini","max_tokens":256,"system":"Be brief.",
        "messages":[{"role":"user","content":"Hello"},{"role":"assistant","content":[{"type":"thinking","thinking":"hm"}]},
        {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":""},{"type":"text","text":"b"}]}]});
    let out = openai_request_from_messages(&req).unwrap();
    assert_eq!(
        out,
        json!({"model":"openai/gpt-4o-mini","max_tokens":256,"messages":[
            {"role":"system","content":"Be brief."},
            {"role":"user","content":"Hello"},
            {"role":"user","content":"a\n\nb"}]})
    );

    let tools = json!([{"name":"f","input_schema":{"type":"object","properties":{}}},{"type":"custom","name":"g"}]);
    let table = [
        (json!({"type":"auto"}), json!("auto"), None),
        (json!({"type":"any"}), json!("required"), None),
        (json!({"type":"none"}), json!("none"), None),
        (
            json!({"type":"tool","name":"g","disable_parallel_tool_use":true}),
            json!({"type":"function","function":{"name":"g"}}),
            Some(false),
        ),
    ];
    for (choice, expected, parallel) in table {
        let req = json!({"model":"m","messages":[],"tools":tools,"tool_choice":choice});
        let out = openai_request_from_messages(&req).unwrap();
        assert_eq!(out["tool_choice"], expected);
        assert_eq!(
            out.get("parallel_tool_calls").and_then(Value::as_bool),
            parallel
        );
        assert_eq!(
            out["tools"][1]["function"]["parameters"],
            json!({"type":"object","properties":{}})
        );
    }
}

#[test]
fn inbound_bad_requests_are_errors() {
    let table = [
        json!("x"),
        json!({"messages":[]}),
        json!({"model":"m"}),
        json!({"model":"m","system":5,"messages":[]}),
        json!({"model":"m","messages":[{"role":"tool","content":"x"}]}),
        json!({"model":"m","messages":[{"role":"system","content":5}]}),
        json!({"model":"m","messages":[{"role":"user","content":5}]}),
        json!({"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}),
        json!({"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}),
        json!({"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}),
        json!({"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]}),
        json!({"model":"m","messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}),
        json!({"model":"m","messages":[],"tools":[{"name":"f"}],"tool_choice":{"type":"tool"}}),
    ];
    for req in table {
        assert!(openai_request_from_messages(&req).is_err(), "{req}");
    }
}

#[test]
fn openai_response_becomes_anthropic_message() {
    let out = messages_response(&parse(fixture!("in_openai_response.json"))).unwrap();
    assert_eq!(out, parse(fixture!("in_anthropic_response.expected.json")));
}

#[test]
fn response_stop_reasons_and_edge_cases() {
    // (finish_reason, has tool call, stop_reason)
    let table = [
        (json!("stop"), false, "end_turn"),
        (json!("length"), false, "max_tokens"),
        (json!("tool_calls"), true, "tool_use"),
        (json!("stop"), true, "tool_use"),
        (json!("content_filter"), false, "refusal"),
        (Value::Null, false, "end_turn"),
    ];
    for (finish, tool, stop) in table {
        let mut message = json!({"role":"assistant","content":""});
        if tool {
            message["tool_calls"] =
                json!([{"id":"c1","type":"function","function":{"name":"f","arguments":""}}]);
        }
        let answer = json!({"id":"chatcmpl-1","model":"m","choices":[{"index":0,"message":message,"finish_reason":finish}],
            "usage":{"prompt_tokens":9,"completion_tokens":0}});
        let out = messages_response(&answer).unwrap();
        assert_eq!(out["stop_reason"], stop, "{finish}");
        assert_eq!(out["id"], "msg_1");
        let expected_content = if tool {
            json!([{"type":"tool_use","id":"c1","name":"f","input":{}}])
        } else {
            json!([])
        };
        assert_eq!(out["content"], expected_content);
        assert_eq!(out["usage"]["input_tokens"], 9);
    }
    let error = json!({"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}});
    assert_eq!(messages_response(&error).unwrap_err(), "Rate limit reached");
    assert!(messages_response(&json!({"choices":[]})).is_err());
    let bad_args = json!({"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]}}]});
    assert!(messages_response(&bad_args).is_err());
}

#[test]
fn error_bodies() {
    let table = [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "overloaded_error"),
        (529, "overloaded_error"),
    ];
    for (status, kind) in table {
        assert_eq!(
            error_body(status, "no key left"),
            json!({"type":"error","error":{"type":kind,"message":"no key left"}}),
            "{status}"
        );
    }
}

#[test]
fn responses_round_trip() {
    let anthropic = parse(fixture!("out_anthropic_response.json"));
    let back = messages_response(&chat_response(&anthropic, 0).unwrap()).unwrap();
    assert_eq!(back["stop_reason"], "tool_use");
    assert_eq!(back["content"][2], anthropic["content"][3]);
    assert_eq!(back["usage"]["output_tokens"], 187);
    assert_eq!(back["usage"]["cache_read_input_tokens"], 1536);

    let openai = parse(fixture!("in_anthropic_request.json"));
    let request = openai_request_from_messages(&openai).unwrap();
    let again = messages_request(&request).unwrap();
    assert_eq!(again["messages"].as_array().unwrap().len(), 5);
    assert_eq!(
        again["tool_choice"],
        json!({"type":"auto","disable_parallel_tool_use":true})
    );
}

#[test]
fn inbound_images_and_tool_result_contents() {
    let req = json!({"model":"m","messages":[{"role":"user","content":[
        {"type":"tool_result","tool_use_id":"a"},
        {"type":"tool_result","tool_use_id":"b","content":[{"type":"text","text":"one"},
            {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},{"type":"text","text":"two"}]},
        {"type":"image","source":{"type":"url","url":"https://example.com/chart.png"}},
    ]}]});
    let out = openai_request_from_messages(&req).unwrap();
    assert_eq!(
        out["messages"],
        json!([
            {"role":"tool","tool_call_id":"a","content":""},
            {"role":"tool","tool_call_id":"b","content":"one\n\ntwo"},
            {"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/chart.png"}}]},
        ])
    );
    assert!(out.get("stream").is_none() && out.get("stream_options").is_none());
}
