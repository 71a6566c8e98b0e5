//! A provider whose base URL is the proxy itself: every upstream call
//! carries the process's hop mark, the proxy refuses its own calls with
//! 508, and the outer request hands that on at once — one hop per loop.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// Client requests the proxy has answered, `/metrics` itself excluded.
async fn requests_seen(app: &TestApp) -> u64 {
    let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    text.lines()
        .filter(|l| l.starts_with("llm_proxy_request_duration_seconds_count{"))
        .filter(|l| !l.contains("route=\"/metrics\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// The app with provider `loop` at its own `/v1`, keyed with the proxy key
/// (so the looped call would pass the proxy's auth).
async fn looping_app() -> TestApp {
    let app = spawn_app().await;
    app.set_env("LOOP_API_BASE", Some(&format!("{}/v1", app.base)));
    app.set_env("LOOP_API_KEY", Some(PROXY_KEY));
    let (status, answer) = app.post_json("/v1/admin/reload", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    app
}

fn assert_loop(status: StatusCode, answer: &Value) {
    assert_eq!(status, StatusCode::LOOP_DETECTED, "{answer}");
    assert_eq!(answer["error"]["code"], "loop_detected", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("_API_BASE"), "{message}");
}

#[actix_web::test]
async fn a_self_looping_provider_costs_one_hop_and_no_key_penalty() {
    let app = looping_app().await;
    let before = requests_seen(&app).await;
    let (status, answer) = app.chat("loop/some-model").await;
    assert_loop(status, &answer);
    assert_eq!(
        requests_seen(&app).await - before,
        2,
        "the client's request and one looped call"
    );

    let before = requests_seen(&app).await;
    let mut stream = chat_body("loop/some-model");
    stream["stream"] = json!(true);
    let res = app.open_stream(&stream).await;
    assert_eq!(res.status(), StatusCode::LOOP_DETECTED);
    let (status, answer) = app
        .post_json(
            "/v1/embeddings",
            &json!({"model": "loop/some-model", "input": "x"}),
        )
        .await;
    assert_loop(status, &answer);
    assert_eq!(requests_seen(&app).await - before, 4);

    // A loop is nobody's key failing: like a client error it leaves the
    // key untouched, without even a record for the model.
    let usage = app.usage_in("loop", PROXY_KEY, "some-model").await;
    assert_eq!(usage, Value::Null, "{usage}");
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn a_self_looping_provider_is_skipped_in_the_model_list_each_time() {
    let app = looping_app().await;
    for _ in 0..2 {
        let before = requests_seen(&app).await;
        let (status, list) = app.get_json("/v1/models").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let ids: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["mock/mock-model-a", "mock/mock-model-b"]);
        assert_eq!(
            requests_seen(&app).await - before,
            2,
            "one looped call, not cached as an empty list"
        );
    }
    assert_eq!(
        app.mock.path_calls("/v1/models"),
        1,
        "mock's list is cached"
    );
    app.stop().await;
}

#[actix_web::test]
async fn upstream_calls_carry_the_hop_mark() {
    let app = spawn_app().await;
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    let mark = app
        .mock
        .last_header("/v1/chat/completions", "x-llm-key-proxy-hop")
        .unwrap();
    assert_eq!(mark.len(), 32, "{mark}");
    app.get_json("/v1/models").await;
    assert_eq!(
        app.mock.last_header("/v1/models", "x-llm-key-proxy-hop"),
        Some(mark.clone()),
        "one id per process"
    );
    // Another proxy's mark is a chain, not a loop.
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(PROXY_KEY)
        .insert_header(("x-llm-key-proxy-hop", "another-proxy-0123"))
        .send_json(&chat_body("mock/m"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Our own mark is refused before the proxy key is even checked.
    let mut res = app
        .client
        .get(app.url("/v1/models"))
        .insert_header(("x-llm-key-proxy-hop", mark))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::LOOP_DETECTED);
    let answer: Value = res.json().await.unwrap();
    assert_loop(StatusCode::LOOP_DETECTED, &answer);
    app.stop().await;
}
