use std::time::Duration;

use actix_web::test::TestRequest;
use serde_json::json;
use tokio::time::Instant;

use super::*;

fn body(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

#[test]
fn pins_are_bounded_least_recently_used_first_out() {
    let pins = Pins::new(2, Duration::from_secs(60));
    let now = Instant::now();
    pins.set(1, 10, now);
    pins.set(2, 20, now);
    assert_eq!(pins.get(1, now), Some(10), "a read is a use");
    pins.set(3, 30, now);
    assert_eq!(pins.len(), 2);
    assert_eq!(pins.get(2, now), None, "the least recently used went");
    assert_eq!(pins.get(1, now), Some(10));
    assert_eq!(pins.get(3, now), Some(30));
    pins.set(3, 31, now);
    assert_eq!(pins.get(3, now), Some(31), "a pin moves");
    assert_eq!(pins.len(), 2);
}

#[test]
fn an_idle_pin_is_forgotten() {
    let pins = Pins::new(10, Duration::from_secs(60));
    let start = Instant::now();
    pins.set(1, 10, start);
    pins.set(2, 20, start);
    assert_eq!(pins.get(1, start + Duration::from_secs(59)), Some(10));
    assert_eq!(pins.get(1, start + Duration::from_secs(100)), Some(10));
    assert_eq!(pins.get(2, start + Duration::from_secs(61)), None);
    // Writing sweeps idle pins from the old end.
    pins.set(3, 30, start + Duration::from_secs(200));
    assert_eq!(pins.len(), 1);
}

#[test]
fn a_conversation_is_named_explicitly_or_by_its_opening() {
    let req = TestRequest::default()
        .insert_header(("authorization", "Bearer client-a"))
        .to_http_request();
    let other_client = TestRequest::default()
        .insert_header(("authorization", "Bearer client-b"))
        .to_http_request();
    let chat = |user: &str, turns: usize| {
        let mut messages = vec![
            json!({"role": "system", "content": "be brief"}),
            json!({"role": "user", "content": user}),
        ];
        for i in 0..turns {
            messages.push(json!({"role": "assistant", "content": format!("answer {i}")}));
            messages.push(json!({"role": "user", "content": format!("more {i}")}));
        }
        body(json!({"model": "m", "messages": messages}))
    };
    let first = conversation(&req, &chat("hello", 0));
    assert!(first.is_some());
    assert_eq!(
        first,
        conversation(&req, &chat("hello", 5)),
        "later turns too"
    );
    assert_ne!(first, conversation(&req, &chat("bonjour", 0)));
    assert_ne!(first, conversation(&other_client, &chat("hello", 0)));
    // Anthropic and Responses shapes.
    let anthropic = body(json!({"system": "s", "messages": [{"role": "user", "content": "q"}]}));
    let responses = body(json!({"instructions": "s", "input": "q"}));
    assert!(conversation(&req, &anthropic).is_some());
    assert!(conversation(&req, &responses).is_some());
    assert_eq!(conversation(&req, &body(json!({"model": "m"}))), None);
    // Named: the opening no longer matters.
    let named = |mut b: Map<String, Value>| {
        b.insert("prompt_cache_key".into(), "conv-1".into());
        conversation(&req, &b)
    };
    assert_eq!(named(chat("hello", 0)), named(chat("bonjour", 0)));
    let by_header = TestRequest::default()
        .insert_header(("authorization", "Bearer client-a"))
        .insert_header(("x-session-id", "s-1"))
        .to_http_request();
    assert_eq!(
        conversation(&by_header, &chat("hello", 0)),
        conversation(&by_header, &chat("bonjour", 0))
    );
}
