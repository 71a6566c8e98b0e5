//! Tests of the outbound requests and answers (`request_out.rs`,
//! `response_out.rs`) against the `out_*` fixtures.

use serde_json::{json, Value};

use super::testing::parse;
use super::*;

#[test]
fn request_with_system_tools_images_and_tool_results() {
    let out = messages_request(&parse(fixture!("out_openai_request.json"))).unwrap();
    let expected = parse(fixture!("out_anthropic_request.expected.json"));
    assert_eq!(
        out,
        expected,
        "{}",
        serde_json::to_string_pretty(&out).unwrap()
    );
}

#[test]
fn turns_merge_and_tool_results_come_first() {
    let req = json!({"model":"m","messages":[
        {"role":"user","content":"a"},
        {"role":"user","content":[{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]},
        {"role":"assistant","content":"","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":""}}]},
        {"role":"assistant","content":""},
        {"role":"user","content":"note first"},
        {"role":"tool","tool_call_id":"t1","content":"42"},
    ]});
    let out = messages_request(&req).unwrap();
    assert_eq!(
        out["messages"],
        json!([
            {"role":"user","content":[{"type":"text","text":"a"},
                {"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]},
            {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"42"},
                {"type":"text","text":"note first"}]},
        ])
    );
    assert!(out.get("system").is_none());
    assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
    assert!(out.get("stream").is_none());
}

#[test]
fn reasoning_effort_becomes_thinking() {
    // (effort, max_tokens asked, budget, max_tokens sent)
    let table: &[(&str, Option<u64>, Option<u64>, u64)] = &[
        ("low", None, Some(1024), 4096),
        ("medium", Some(8000), Some(4096), 8000),
        ("medium", Some(4096), Some(4096), 8192),
        ("high", None, Some(16384), 20480),
        ("high", Some(500), Some(16384), 16884),
        ("minimal", Some(100), None, 100),
        ("none", None, None, 4096),
    ];
    for &(effort, asked, budget, sent) in table {
        let mut req = json!({"model":"m","messages":[{"role":"user","content":"hi"}],
            "reasoning_effort":effort,"temperature":0.2,"top_p":0.5,"stream":true});
        if let Some(asked) = asked {
            req["max_tokens"] = asked.into();
        }
        let out = messages_request(&req).unwrap();
        assert_eq!(out["max_tokens"], sent, "{effort} {asked:?}");
        assert_eq!(out["stream"], true);
        match budget {
            Some(budget) => {
                assert_eq!(
                    out["thinking"],
                    json!({"type":"enabled","budget_tokens":budget})
                );
                assert!(out.get("temperature").is_none() && out.get("top_p").is_none());
            }
            None => {
                assert!(out.get("thinking").is_none(), "{effort}");
                assert_eq!(out["temperature"], 0.2);
            }
        }
    }
}

#[test]
fn tool_choice_and_sampling_table() {
    let tools = json!([{"type":"function","function":{"name":"f"}}]);
    let table = [
        (json!("auto"), None, json!({"type":"auto"})),
        (json!("none"), Some(false), json!({"type":"none"})),
        (json!("required"), None, json!({"type":"any"})),
        (
            json!("required"),
            Some(false),
            json!({"type":"any","disable_parallel_tool_use":true}),
        ),
        (
            json!({"type":"function","function":{"name":"f"}}),
            None,
            json!({"type":"tool","name":"f"}),
        ),
        (
            Value::Null,
            Some(false),
            json!({"type":"auto","disable_parallel_tool_use":true}),
        ),
    ];
    for (choice, parallel, expected) in table {
        let mut req = json!({"model":"m","messages":[],"tools":tools,"tool_choice":choice});
        if let Some(parallel) = parallel {
            req["parallel_tool_calls"] = parallel.into();
        }
        let out = messages_request(&req).unwrap();
        assert_eq!(out["tool_choice"], expected, "{choice}");
        assert_eq!(
            out["tools"][0]["input_schema"],
            json!({"type":"object","properties":{}})
        );
    }
    // No tools: no tool_choice either.
    let out = messages_request(&json!({"model":"m","messages":[],"tools":[],"tool_choice":"none"}))
        .unwrap();
    assert!(out.get("tools").is_none() && out.get("tool_choice").is_none());

    // (temperature, top_p, stop) → (temperature, top_p, stop_sequences)
    let table = [
        (
            json!(1.7),
            Value::Null,
            json!("END"),
            json!(1.0),
            Value::Null,
            json!(["END"]),
        ),
        (
            json!(1),
            Value::Null,
            Value::Null,
            json!(1),
            Value::Null,
            Value::Null,
        ),
        (
            Value::Null,
            json!(0.8),
            json!([]),
            Value::Null,
            json!(0.8),
            Value::Null,
        ),
    ];
    for (t, p, stop, et, ep, es) in table {
        let req = json!({"model":"m","messages":[],"temperature":t,"top_p":p,"stop":stop,"max_tokens":10});
        let out = messages_request(&req).unwrap();
        let get = |k: &str| out.get(k).cloned().unwrap_or(Value::Null);
        assert_eq!(
            (get("temperature"), get("top_p"), get("stop_sequences")),
            (et, ep, es)
        );
        assert_eq!(out["max_tokens"], 10);
    }
}

#[test]
fn bad_requests_are_errors() {
    let table = [
        json!([1]),
        json!({"messages":[]}),
        json!({"model":"m"}),
        json!({"model":"m","messages":[],"n":2}),
        json!({"model":"m","messages":[{"role":"function","content":"x"}]}),
        json!({"model":"m","messages":[{"content":"x"}]}),
        json!({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio"}]}]}),
        json!({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}),
        json!({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}),
        json!({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"t","function":{"name":"f","arguments":"{oops"}}]}]}),
        json!({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"t","function":{"name":"f","arguments":"[1]"}}]}]}),
        json!({"model":"m","messages":[{"role":"tool","content":"x"}]}),
        json!({"model":"m","messages":[],"reasoning_effort":"extreme"}),
        json!({"model":"m","messages":[],"tools":[{"type":"web_search"}]}),
        json!({"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}),
    ];
    for req in table {
        let err = messages_request(&req).unwrap_err();
        assert!(!err.is_empty(), "{req}");
    }
}

#[test]
fn response_with_text_tool_use_and_thinking() {
    let out = chat_response(
        &parse(fixture!("out_anthropic_response.json")),
        1_760_450_000,
    )
    .unwrap();
    assert_eq!(out["id"], "msg_01Aq9w938a90dw8q");
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(out["created"], 1_760_450_000);
    assert_eq!(out["model"], "claude-sonnet-4-5-20250929");
    let choice = &out["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let message = &choice["message"];
    assert_eq!(message["role"], "assistant");
    assert_eq!(
        message["content"],
        "Yes — it's 14°C with light rain in Paris right now. Let me check the evening forecast too."
    );
    assert!(message["reasoning_content"]
        .as_str()
        .unwrap()
        .starts_with("The user asks about an umbrella."));
    let call = &message["tool_calls"][0];
    assert_eq!(call["id"], "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_forecast");
    let args: Value = parse(call["function"]["arguments"].as_str().unwrap());
    assert_eq!(args, json!({"location":"Paris, FR","hours":6}));
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens":2044,"completion_tokens":187,"total_tokens":2231,
               "prompt_tokens_details":{"cached_tokens":1536}})
    );
}

#[test]
fn response_stop_reasons_and_edge_cases() {
    let table = [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ];
    for (stop, finish) in table {
        let answer = json!({"id":"msg_1","model":"c","content":[{"type":"text","text":"x"}],"stop_reason":stop,
            "usage":{"input_tokens":3,"output_tokens":1}});
        let out = chat_response(&answer, 0).unwrap();
        assert_eq!(out["choices"][0]["finish_reason"], finish, "{stop}");
        assert_eq!(out["usage"]["prompt_tokens"], 3);
        assert!(out["choices"][0]["message"].get("tool_calls").is_none());
    }
    let only_tool = json!({"content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"tool_use"});
    let out = chat_response(&only_tool, 0).unwrap();
    assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(
        out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{}"
    );
    let empty = chat_response(&json!({"content":[],"stop_reason":null}), 0).unwrap();
    assert_eq!(empty["choices"][0]["message"]["content"], "");
    assert_eq!(empty["choices"][0]["finish_reason"], Value::Null);

    let error = json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}});
    assert_eq!(chat_response(&error, 0).unwrap_err(), "Overloaded");
    assert!(chat_response(&json!({"type":"message"}), 0).is_err());
}

#[test]
fn models_and_token_counting() {
    let models = json!({"data":[{"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5",
        "created_at":"2025-09-29T00:00:00Z"},{"type":"model","id":"claude-3-5-haiku-20241022"}],
        "has_more":false,"first_id":"claude-sonnet-4-5-20250929","last_id":"claude-3-5-haiku-20241022"});
    assert_eq!(
        model_ids(&models),
        vec!["claude-sonnet-4-5-20250929", "claude-3-5-haiku-20241022"]
    );
    assert!(model_ids(&json!({})).is_empty());

    let req = json!({"model":"claude-sonnet-4-5","messages":[{"role":"system","content":"Be brief."},
        {"role":"user","content":"Hello, Claude"}],"max_tokens":5,"stream":true});
    assert_eq!(
        count_tokens_request(&req).unwrap(),
        json!({"model":"claude-sonnet-4-5","system":"Be brief.",
               "messages":[{"role":"user","content":[{"type":"text","text":"Hello, Claude"}]}]})
    );
    assert!(count_tokens_request(&json!({})).is_err());
    assert_eq!(count_tokens_response(&json!({"input_tokens":14})), Some(14));
    assert_eq!(count_tokens_response(&json!({})), None);
}

#[test]
fn content_parts_table() {
    let pdf = "data:application/pdf;base64,JVBERi0xLjQKJcfsj6IKNSAwIG9iago=";
    // (OpenAI part, Anthropic block or null when dropped)
    let table = [
        (
            json!({"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}),
            json!({"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}),
        ),
        (json!({"type":"text","text":""}), Value::Null),
        (
            json!({"type":"refusal","refusal":"I can't help with that."}),
            json!({"type":"text","text":"I can't help with that."}),
        ),
        (
            json!({"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}),
            json!({"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}),
        ),
        (
            json!({"type":"image_url","image_url":"http://example.com/cat.gif"}),
            json!({"type":"image","source":{"type":"url","url":"http://example.com/cat.gif"}}),
        ),
        (
            json!({"type":"file","file":{"filename":"spec.pdf","file_data":pdf}}),
            json!({"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjQKJcfsj6IKNSAwIG9iago="}}),
        ),
    ];
    for (part, block) in table {
        let req = json!({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}, part]}]});
        let out = messages_request(&req).unwrap();
        let content = out["messages"][0]["content"].as_array().unwrap();
        match block {
            Value::Null => assert_eq!(content.len(), 1, "{part}"),
            block => assert_eq!(content[1], block, "{part}"),
        }
    }
    // A tool result with parts, and a thinking object passed through.
    let req = json!({"model":"m","thinking":{"type":"enabled","budget_tokens":2000},"max_tokens":1000,
        "messages":[{"role":"tool","tool_call_id":"t","content":[{"type":"text","text":"ok"}]}]});
    let out = messages_request(&req).unwrap();
    assert_eq!(
        out["messages"][0]["content"][0],
        json!({"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"ok"}]})
    );
    assert_eq!(out["thinking"]["budget_tokens"], 2000);
    assert_eq!(out["max_tokens"], 3000);
}
