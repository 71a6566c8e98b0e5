//! Sticky sessions: a conversation keeps its key while the key can serve.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::Reply;

/// Turn `turn` of conversation `conversation`: the same opening, a longer
/// history each time.
fn turn(conversation: usize, turn: usize) -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": "you are terse"}),
        json!({"role": "user", "content": format!("conversation {conversation}")}),
    ];
    for i in 0..turn {
        messages.push(json!({"role": "assistant", "content": format!("answer {i}")}));
        messages.push(json!({"role": "user", "content": format!("question {i}")}));
    }
    json!({"model": "mock/m", "messages": messages})
}

/// Sends one turn; the key that answered it.
async fn key_of_turn(app: &TestApp, conversation: usize, n: usize) -> String {
    let (status, body) = app
        .post_json("/v1/chat/completions", &turn(conversation, n))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let auth = app
        .mock
        .last_header("/v1/chat/completions", "authorization")
        .unwrap();
    auth.trim_start_matches("Bearer ").to_string()
}

#[actix_web::test]
async fn conversations_keep_their_key_and_only_a_failing_one_moves() {
    let app = spawn_with(Options {
        keys: vec![KEY_1, KEY_2, KEY_3],
        extra_env: vec![("STICKY_SESSIONS".into(), "true".into())],
        ..Options::default()
    })
    .await;
    let mut pinned: HashMap<usize, String> = HashMap::new();
    for n in 0..6 {
        for conversation in 0..4 {
            let key = key_of_turn(&app, conversation, n).await;
            let first = pinned.entry(conversation).or_insert_with(|| key.clone());
            assert_eq!(*first, key, "conversation {conversation}, turn {n}");
        }
    }
    // Four conversations over three keys: every key serves one.
    let mut per_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (conversation, key) in &pinned {
        per_key.entry(key.as_str()).or_default().push(*conversation);
    }
    assert_eq!(per_key.len(), 3, "{pinned:?}");

    // A key pinned by one conversation starts failing.
    let (failing, alone) = per_key
        .iter()
        .find(|(_, conversations)| conversations.len() == 1)
        .map(|(key, c)| (key.to_string(), c[0]))
        .unwrap();
    app.mock.script(
        &failing,
        "m",
        vec![Reply::status(429).with_header("Retry-After", "600")],
    );
    let moved_to = key_of_turn(&app, alone, 6).await;
    assert_ne!(moved_to, failing);
    for n in 7..12 {
        for conversation in 0..4 {
            let key = key_of_turn(&app, conversation, n).await;
            let expected = if conversation == alone {
                &moved_to
            } else {
                &pinned[&conversation]
            };
            assert_eq!(&key, expected, "conversation {conversation}, turn {n}");
        }
    }
    assert_eq!(
        app.mock.calls(&failing, "m"),
        6 + 1,
        "called once more, then left"
    );

    let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    // 4 × 6 turns, then 4 × 5: the first turn of each pins, one moves.
    let hits = 4 * 5 + 4 * 5;
    assert!(
        text.contains(&format!("llm_proxy_sticky_hits_total {hits}")),
        "{text}"
    );
    assert!(text.contains("llm_proxy_sticky_moves_total 1"), "{text}");
    app.stop().await;
}

#[actix_web::test]
async fn without_sticky_sessions_requests_spread_over_the_keys() {
    let app = spawn_with(Options {
        keys: vec![KEY_1, KEY_2, KEY_3],
        ..Options::default()
    })
    .await;
    let mut keys = std::collections::HashSet::new();
    for n in 0..3 {
        keys.insert(key_of_turn(&app, 0, n).await);
    }
    assert_eq!(keys.len(), 3, "one conversation, every key");
    app.stop().await;
}
