//! Tool translation: function, custom, namespace and built-in tools, the
//! chat names of namespaced tools, and calls to them in the input.

use serde_json::{json, Value};

use super::*;

fn chat(body: Value) -> Value {
    Value::Object(chat_request(&body, &[]).unwrap().chat)
}

#[test]
fn tools_function_custom_namespace_and_builtins() {
    let request = chat_request(
        &json!({"model": "p/m", "input": "hi", "tool_choice": "auto", "parallel_tool_calls": false,
            "tools": [
                {"type": "function", "name": "shell", "description": "Runs a command", "strict": false,
                 "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}},
                {"type": "custom", "name": "apply_patch", "description": "Edit files",
                 "format": {"type": "grammar", "syntax": "lark", "definition": "start: \"*** Begin Patch\""}},
                {"type": "namespace", "name": "mcp__calendar__", "description": "Calendar",
                 "tools": [{"type": "function", "name": "create_event", "parameters": {"type": "object"}}]},
                {"type": "namespace", "name": "crm", "description": "CRM",
                 "tools": [{"type": "custom", "name": "note", "description": "Free text"}]},
                {"type": "web_search", "external_web_access": false},
                {"type": "file_search", "vector_store_ids": ["vs_1"]},
                {"type": "web_search"},
            ]}),
        &[],
    )
    .unwrap();
    let custom_parameters = json!({"type": "object",
        "properties": {"input": {"type": "string", "description": "The tool's raw input."}},
        "required": ["input"], "additionalProperties": false});
    assert_eq!(
        Value::Object(request.chat.clone())["tools"],
        json!([
            {"type": "function", "function": {"name": "shell", "description": "Runs a command",
             "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}, "strict": false}},
            {"type": "function", "function": {"name": "apply_patch",
             "description": "Edit files\n\nCall this tool with one argument, `input`: the tool's raw input text (not JSON). The input must match this lark grammar:\nstart: \"*** Begin Patch\"",
             "parameters": custom_parameters}},
            {"type": "function", "function": {"name": "mcp__calendar__create_event", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "crm__note",
             "description": "Free text\n\nCall this tool with one argument, `input`: the tool's raw input text (not JSON).",
             "parameters": custom_parameters}},
        ])
    );
    assert_eq!(request.chat["tool_choice"], "auto");
    assert_eq!(request.chat["parallel_tool_calls"], false);
    assert_eq!(request.tools.dropped(), ["web_search", "file_search"]);
    assert_eq!(
        request.tools.dropped_header().as_deref(),
        Some("web_search, file_search")
    );
    let tool = request.tools.lookup("mcp__calendar__create_event").unwrap();
    assert_eq!(
        (tool.kind, tool.name.as_str()),
        (ToolKind::Function, "create_event")
    );
    assert_eq!(tool.namespace.as_deref(), Some("mcp__calendar__"));
    assert_eq!(
        request.tools.lookup("crm__note").unwrap().kind,
        ToolKind::Custom
    );
    assert_eq!(
        request.tools.lookup("apply_patch").unwrap().kind,
        ToolKind::Custom
    );
}

#[test]
fn only_builtin_tools_send_no_tools_or_choice() {
    let got = chat(
        json!({"model": "p/m", "input": "hi", "tool_choice": "required",
        "parallel_tool_calls": true, "tools": [{"type": "web_search"}]}),
    );
    assert_eq!(got.get("tools"), None);
    assert_eq!(got.get("tool_choice"), None);
    assert_eq!(got.get("parallel_tool_calls"), None);
}

#[test]
fn custom_and_namespaced_calls_in_history_use_the_chat_names() {
    let got = chat(json!({"model": "p/m",
    "tools": [
        {"type": "custom", "name": "apply_patch"},
        {"type": "namespace", "name": "extension/", "tools": [{"type": "function", "name": "echo"}]},
    ],
    "tool_choice": {"type": "function", "name": "echo", "namespace": "extension/"},
    "input": [
        {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch\n"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done"},
        {"type": "function_call", "call_id": "c2", "name": "echo", "namespace": "extension/", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c2", "output": "ok"},
    ]}));
    assert_eq!(
        got["tool_choice"],
        json!({"type": "function", "function": {"name": "extension_echo"}})
    );
    assert_eq!(
        got["messages"],
        json!([
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
             "function": {"name": "apply_patch", "arguments": "{\"input\":\"*** Begin Patch\\n\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "Done"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c2", "type": "function",
             "function": {"name": "extension_echo", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c2", "content": "ok"},
        ])
    );
}

#[test]
fn long_and_odd_namespaced_names_fit_chat_rules() {
    assert_eq!(flat_name("mcp__srv__", "query"), "mcp__srv__query");
    assert_eq!(flat_name("my.tools", "do it"), "my_tools__do_it");
    let long = flat_name(&"n".repeat(60), "tool");
    assert_eq!(long.len(), 64);
    assert_ne!(long, flat_name(&"n".repeat(60), "tool2"));
    let request = chat_request(
        &json!({"model": "p/m", "input": "x", "tools": [
            {"type": "function", "name": "a__b"},
            {"type": "namespace", "name": "a", "tools": [{"type": "function", "name": "b"}]},
        ]}),
        &[],
    )
    .unwrap();
    let tool = request.tools.lookup("a__b_2").unwrap();
    assert_eq!(tool.namespace.as_deref(), Some("a"));
    assert_eq!(request.tools.chat_name("b", Some("a")), "a__b_2");
}
