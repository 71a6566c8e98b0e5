//! Stored responses: every response is kept unless `store: false`, so
//! `previous_response_id` continues a conversation, and `GET`/`DELETE
//! /v1/responses/{id}` and `…/input_items` read it — JSON and streamed
//! answers, tool calls, restarts, and the 404s.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::responses::{events, output_text, post};
use mock_upstream::Reply;

async fn delete(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let mut res = app
        .client
        .delete(app.url(path))
        .bearer_auth(PROXY_KEY)
        .send()
        .await
        .unwrap();
    let body = res.body().await.unwrap();
    (res.status(), serde_json::from_slice(&body).unwrap())
}

/// The `messages` of the last chat request, which carried `needle`.
fn messages_sent_with(app: &TestApp, needle: &str) -> Value {
    let body = app.mock.last_body("/v1/chat/completions").unwrap();
    assert!(body.to_string().contains(needle), "{needle}: {body}");
    body["messages"].clone()
}

#[actix_web::test]
async fn a_response_is_kept_fetched_listed_and_deleted() {
    let app = spawn_app().await;
    let body = json!({"model": "mock/m", "input": "first question", "metadata": {"k": "v"}});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let response = answer.json();
    assert_eq!(response["store"], true);
    let id = response["id"].as_str().unwrap();

    let (status, fetched) = app.get_json(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{fetched}");
    assert_eq!(fetched, response, "GET returns the response as it was sent");

    let (status, items) = app
        .get_json(&format!("/v1/responses/{id}/input_items"))
        .await;
    assert_eq!(status, StatusCode::OK, "{items}");
    assert_eq!(items["object"], "list");
    assert_eq!(items["has_more"], false);
    let data = items["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{items}");
    assert_eq!(data[0]["role"], "user");
    assert_eq!(data[0]["content"][0]["text"], "first question");
    assert_eq!(items["first_id"], data[0]["id"]);
    assert!(data[0]["id"].as_str().unwrap().starts_with("in_"));

    let (status, deleted) = delete(&app, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response", "deleted": true})
    );
    for path in [
        format!("/v1/responses/{id}"),
        format!("/v1/responses/{id}/input_items"),
    ] {
        let (status, error) = app.get_json(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {error}");
        assert_eq!(error["error"]["code"], "not_found");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(id), "{message}");
    }
    let (status, _) = delete(&app, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted twice");
    assert_eq!(app.mock.total_calls(), 1, "reads never call the provider");
    app.stop().await;
}

#[actix_web::test]
async fn previous_response_id_puts_the_conversation_before_the_new_input() {
    let app = spawn_app().await;
    let first = json!({"model": "mock/m", "input": "my name is Ada",
                       "instructions": "Answer in French."});
    let first = post(&app, &first).await.json();
    let first_id = first["id"].as_str().unwrap();

    let second = json!({"model": "mock/m", "input": "what is my name?",
                        "previous_response_id": first_id});
    let answer = post(&app, &second).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let second = answer.json();
    assert_eq!(second["previous_response_id"], first_id);
    assert_eq!(
        messages_sent_with(&app, "what is my name?"),
        json!([
            {"role": "user", "content": "my name is Ada"},
            {"role": "assistant", "content": "hello from mock"},
            {"role": "user", "content": "what is my name?"},
        ]),
        "earlier input and output come first; earlier instructions are not carried over"
    );

    // A third turn follows the whole chain.
    let third = json!({"model": "mock/m", "input": "and again?",
                       "previous_response_id": second["id"]});
    assert_eq!(post(&app, &third).await.status, StatusCode::OK);
    let sent = messages_sent_with(&app, "and again?");
    assert_eq!(sent.as_array().unwrap().len(), 5, "{sent}");

    // The second response lists only its own input.
    let path = format!(
        "/v1/responses/{}/input_items",
        second["id"].as_str().unwrap()
    );
    let (_, items) = app.get_json(&path).await;
    assert_eq!(items["data"].as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items["data"][0]["content"][0]["text"], "what is my name?");
    app.stop().await;
}

#[actix_web::test]
async fn a_streamed_response_is_kept_at_its_completed_event() {
    let app = spawn_app().await;
    let body = json!({"model": "mock/m", "input": "stream it", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let events = events(&answer.text);
    let (name, completed) = events.last().unwrap();
    assert_eq!(name, "response.completed");
    let response = &completed["response"];
    assert_eq!(response["store"], true);
    let id = response["id"].as_str().unwrap();

    let (status, fetched) = app.get_json(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{fetched}");
    assert_eq!(&fetched, response);
    assert_eq!(output_text(&fetched), "hello from mock");

    let next = json!({"model": "mock/m", "input": "go on", "previous_response_id": id});
    assert_eq!(post(&app, &next).await.status, StatusCode::OK);
    let sent = messages_sent_with(&app, "go on");
    assert_eq!(
        sent[1],
        json!({"role": "assistant", "content": "hello from mock"})
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_function_call_round_trip_needs_only_the_output_and_the_id() {
    let app = spawn_app().await;
    app.mock.reply_when("sunny-7", Reply::ok());
    app.mock.reply_when(
        "weather?",
        Reply::ok().with_body(json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_9", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}
        })),
    );
    let tools = json!([{"type": "function", "name": "get_weather",
                        "parameters": {"type": "object", "properties": {}}}]);
    let first = json!({"model": "mock/m", "input": "weather?", "tools": tools});
    let first = post(&app, &first).await.json();
    assert_eq!(first["output"][0]["type"], "function_call", "{first}");

    // What the Agents SDK sends: the id, and the call's output alone.
    let output = json!([{"type": "function_call_output", "call_id": "call_9",
                         "output": "sunny-7"}]);
    let second = json!({"model": "mock/m", "input": output, "tools": tools,
                        "previous_response_id": first["id"]});
    let answer = post(&app, &second).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let sent = messages_sent_with(&app, "sunny-7");
    assert_eq!(sent[0], json!({"role": "user", "content": "weather?"}));
    assert_eq!(sent[1]["tool_calls"][0]["id"], "call_9", "{sent}");
    assert_eq!(
        sent[2],
        json!({"role": "tool", "tool_call_id": "call_9", "content": "sunny-7"})
    );
    app.stop().await;
}

#[actix_web::test]
async fn store_false_keeps_nothing_and_unknown_ids_are_refused() {
    let app = spawn_app().await;
    let body = json!({"model": "mock/m", "input": "secret", "store": false});
    let response = post(&app, &body).await.json();
    assert_eq!(response["store"], false);
    let id = response["id"].as_str().unwrap();
    let (status, _) = app.get_json(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Continuing from it, or from any unknown id, is OpenAI's 400 with the
    // code clients recover on; nothing goes upstream.
    let calls = app.mock.total_calls();
    for previous in [id, "resp_never", "not-an-id"] {
        let body = json!({"model": "mock/m", "input": "more",
                          "previous_response_id": previous});
        let answer = post(&app, &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        let error = answer.json()["error"].clone();
        assert_eq!(error["code"], "previous_response_not_found", "{error}");
        assert_eq!(error["param"], "previous_response_id");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(previous), "{message}");
        assert!(message.contains("send the whole conversation"), "{message}");
    }
    let body = json!({"model": "mock/m", "input": "x", "previous_response_id": 7});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(app.mock.total_calls(), calls);
    app.stop().await;
}

#[actix_web::test]
async fn input_items_are_paged_in_either_order() {
    let app = spawn_app().await;
    let input: Vec<Value> = (0..5)
        .map(|i| json!({"role": "user", "content": format!("part {i}")}))
        .collect();
    let response = post(&app, &json!({"model": "mock/m", "input": input}))
        .await
        .json();
    let path = format!(
        "/v1/responses/{}/input_items",
        response["id"].as_str().unwrap()
    );
    let text = |items: &Value| -> Vec<String> {
        items["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["content"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, newest) = app.get_json(&format!("{path}?limit=2")).await;
    assert_eq!(text(&newest), ["part 4", "part 3"], "{newest}");
    assert_eq!(newest["has_more"], true);
    let after = newest["last_id"].as_str().unwrap();
    let (_, next) = app.get_json(&format!("{path}?limit=2&after={after}")).await;
    assert_eq!(text(&next), ["part 2", "part 1"], "{next}");
    let (_, oldest) = app.get_json(&format!("{path}?order=asc&limit=100")).await;
    assert_eq!(text(&oldest).len(), 5);
    assert_eq!(text(&oldest)[0], "part 0");
    assert_eq!(oldest["has_more"], false);

    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("order=up", "order"),
        ("after=in_nope", "after"),
    ] {
        let (status, error) = app.get_json(&format!("{path}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    let (status, error) = app.get_json(&format!("{path}?limit=many")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    app.stop().await;
}

#[actix_web::test]
async fn stored_responses_survive_a_restart() {
    let mut app = spawn_app().await;
    let response = post(&app, &json!({"model": "mock/m", "input": "remember me"}))
        .await
        .json();
    let id = response["id"].as_str().unwrap().to_string();
    app.restart().await;
    let (status, fetched) = app.get_json(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{fetched}");
    assert_eq!(fetched, response);
    let next = json!({"model": "mock/m", "input": "still there?", "previous_response_id": id});
    assert_eq!(post(&app, &next).await.status, StatusCode::OK);
    app.stop().await;
}

#[actix_web::test]
async fn reads_need_the_proxy_key() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/v1/responses/resp_abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .delete(app.url("/v1/responses/resp_abc"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .put(app.url("/v1/responses/resp_abc"))
        .bearer_auth(PROXY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.stop().await;
}

#[actix_web::test]
async fn a_conversation_kept_here_continues_on_a_native_provider() {
    // `mock` is translated; `nat`, at the same mock, serves Responses
    // natively and cannot know this proxy's response ids.
    let mut app = spawn_app().await;
    app.set_env("NAT_API_BASE", Some(&app.mock.base_url.clone()));
    app.set_env("NAT_API_KEY_1", Some("nat-key-0001"));
    app.set_env("NAT_RESPONSES", Some("native"));
    app.restart().await;
    let first = post(&app, &json!({"model": "mock/m", "input": "hello there"}))
        .await
        .json();
    let body = json!({"model": "nat/n", "input": "and now?", "store": false,
                      "previous_response_id": first["id"]});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let sent = app.mock.last_body("/v1/responses").unwrap();
    assert!(sent.get("previous_response_id").is_none(), "{sent}");
    assert_eq!(sent["store"], false);
    let input = sent["input"].as_array().unwrap();
    assert_eq!(input.len(), 3, "{sent}");
    assert_eq!(input[0]["content"][0]["text"], "hello there");
    assert_eq!(input[1]["role"], "assistant");
    assert_eq!(input[2]["content"][0]["text"], "and now?");

    // An id this proxy never kept is the provider's own: passed through.
    let body = json!({"model": "nat/n", "input": "x", "previous_response_id": "resp_theirs"});
    assert_eq!(post(&app, &body).await.status, StatusCode::OK);
    let sent = app.mock.last_body("/v1/responses").unwrap();
    assert_eq!(sent["previous_response_id"], "resp_theirs");
    app.stop().await;
}

#[actix_web::test]
async fn stored_responses_are_bounded_in_size_and_oldest_go_first() {
    let app = spawn_with(Options {
        extra_env: vec![
            ("RESPONSES_MAX_RESPONSE_BYTES".into(), "6000".into()),
            ("RESPONSES_MAX_STORED_BYTES".into(), "12000".into()),
        ],
        ..Options::default()
    })
    .await;
    let stored =
        |i: usize| json!({"model": "mock/m", "input": format!("{i} {}", "x".repeat(2500))});
    let mut ids = Vec::new();
    for i in 0..8 {
        let response = post(&app, &stored(i)).await.json();
        ids.push(response["id"].as_str().unwrap().to_string());
    }
    let mut kept = Vec::new();
    for id in &ids {
        let (status, _) = app.get_json(&format!("/v1/responses/{id}")).await;
        kept.push(status == StatusCode::OK);
    }
    let first_kept = kept.iter().position(|k| *k).unwrap();
    assert!(first_kept > 0, "the oldest were evicted: {kept:?}");
    assert!(
        kept[first_kept..].iter().all(|k| *k),
        "only the oldest: {kept:?}"
    );

    // Larger than one response may be: answered, not stored.
    let big = json!({"model": "mock/m", "input": "y".repeat(7000)});
    let answer = post(&app, &big).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let (status, _) = app.get_json(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get_json(&format!("/v1/responses/{}", ids[7])).await;
    assert_eq!(status, StatusCode::OK, "the refused one evicted nothing");
    app.stop().await;
}
