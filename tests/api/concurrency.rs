//! Per-(key, model) concurrency, least-used selection, and FIFO waiting.

use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::future::join3;

use crate::helpers::*;
use mock_upstream::{Reply, ANY_MODEL};

fn slow() -> Vec<Reply> {
    vec![Reply::ok().with_delay(Duration::from_millis(300))]
}

#[actix_web::test]
async fn two_models_share_a_key_while_a_third_same_model_request_waits() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        ..Options::default()
    })
    .await;
    app.mock.script(KEY_1, ANY_MODEL, slow());
    let (a1, b, a2) = join3(app.chat("mock/a"), app.chat("mock/b"), app.chat("mock/a")).await;
    for (status, body) in [&a1, &b, &a2] {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        app.mock.max_in_flight(KEY_1, ANY_MODEL),
        2,
        "a and b ran together on one key"
    );
    assert_eq!(
        app.mock.max_in_flight(KEY_1, "a"),
        1,
        "the second `a` waited"
    );
    assert_eq!(app.mock.calls(KEY_1, "a"), 2);
    app.stop().await;
}

#[actix_web::test]
async fn a_higher_limit_allows_same_model_concurrency() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        extra_env: vec![("MAX_CONCURRENT_REQUESTS_PER_KEY_MOCK".into(), "2".into())],
        ..Options::default()
    })
    .await;
    app.mock.script(KEY_1, ANY_MODEL, slow());
    let (x, y, _) = join3(app.chat("mock/a"), app.chat("mock/a"), async {}).await;
    assert_eq!((x.0, y.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(app.mock.max_in_flight(KEY_1, "a"), 2);
    app.stop().await;
}

#[actix_web::test]
async fn concurrent_requests_spread_over_idle_keys() {
    let app = spawn_app().await;
    app.mock.script(KEY_1, ANY_MODEL, slow());
    app.mock.script(KEY_2, ANY_MODEL, slow());
    let (x, y, _) = join3(app.chat("mock/a"), app.chat("mock/a"), async {}).await;
    assert_eq!((x.0, y.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(app.mock.calls(KEY_1, "a"), 1);
    assert_eq!(app.mock.calls(KEY_2, "a"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn sequential_requests_go_to_the_least_used_key() {
    let app = spawn_app().await;
    for _ in 0..4 {
        assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    }
    assert_eq!(app.mock.calls(KEY_1, "m"), 2);
    assert_eq!(app.mock.calls(KEY_2, "m"), 2);
    app.stop().await;
}

#[actix_web::test]
async fn waiting_for_a_busy_key_is_bounded_by_the_global_timeout() {
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        extra_env: vec![("GLOBAL_TIMEOUT".into(), "300ms".into())],
        ..Options::default()
    })
    .await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_delay(Duration::from_millis(900))],
    );
    let (first, second, _) = join3(
        app.chat("mock/m"),
        async {
            actix_rt::time::sleep(Duration::from_millis(50)).await;
            app.chat("mock/m").await
        },
        async {},
    )
    .await;
    assert_eq!(
        first.0,
        StatusCode::GATEWAY_TIMEOUT,
        "the attempt in flight is bounded by the global timeout too: {}",
        first.1
    );
    assert_eq!(second.0, StatusCode::GATEWAY_TIMEOUT, "{}", second.1);
    assert_eq!(second.1["error"]["code"], "timeout");
    assert!(second.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("GLOBAL_TIMEOUT"));
    assert_eq!(
        app.mock.calls(KEY_1, "m"),
        1,
        "the waiter never reached the upstream"
    );
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["in_flight"], 0, "the key was released");
    app.stop().await;
}
