//! `POST /v1/responses` when something is wrong: a rate-limited key
//! rotates, every key resting is a 429, a stream cut after output began
//! ends with `response.failed`, and the client's mistakes and a wrong
//! proxy key are refused in OpenAI's envelope before any provider call.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::responses::{events, names, post, post_with};
use mock_upstream::{Reply, StreamScript};

#[actix_web::test]
async fn a_rate_limited_key_rotates_and_every_key_resting_is_a_429() {
    let app = spawn_app().await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::status(429).with_header("Retry-After", "30")],
    );
    for stream in [false, true] {
        let body = json!({"model": "mock/m", "input": "hi", "stream": stream});
        let answer = post(&app, &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    assert_eq!(app.mock.calls(KEY_1, "m"), 1, "key 1 rests after its 429");
    assert_eq!(app.mock.calls(KEY_2, "m"), 2);
    assert_eq!(
        app.usage_of(KEY_1, "m").await["last_failure"],
        "rate_limited"
    );

    for key in [KEY_1, KEY_2] {
        app.mock.script(
            key,
            "busy",
            vec![Reply::status(429).with_header("Retry-After", "600")],
        );
    }
    let body = json!({"model": "mock/busy", "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert!(answer.retry_after.is_some());
    let error = answer.json();
    assert_eq!(error["error"]["code"], "rate_limit_exceeded", "{error}");
    assert_eq!(error["error"]["type"], "rate_limit_error");
    app.stop().await;
}

#[actix_web::test]
async fn a_stream_cut_after_output_began_ends_with_response_failed() {
    let app = spawn_app().await;
    let cut = StreamScript::chat("m", &["one", " two", " three"], false).cut_after(2);
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(cut)]);
    let body = json!({"model": "mock/m", "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let events = events(&answer.text);
    let names = names(&events);
    assert_eq!(names.last(), Some(&"response.failed"), "{names:?}");
    assert!(!names.contains(&"response.completed"), "{names:?}");
    let failed = &events.last().unwrap().1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "server_error", "{failed}");
    assert!(names.contains(&"response.output_text.delta"), "{names:?}");
    assert_eq!(
        app.mock.total_calls(),
        1,
        "never retried after output began"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_rate_limit_after_output_began_says_when_to_retry() {
    let app = spawn_app().await;
    let mut script = StreamScript::chat("m", &["one", " two"], false);
    script.events.truncate(2);
    script.events.push(
        json!({"error": {"message": "Rate limit reached for tokens.", "type": "tokens",
                         "code": "rate_limit_exceeded"}})
        .to_string(),
    );
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(script)]);
    let body = json!({"model": "mock/m", "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let events = events(&answer.text);
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "response.failed", "{}", answer.text);
    assert_eq!(
        last["response"]["error"],
        json!({"code": "rate_limit_exceeded",
               "message": "Rate limit reached for tokens. Please try again in 1s."}),
        "Codex retries after the wait the message names"
    );
    assert_eq!(
        app.mock.total_calls(),
        1,
        "never retried after output began"
    );
    app.stop().await;
}

#[actix_web::test]
async fn the_provider_refusing_keeps_its_status_in_openai_envelope() {
    let app = spawn_app().await;
    for key in [KEY_1, KEY_2] {
        app.mock.script(key, "bad", vec![Reply::status(400)]);
    }
    let answer = post(&app, &json!({"model": "mock/bad", "input": "hi"})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.json()["error"]["message"], "mock 400");
    assert_eq!(app.mock.total_calls(), 1);
    app.stop().await;
}

#[actix_web::test]
async fn bad_requests_are_400s_in_openai_envelope_that_say_what_is_wrong() {
    let app = spawn_app().await;
    let cases = [
        (json!({"input": "hi"}), "model", "`model` is required"),
        (json!({"model": "mock/m"}), "input", "`input` is required"),
        (
            json!({"model": "mock/m", "input": 5}),
            "input",
            "must be a string or an array",
        ),
        (
            json!({"model": "mock/m", "input": []}),
            "input",
            "`input` is empty",
        ),
        (
            json!({"model": "mock/m", "input": [{"type": "bogus"}]}),
            "input",
            "input[0]: unknown item type \"bogus\"",
        ),
        (
            json!({"model": "mock/m", "input": "hi", "temperature": "hot"}),
            "temperature",
            "\"temperature\" must be a number",
        ),
        (
            json!({"model": "mock/m", "input": "hi", "previous_response_id": "resp_1"}),
            "previous_response_id",
            "Previous response with id 'resp_1' not found",
        ),
        (
            json!({"model": "m", "input": "hi"}),
            "model",
            "no provider prefix",
        ),
    ];
    for (body, param, says) in cases {
        let answer = post(&app, &body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text
        );
        let error = answer.json();
        assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
        assert_eq!(error["error"]["param"], param, "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    let (status, error) = app
        .post_raw("/v1/responses", "[1]".into(), Some(PROXY_KEY))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(app.mock.total_calls(), 0, "nothing reached the provider");
    app.stop().await;
}

#[actix_web::test]
async fn the_proxy_key_is_required_as_on_every_v1_route() {
    let app = spawn_app().await;
    let body = json!({"model": "mock/m", "input": "hi"});
    for key in [None, Some("wrong-key")] {
        let answer = post_with(&app, &body, key).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
        assert_eq!(answer.json()["error"]["type"], "authentication_error");
    }
    let res = app
        .client
        .get(app.url("/v1/responses"))
        .bearer_auth(PROXY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    // An id never stored is not found, in OpenAI's envelope.
    let (status, error) = app.get_json("/v1/responses/resp_123").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    assert_eq!(error["error"]["code"], "not_found");
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}
