//! OpenAI-compatible format: request preparation, answers passed through
//! or rewritten, streams, and the byte scanner checked against serde_json.

use super::*;
use serde_json::json;

#[test]
fn request_gets_bare_model_and_usage_option() {
    let mut body = json!({"model":"openai/gpt-4o","messages":[],"stream":true,"x_custom":1});
    let asked = prepare_request(body.as_object_mut().unwrap(), "gpt-4o", true);
    assert!(!asked);
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["x_custom"], 1, "unknown fields pass through");

    let mut body = json!({"model":"m","stream_options":{"include_usage":true}});
    assert!(prepare_request(body.as_object_mut().unwrap(), "m", true));
    let mut body = json!({"model":"m"});
    prepare_request(body.as_object_mut().unwrap(), "m", false);
    assert!(body.get("stream_options").is_none());
}

#[test]
fn response_model_is_prefixed_and_usage_read() {
    let body = br#"{"id":"x","model":"gpt-4o-2024-08-06","choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
    let out = rewrite_response(body, "openai").unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["model"], "openai/gpt-4o-2024-08-06");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        out.usage,
        TokenUsage {
            prompt_tokens: 12,
            completion_tokens: 3
        }
    );
    assert!(rewrite_response(b"", "openai").is_none());
    assert!(rewrite_response(b"[1]", "openai").is_none());
}

#[test]
fn response_passes_through_with_only_the_prefix_inserted() {
    let body = br#"{"model" : "m","z":1,"a":[1.50,{"model":"inner"}],"n":123456789012345678901234,"s":"caf\u00e9"}"#;
    let out = rewrite_response(body, "p").unwrap();
    assert_eq!(
        String::from_utf8(out.body).unwrap(),
        r#"{"model" : "p/m","z":1,"a":[1.50,{"model":"inner"}],"n":123456789012345678901234,"s":"caf\u00e9"}"#
    );
    assert_eq!(out.usage, TokenUsage::default());
    // Already prefixed, absent or not a string: unchanged.
    for body in [
        r#"{"model":"p/m","x":true}"#,
        r#"{"x":null}"#,
        r#"{"model":5}"#,
        r#"{"model":{"model":"m"}}"#,
    ] {
        let out = rewrite_response(body.as_bytes(), "p").unwrap();
        assert_eq!(String::from_utf8(out.body).unwrap(), body);
    }
}

#[test]
fn escaped_or_repeated_model_is_rewritten_through_a_value() {
    for body in [
        r#"{"model":"m\u0031","usage":{"prompt_tokens":2}}"#,
        r#"{"model":"x","model":"m1","usage":{"prompt_tokens":2}}"#,
    ] {
        let out = rewrite_response(body.as_bytes(), "p").unwrap();
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["model"], "p/m1", "{body}");
        assert_eq!(out.usage.prompt_tokens, 2);
    }
}

#[test]
fn response_validation_matches_a_full_parse() {
    let bodies: [&[u8]; 12] = [
        b"{}",
        b" {\"a\":1} ",
        b"{\"a\":1}x",
        b"{\"a\":1e400}",
        b"{\"a\":\"\\ud800\"}",
        b"{\"a\":\"\xff\"}",
        b"{\"\xff\":1}",
        b"{\"a\":[1,]}",
        b"{\"a\" 1}",
        b"[{\"model\":\"m\"}]",
        b"\"model\"",
        b"{\"usage\":{\"prompt_tokens\":1.5,\"completion_tokens\":-1},\"b\":[[[{}]]]}",
    ];
    for body in bodies {
        let full = serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object);
        let fast = rewrite_response(body, "p");
        assert_eq!(
            fast.is_some(),
            full.is_some(),
            "{:?}",
            String::from_utf8_lossy(body)
        );
        if let (Some(fast), Some(full)) = (fast, full) {
            let fast: Value = serde_json::from_slice(&fast.body).unwrap();
            assert_eq!(fast, full);
        }
    }
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
    assert!(serde_json::from_str::<Value>(&deep).is_err());
    assert!(rewrite_response(deep.as_bytes(), "p").is_none());
}

#[test]
fn plain_answers_take_the_fast_path() {
    for body in [
        r#"{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"hello from mock","role":"assistant"}}],"created":1795564098,"id":"chatcmpl-mock","model":"bench","object":"chat.completion","system_fingerprint":"fp_mock","usage":{"completion_tokens":5,"prompt_tokens":10,"total_tokens":15}}"#,
        " {\"a\" : [ 1 , -2.5e-3 , \"x\\\"y\\u00e9\\ud83d\\ude00\" ] ,\n\"model\":\"m\"}\t",
        r#"{}"#,
    ] {
        assert!(json_scan::scan_answer(body.as_bytes()).is_some(), "{body}");
    }
    for body in [
        r#"{"model":"m\u0031"}"#,
        r#"{"mod\u0065l":"m"}"#,
        r#"{"model":"a","model":"b"}"#,
        r#"[]"#,
        r#"{"a":1e400}"#,
    ] {
        assert!(json_scan::scan_answer(body.as_bytes()).is_none(), "{body}");
    }
}

#[test]
fn nesting_limit_is_serde_json_s() {
    for depth in 125..=130 {
        let body = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        let full = serde_json::from_str::<Value>(&body).is_ok();
        let fast = json_scan::scan_answer(body.as_bytes()).is_some();
        assert!(!fast || full, "depth {depth}");
        assert_eq!(fast, full, "depth {depth}");
    }
}

/// The fast path must never accept what a full parse refuses, and must
/// give the same value and usage when it accepts: checked on many
/// mutations of answers with every JSON feature.
#[test]
fn fast_path_agrees_with_a_full_parse_on_generated_bodies() {
    let seeds: [&[u8]; 8] = [
        br#"{"id":"x","model":"gpt-4o","choices":[{"message":{"content":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}}],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#,
        br#"{"model":"m","n":[0,-0,1.5,-2.25e10,3E+2,4e-2,123456789012345678901234567890],"t":true,"f":false,"z":null}"#,
        br#" { "usage" : { "prompt_tokens" : 1.0 , "completion_tokens" : -1 } , "model" : "p/m" } "#,
        br#"{"a":{"b":{"c":[[],[{}],{"d":"e"}]}},"model":5,"usage":[1]}"#,
        "{\"s\":\"caf\u{e9} \u{1f600}\",\"model\":\"m\",\"usage\":{\"prompt_tokens\":7,\"prompt_tokens\":8}}".as_bytes(),
        br#"{"model":"m","x":1e308,"y":18446744073709551615,"w":18446744073709551616}"#,
        br#"{"usage":{"prompt_tokens":"5","completion_tokens":18446744073709551616,"x":{"prompt_tokens":3}},"usage":{"prompt_tokens":9,"completion_tokens":null,"completion_tokens":4}}"#,
        "{\"model\":\"\u{5e0c}\u{671b}\",\"c\":\"\u{4f60}\u{597d}\u{4e16}\u{754c}\u{ff0c}\u{8fd9}\u{662f}\u{4e00}\u{4e2a}\",\"usage\":{\"prompt_tokens\":0}}".as_bytes(),
    ];
    let alphabet: &[u8] = b"{}[]\":,\\/u0129efdDABCE.+-tnrlsa \n\t\x00\x1f\x7f\xc3\xa9\xed\xa0\x80";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut random = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let (mut fast_count, mut checked) = (0, 0);
    for round in 0..40_000 {
        let mut body = seeds[round % seeds.len()].to_vec();
        for _ in 0..1 + random(3) {
            let at = random(body.len() + 1);
            let byte = alphabet[random(alphabet.len())];
            match random(3) {
                0 if at < body.len() => body[at] = byte,
                1 if at < body.len() => {
                    body.remove(at);
                }
                _ => body.insert(at, byte),
            }
        }
        checked += 1;
        let full = serde_json::from_slice::<Value>(&body)
            .ok()
            .filter(Value::is_object);
        if json_scan::scan_answer(&body).is_none() {
            continue;
        }
        fast_count += 1;
        let text = String::from_utf8_lossy(&body).into_owned();
        let mut full = full.unwrap_or_else(|| panic!("accepted an invalid body: {text:?}"));
        let fast = rewrite_response(&body, "p").unwrap();
        let exact = rewrite_response_value(&body, "p").unwrap();
        assert_eq!(fast.usage, exact.usage, "{text:?}");
        // The same value as the body's, model prefixed. (Compared with
        // the body's parse, not the exact path's re-encoding, which
        // rounds integers beyond 64 bits through f64 once more.)
        if let Some(object) = full.as_object_mut() {
            prefix_model_value(object, "p");
        }
        assert_eq!(
            serde_json::from_slice::<Value>(&fast.body).unwrap(),
            full,
            "{text:?}"
        );
    }
    // Most single mutations break the JSON; enough must survive.
    assert!(fast_count > checked / 20, "{fast_count} of {checked}");
}

#[test]
fn plain_requests_go_through_with_only_the_model_replaced() {
    let body = br#" {"model" : "openai/gpt-4o","messages":[{"role":"user","content":"caf\u00e9 \"x\""}],"temperature":0.70,"stream":false} "#;
    let plain = plain_request(body).unwrap();
    assert_eq!(&body[plain.model.clone()], b"openai/gpt-4o");
    assert_eq!(plain.stream, Some(false));
    let out = with_model(body, &plain, "gpt-4o").unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#" {"model" : "gpt-4o","messages":[{"role":"user","content":"caf\u00e9 \"x\""}],"temperature":0.70,"stream":false} "#
    );
    assert!(with_model(body, &plain, "a\"b").is_none());
    for (body, stream) in [
        (r#"{"model":"m"}"#, Some(false)),
        (r#"{"model":"m","stream":null}"#, Some(false)),
        (r#"{"model":"m","stream":true}"#, Some(true)),
        (r#"{"stream":"yes","model":"m"}"#, None),
    ] {
        assert_eq!(
            plain_request(body.as_bytes()).unwrap().stream,
            stream,
            "{body}"
        );
    }
    for body in [
        r#"{"model":"m","model":"n"}"#,
        r#"{"model":"m","n":1,"n":2}"#,
        r#"{"model":"m\/n"}"#,
        r#"{"mod\u0065l":"m"}"#,
        r#"{"model":5}"#,
        r#"{"messages":[]}"#,
        r#"{"model":"m"} x"#,
        r#"["model"]"#,
        "",
    ] {
        assert!(plain_request(body.as_bytes()).is_none(), "{body}");
    }
}

/// `messages` is a non-empty array of objects with a string `role` each.
fn chat_shaped(body: &Map<String, Value>) -> bool {
    body.get("messages")
        .and_then(Value::as_array)
        .is_some_and(|m| {
            !m.is_empty()
                && m.iter()
                    .all(|m| m.get("role").is_some_and(Value::is_string))
        })
}

#[test]
fn requests_with_many_members_take_the_general_path() {
    let body = |n: usize| {
        let members: Vec<String> = (1..n).map(|i| format!(r#""k{i}":0"#)).collect();
        format!(r#"{{"model":"m",{}}}"#, members.join(","))
    };
    assert!(plain_request(body(64).as_bytes()).is_some());
    assert!(plain_request(body(65).as_bytes()).is_none());
    // The duplicate check never sees more than the cap: a huge body is
    // refused after its first members (the general path parses it in
    // linear time).
    assert!(plain_request(body(200_000).as_bytes()).is_none());
}

/// Like the answers' test: a request the scan accepts parses, and the
/// spliced body is the value `prepare_request` would send.
#[test]
fn plain_requests_agree_with_a_full_parse_on_generated_bodies() {
    let seeds: [&[u8]; 3] = [
        br#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"a\"b\\c\u00e9\ud83d\ude00"}],"temperature":0.7,"n":1,"stream":false}"#,
        br#" { "stream" : null , "model" : "p/m" , "input" : [ "x" , 1e5 , -0 , [ { } ] ] } "#,
        "{\"model\":\"p/\u{5e0c}\u{671b}\",\"messages\":[{\"content\":\"\u{4f60}\u{597d}\"}],\"stream\":true}".as_bytes(),
    ];
    let alphabet: &[u8] = b"{}[]\":,\\/u0129efdDABCE.+-tnrlsa \n\t\x00\x1f\x7f\xc3\xa9\xed\xa0\x80";
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut random = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut plain_count = 0;
    for round in 0..30_000 {
        let mut body = seeds[round % seeds.len()].to_vec();
        for _ in 0..1 + random(3) {
            let at = random(body.len() + 1);
            let byte = alphabet[random(alphabet.len())];
            match random(3) {
                0 if at < body.len() => body[at] = byte,
                1 if at < body.len() => {
                    body.remove(at);
                }
                _ => body.insert(at, byte),
            }
        }
        let Some(plain) = plain_request(&body) else {
            continue;
        };
        plain_count += 1;
        let text = String::from_utf8_lossy(&body).into_owned();
        let Ok(Value::Object(mut full)) = serde_json::from_slice::<Value>(&body) else {
            panic!("accepted an invalid body: {text:?}");
        };
        assert_eq!(
            full.get("model").and_then(Value::as_str).map(str::as_bytes),
            Some(&body[plain.model.clone()]),
            "{text:?}"
        );
        let stream = match full.get("stream") {
            None | Some(Value::Null) => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => None,
        };
        assert_eq!(plain.stream, stream, "{text:?}");
        if plain.messages {
            assert!(chat_shaped(&full), "{text:?}");
        }
        let out = with_model(&body, &plain, "bare").unwrap();
        prepare_request(&mut full, "bare", false);
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            Value::Object(full),
            "{text:?}"
        );
    }
    assert!(plain_count > 1000, "{plain_count}");
}

#[test]
fn openrouter_models_are_prefixed_once() {
    let body = br#"{"model":"openrouter/meta-llama/llama-3"}"#;
    let v: Value =
        serde_json::from_slice(&rewrite_response(body, "openrouter").unwrap().body).unwrap();
    assert_eq!(v["model"], "openrouter/meta-llama/llama-3");
}

/// [`super::translate_event`] on a text.
fn translate_event(data: &str, provider: &str, client_wants_usage: bool) -> StreamItem {
    let data = bytes::Bytes::copy_from_slice(data.as_bytes());
    super::translate_event(&data, provider, client_wants_usage)
}

#[test]
fn content_chunks_are_prefixed_without_touching_content() {
    let data = r#"{"id":"c","model": "gpt-4o","choices":[{"delta":{"content":"say \"model\": \"x\""},"finish_reason":null}],"usage":null}"#;
    let StreamItem::Chunk {
        data: Some(out),
        usage,
        finished,
    } = translate_event(data, "openai", false)
    else {
        panic!("expected a chunk");
    };
    let out = std::str::from_utf8(&out).unwrap();
    assert!(out.contains(r#""model": "openai/gpt-4o""#), "{out}");
    assert!(out.contains(r#"say \"model\": \"x\""#), "{out}");
    assert_eq!(usage, None);
    assert!(!finished);
}

#[test]
fn finish_reason_is_kept_and_seen() {
    let data = r#"{"model":"m","choices":[{"delta":{},"finish_reason":"stop"}]}"#;
    let item = translate_event(data, "p", false);
    assert_eq!(
        item,
        StreamItem::Chunk {
            data: Some(r#"{"model":"p/m","choices":[{"delta":{},"finish_reason":"stop"}]}"#.into()),
            usage: None,
            finished: true
        }
    );
}

#[test]
fn usage_only_chunk_is_dropped_unless_asked_for() {
    let data = r#"{"model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#;
    let usage = Some(TokenUsage {
        prompt_tokens: 7,
        completion_tokens: 2,
    });
    assert_eq!(
        translate_event(data, "p", false),
        StreamItem::Chunk {
            data: None,
            usage,
            finished: false
        }
    );
    let StreamItem::Chunk {
        data: Some(kept),
        usage: u,
        ..
    } = translate_event(data, "p", true)
    else {
        panic!("expected a chunk");
    };
    assert_eq!(u, usage);
    assert!(std::str::from_utf8(&kept).unwrap().contains("\"p/m\""));
}

#[test]
fn usage_on_a_content_chunk_is_recorded_and_relayed() {
    let data = r#"{"model":"m","choices":[{"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
    let StreamItem::Chunk {
        data: Some(_),
        usage: Some(_),
        finished: true,
    } = translate_event(data, "p", false)
    else {
        panic!("expected a relayed chunk with usage");
    };
}

#[test]
fn malformed_events_are_errors() {
    for bad in ["{not json", "plain text", r#"{"id":"x","choices":["#] {
        assert_eq!(
            translate_event(bad, "p", false),
            StreamItem::Error(MALFORMED_EVENT.into()),
            "{bad}"
        );
    }
}

#[test]
fn done_and_error_events() {
    assert_eq!(translate_event("[DONE]", "p", false), StreamItem::Done);
    let err = r#"{"error":{"message":"overloaded"}}"#;
    assert_eq!(
        translate_event(err, "p", false),
        StreamItem::Error(err.into())
    );
    let err = r#"{"error": "overloaded"}"#;
    assert_eq!(
        translate_event(err, "p", false),
        StreamItem::Error(err.into())
    );
    let fine = r#"{"model":"m","error":null,"choices":[]}"#;
    assert!(matches!(
        translate_event(fine, "p", false),
        StreamItem::Chunk { .. }
    ));
}

#[test]
fn model_list() {
    let ids = model_ids(br#"{"object":"list","data":[{"id":"a"},{"id":"b"},{"x":1}]}"#).unwrap();
    assert_eq!(ids, vec!["a", "b"]);
    assert!(model_ids(b"{}").is_none());
}
