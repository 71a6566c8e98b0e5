//! `POST /v1/responses`: OpenAI Responses clients (Codex CLI, the Agents
//! SDK), any provider behind. Text, streams, reasoning and each wire format
//! here (with the helpers the other files share); failures, auth and
//! validation in `responses_errors.rs`, tools in `responses_tools.rs`.

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::Reply;

/// What a `POST /v1/responses` got back.
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub dropped_tools: Option<String>,
    pub content_type: String,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap()
    }
}

/// POSTs `body` with `Authorization: Bearer <key>` (no header for `None`).
pub async fn post_with(app: &TestApp, body: &Value, key: Option<&str>) -> Answer {
    let mut req = app.client.post(app.url("/v1/responses"));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let mut res = req.send_json(body).await.unwrap();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (retry_after, dropped_tools) = (
        header("retry-after"),
        header("x-llm-key-proxy-dropped-tools"),
    );
    let content_type = header("content-type").unwrap_or_default();
    let mut text = String::new();
    while let Some(chunk) = res.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    Answer {
        status: res.status(),
        retry_after,
        dropped_tools,
        content_type,
        text,
    }
}

pub async fn post(app: &TestApp, body: &Value) -> Answer {
    post_with(app, body, Some(PROXY_KEY)).await
}

/// `(event name, data)` of a Responses event stream; each event's name is
/// its `type`, and `sequence_number` counts from 0 without a gap.
pub fn events(text: &str) -> Vec<(String, Value)> {
    assert!(!text.contains("[DONE]"), "no [DONE] in Responses: {text}");
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter(|block| !block.trim().is_empty() && !block.starts_with(':'))
        .map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "));
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            let (name, data) = (name.unwrap(), data.unwrap());
            (name.to_string(), serde_json::from_str(data).unwrap())
        })
        .collect();
    for (n, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], name.as_str(), "{data}");
        assert_eq!(data["sequence_number"], n, "{data}");
    }
    events
}

pub fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

/// The text of a response's `message` items.
pub fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().unwrap().clone())
        .filter_map(|part| part["text"].as_str().map(str::to_string))
        .collect()
}

/// The events of a text answer, from `response.created` to
/// `response.completed`.
const TEXT_EVENTS: [&str; 11] = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
];

#[actix_web::test]
async fn a_string_input_is_answered_with_a_response_object() {
    let app = spawn_app().await;
    let body = json!({"model": "mock/m", "input": "hi", "instructions": "Be brief.",
                      "max_output_tokens": 100, "metadata": {"run": "7"}});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let response = answer.json();
    assert!(response["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(response["object"], "response");
    assert_eq!(response["status"], "completed");
    assert_eq!(response["model"], "mock/m");
    assert_eq!(response["output"].as_array().unwrap().len(), 1);
    assert_eq!(response["output"][0]["type"], "message");
    assert_eq!(response["output"][0]["role"], "assistant");
    assert_eq!(output_text(&response), "hello from mock");
    assert_eq!(
        response["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
               "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": 15})
    );
    assert_eq!(response["metadata"], json!({"run": "7"}));
    assert_eq!(response["store"], true, "kept unless `store: false`");
    assert!(answer.dropped_tools.is_none());

    let sent = app.mock.last_body("/v1/chat/completions").unwrap();
    assert_eq!(sent["model"], "m");
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    );
    assert_eq!(sent["max_tokens"], 100);
    assert!(sent.get("metadata").is_none(), "{sent}");

    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["daily"]["successes"], 1, "{usage}");
    assert_eq!(usage["daily"]["prompt_tokens"], 10);
    assert_eq!(usage["daily"]["completion_tokens"], 5);
    app.stop().await;
}

#[actix_web::test]
async fn a_streamed_response_is_the_responses_event_sequence() {
    let app = spawn_app().await;
    let body = json!({"model": "mock/m", "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.content_type.starts_with("text/event-stream"));
    let events = events(&answer.text);
    assert_eq!(names(&events), TEXT_EVENTS);
    let deltas: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(deltas, "hello from mock");
    let id = events[0].1["response"]["id"].as_str().unwrap();
    assert!(id.starts_with("resp_"));
    let item = &events[9].1["item"];
    assert_eq!(item["type"], "message");
    assert_eq!(item["content"][0]["text"], "hello from mock");
    let done = &events[10].1["response"];
    assert_eq!(done["id"], id);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["model"], "mock/m");
    assert_eq!(done["output"][0], *item);
    assert_eq!(done["usage"]["input_tokens"], 10);
    assert_eq!(done["usage"]["output_tokens"], 3);
    assert_eq!(done["usage"]["total_tokens"], 13);

    // The provider was asked for the usage chunk, and the key's usage
    // counts it once the stream ended.
    let sent = app.mock.last_body("/v1/chat/completions").unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["daily"]["successes"], 1, "{usage}");
    assert_eq!(usage["daily"]["completion_tokens"], 3);
    app.stop().await;
}

#[actix_web::test]
async fn reasoning_and_a_cut_answer_come_back_as_the_response_says() {
    let app = spawn_app().await;
    let chat = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "length", "message": {
            "role": "assistant", "content": "partial", "reasoning_content": "thinking"}}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 9, "total_tokens": 13,
                  "completion_tokens_details": {"reasoning_tokens": 6}}});
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_body(chat)]);
    let body = json!({"model": "mock/m", "input": "think", "reasoning": {"effort": "xhigh"}});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let response = answer.json();
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(response["output"][0]["type"], "reasoning");
    assert_eq!(response["output"][0]["summary"][0]["text"], "thinking");
    assert_eq!(output_text(&response), "partial");
    assert_eq!(
        response["usage"]["output_tokens_details"]["reasoning_tokens"],
        6
    );
    let sent = app.mock.last_body("/v1/chat/completions").unwrap();
    assert_eq!(sent["reasoning_effort"], "high");
    app.stop().await;
}

#[actix_web::test]
async fn a_response_is_counted_in_metrics_and_kept_in_the_request_log() {
    let (app, logs, _logs_tmp) = spawn_logging().await;
    let body = json!({"model": "mock/m", "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    for line in [
        r#"llm_proxy_requests_total{provider="mock",model="m",status="200"} 1"#,
        r#"llm_proxy_request_duration_seconds_count{route="/v1/responses"} 1"#,
        r#"llm_proxy_upstream_attempts_total{provider="mock",class="success"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }

    let metadata = || {
        let dir = std::fs::read_dir(&logs).ok()?.find_map(|e| {
            let path = e.ok()?.path();
            path.join("metadata.json").exists().then_some(path)
        })?;
        let text = std::fs::read_to_string(dir.join("metadata.json")).ok()?;
        let request = std::fs::read_to_string(dir.join("request.json")).ok()?;
        Some((serde_json::from_str::<Value>(&text).ok()?, request))
    };
    eventually("the request log", || metadata().is_some()).await;
    let (metadata, request) = metadata().unwrap();
    assert_eq!(metadata["status"], 200, "{metadata}");
    assert_eq!(metadata["completion_tokens"], 3, "{metadata}");
    assert_eq!(
        serde_json::from_str::<Value>(&request).unwrap()["input"],
        "hi"
    );
    app.stop().await;
}

/// A provider of another wire format behind the route (the mock's
/// default answers in its dialect): its text, JSON and streamed, as a
/// Responses answer, with usage.
async fn served_by(provider: &'static str, text: &str) {
    let app = spawn_with(Options {
        provider,
        ..Options::default()
    })
    .await;
    let model = format!("{provider}/m");
    let answer = post(&app, &json!({"model": model, "input": "hi"})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let response = answer.json();
    assert_eq!(response["model"], model.as_str());
    assert_eq!(output_text(&response), text);
    assert!(
        response["usage"]["input_tokens"].as_u64().unwrap() > 0,
        "{response}"
    );

    let body = json!({"model": model, "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let events = events(&answer.text);
    let names = names(&events);
    assert_eq!(names.first(), Some(&"response.created"), "{names:?}");
    assert_eq!(names.last(), Some(&"response.completed"), "{names:?}");
    let done = &events.last().unwrap().1["response"];
    assert_eq!(output_text(done), text);
    assert!(
        done["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "{done}"
    );

    let mut successes = 0;
    for key in [KEY_1, KEY_2] {
        successes += app.usage_in(provider, key, "m").await["daily"]["successes"]
            .as_u64()
            .unwrap_or(0);
    }
    assert_eq!(successes, 2);
    app.stop().await;
}

#[actix_web::test]
async fn a_gemini_provider_serves_responses() {
    served_by("gemini", "hello from gemini").await;
}

#[actix_web::test]
async fn an_anthropic_provider_serves_responses() {
    served_by("anthropic", "hello from claude").await;
}
