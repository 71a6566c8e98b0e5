//! `GET /metrics` after scripted traffic.

use actix_web::http::StatusCode;

use crate::helpers::*;
use mock_upstream::Reply;

#[actix_web::test]
async fn metrics_count_requests_attempts_and_resting_keys() {
    let app = spawn_app().await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::status(429).with_header("Retry-After", "60")],
    );
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    assert_eq!(app.chat("nope/m").await.0, StatusCode::BAD_REQUEST);

    let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no auth needed");
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    for line in [
        r#"llm_proxy_requests_total{provider="mock",model="m",status="200"} 1"#,
        r#"llm_proxy_requests_total{provider="",model="",status="400"} 1"#,
        r#"llm_proxy_upstream_attempts_total{provider="mock",class="rate_limited"} 1"#,
        r#"llm_proxy_upstream_attempts_total{provider="mock",class="success"} 1"#,
        r#"llm_proxy_keys_cooling{provider="mock"} 1"#,
        r#"llm_proxy_keys_locked{provider="mock"} 0"#,
        r#"llm_proxy_keys{provider="mock"} 2"#,
        r#"llm_proxy_request_duration_seconds_count{route="/v1/chat/completions"} 2"#,
        r#"llm_proxy_upstream_duration_seconds_count{provider="mock"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(
        !text.contains(KEY_1) && !text.contains("key…0001"),
        "no key labels"
    );
    assert_grouped(&text);
    app.stop().await;
}

/// Every sample follows the `# TYPE` line of its own metric, and each
/// metric is described once: the exposition format's grouping rule.
fn assert_grouped(text: &str) {
    let mut current = "";
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            current = rest.split(' ').next().unwrap();
            assert!(seen.insert(current), "{current} described twice\n{text}");
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| *base == current)
                .unwrap_or(name);
            assert_eq!(family, current, "{line} outside its group\n{text}");
        }
    }
}

#[actix_web::test]
async fn a_stream_is_in_flight_until_its_last_event() {
    let app = spawn_app().await;
    let script = mock_upstream::StreamScript::chat("m", &["a", "b"], false)
        .with_gap(std::time::Duration::from_millis(300));
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(script)]);
    let in_flight = || async {
        let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("llm_proxy_in_flight_requests "))
            .unwrap()
            .to_string();
        // The /metrics request itself is one.
        line.rsplit(' ').next().unwrap().parse::<i64>().unwrap() - 1
    };
    let body = serde_json::json!({"model": "mock/m", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    let mut stream = app.open_stream(&body).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(
        in_flight().await,
        1,
        "the stream's head is sent, not its end"
    );
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        chunk.unwrap();
    }
    let mut after = 1;
    for _ in 0..100 {
        after = in_flight().await;
        if after == 0 {
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(after, 0);
    app.stop().await;
}

#[actix_web::test]
async fn metrics_can_require_the_proxy_key() {
    let app = spawn_with(Options {
        extra_env: vec![("METRICS_AUTH".into(), "true".into())],
        ..Options::default()
    })
    .await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(PROXY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.stop().await;
}
