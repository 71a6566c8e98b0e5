//! The OpenAI-compatible wire format: pure functions that prepare requests
//! and rewrite answers. No I/O here.
//!
//! Answers keep the client's `provider/` prefix on `model`. Streams get
//! `stream_options.include_usage` so usage can be recorded; the usage-only
//! chunk this adds is dropped unless the client asked for it.

use serde_json::{Map, Value};

use super::{Outbound, StreamTranslator, TokenUsage, WireFormat};
use crate::worker::Auth;

/// The OpenAI-compatible format: the request goes through almost as is.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenAiFormat;

/// One OpenAI-compatible stream: events are already OpenAI chunks.
struct Passthrough {
    provider: String,
    client_wants_usage: bool,
}

// === impl OpenAiFormat ===

impl WireFormat for OpenAiFormat {
    fn auth(&self) -> Auth {
        Auth::Bearer
    }

    fn chat_request(
        &self,
        mut body: Map<String, Value>,
        model: &str,
        stream: bool,
    ) -> Result<Outbound, String> {
        let client_wants_usage = prepare_request(&mut body, model, stream);
        Ok(Outbound {
            path: CHAT_PATH.to_string(),
            body: Value::Object(body),
            client_wants_usage,
        })
    }

    fn chat_response(&self, body: &[u8], provider: &str, _model: &str) -> Option<Rewritten> {
        rewrite_response(body, provider)
    }

    fn stream(
        &self,
        provider: &str,
        _model: &str,
        client_wants_usage: bool,
    ) -> Box<dyn StreamTranslator> {
        Box::new(Passthrough {
            provider: provider.to_string(),
            client_wants_usage,
        })
    }

    fn embeddings_request(
        &self,
        mut body: Map<String, Value>,
        model: &str,
    ) -> Result<Outbound, String> {
        prepare_request(&mut body, model, false);
        Ok(Outbound {
            path: EMBEDDINGS_PATH.to_string(),
            body: Value::Object(body),
            client_wants_usage: false,
        })
    }

    fn embeddings_response(&self, body: &[u8], provider: &str, _model: &str) -> Option<Rewritten> {
        rewrite_response(body, provider)
    }

    fn models_path(&self) -> &'static str {
        MODELS_PATH
    }

    fn model_ids(&self, body: &[u8]) -> Option<Vec<String>> {
        model_ids(body)
    }
}

impl StreamTranslator for Passthrough {
    fn items(&mut self, data: &str) -> Vec<StreamItem> {
        vec![translate_event(
            data,
            &self.provider,
            self.client_wants_usage,
        )]
    }
}

/// Paths below a provider's base URL.
pub const CHAT_PATH: &str = "/chat/completions";
pub const EMBEDDINGS_PATH: &str = "/embeddings";
pub const MODELS_PATH: &str = "/models";

/// Prepares a chat or embeddings body for the upstream: the bare model name,
/// and for streams `stream_options.include_usage = true`. Returns whether
/// the client itself asked for the usage chunk.
pub fn prepare_request(body: &mut Map<String, Value>, upstream_model: &str, stream: bool) -> bool {
    body.insert("model".into(), Value::String(upstream_model.to_string()));
    if !stream {
        return false;
    }
    let options = body
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    if !options.is_object() {
        *options = Value::Object(Map::new());
    }
    let Some(options) = options.as_object_mut() else {
        return false;
    };
    let asked = options.get("include_usage") == Some(&Value::Bool(true));
    options.insert("include_usage".into(), Value::Bool(true));
    asked
}

/// A non-streaming answer, rewritten for the client.
#[derive(Debug)]
pub struct Rewritten {
    pub body: Vec<u8>,
    pub usage: TokenUsage,
}

/// Prefixes `model` and reads `usage` of a JSON answer. `None` when the body
/// is not a JSON object (an upstream fault).
///
/// The body is validated as strictly as parsing it into a `Value` would,
/// but without building one: the answer goes out as the provider wrote it,
/// with `provider/` inserted into the top-level `model` string. Only an
/// escaped or repeated top-level `model` takes the slower parse and
/// re-encode.
pub fn rewrite_response(body: &[u8], provider: &str) -> Option<Rewritten> {
    let head = answer::scan(body)?;
    let model = match head.model {
        answer::Model::Plain { at, text } => Some((at, text)),
        answer::Model::Absent => None,
        answer::Model::Unusable => return rewrite_response_value(body, provider),
    };
    let body = match model {
        Some((at, text)) if !has_prefix(text, provider) => {
            let mut out = Vec::with_capacity(body.len() + provider.len() + 1);
            out.extend_from_slice(&body[..at]);
            out.extend_from_slice(provider.as_bytes());
            out.push(b'/');
            out.extend_from_slice(&body[at..]);
            out
        }
        _ => body.to_vec(),
    };
    Some(Rewritten {
        body,
        usage: head.usage,
    })
}

/// [`rewrite_response`] through a parsed `Value`.
fn rewrite_response_value(body: &[u8], provider: &str) -> Option<Rewritten> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object_mut()?;
    prefix_model_value(object, provider);
    let usage = usage_of(object.get("usage"));
    let body = serde_json::to_vec(&value).ok()?;
    Some(Rewritten { body, usage })
}

/// The error that stands in for an event that is not a JSON object.
pub const MALFORMED_EVENT: &str =
    r#"{"error":{"message":"the provider sent a malformed stream event","type":"upstream_error"}}"#;

/// What to do with one upstream stream event.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamItem {
    /// `[DONE]`: the upstream finished.
    Done,
    /// An event to relay (or drop), with what it tells about the stream.
    Chunk {
        /// The rewritten data, or `None` to drop the event.
        data: Option<String>,
        usage: Option<TokenUsage>,
        /// The event carries a `finish_reason`.
        finished: bool,
    },
    /// An `{"error":…}` event.
    Error(String),
}

/// Translates one stream event. `client_wants_usage`: keep the usage-only
/// chunk (the client set `stream_options.include_usage`).
pub fn translate_event(data: &str, provider: &str, client_wants_usage: bool) -> StreamItem {
    let data = data.trim();
    if data == "[DONE]" {
        return StreamItem::Done;
    }
    // Validated without building a value: a broken event is an error,
    // never relayed as content.
    if !data.starts_with('{') || serde_json::from_str::<serde::de::IgnoredAny>(data).is_err() {
        return StreamItem::Error(MALFORMED_EVENT.to_string());
    }
    if matches!(value_start(data, "error"), Some(b'{' | b'"')) {
        return StreamItem::Error(data.to_string());
    }
    let finished = value_start(data, "finish_reason") == Some(b'"');
    if value_start(data, "usage") != Some(b'{') {
        // The common case: no JSON parse, a targeted prefix insert.
        return StreamItem::Chunk {
            data: Some(prefix_model_text(data, provider)),
            usage: None,
            finished,
        };
    }
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(data) else {
        return StreamItem::Chunk {
            data: Some(data.to_string()),
            usage: None,
            finished,
        };
    };
    let usage = Some(usage_of(object.get("usage")));
    let usage_only = object
        .get("choices")
        .and_then(Value::as_array)
        .is_none_or(|c| c.is_empty());
    if usage_only && !client_wants_usage {
        return StreamItem::Chunk {
            data: None,
            usage,
            finished,
        };
    }
    prefix_model_value(&mut object, provider);
    StreamItem::Chunk {
        data: serde_json::to_string(&object).ok(),
        usage,
        finished,
    }
}

/// Model ids from a `GET /models` answer (`{"data":[{"id":…}]}`).
pub fn model_ids(body: &[u8]) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data")?.as_array()?;
    Some(
        data.iter()
            .filter_map(|m| m.get("id")?.as_str().map(str::to_string))
            .collect(),
    )
}

fn usage_of(usage: Option<&Value>) -> TokenUsage {
    let field = |name: &str| {
        usage
            .and_then(|u| u.get(name))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    TokenUsage {
        prompt_tokens: field("prompt_tokens"),
        completion_tokens: field("completion_tokens"),
    }
}

fn prefix_model_value(object: &mut Map<String, Value>, provider: &str) {
    if let Some(Value::String(model)) = object.get_mut("model") {
        if !has_prefix(model, provider) {
            *model = format!("{provider}/{model}");
        }
    }
}

fn has_prefix(model: &str, provider: &str) -> bool {
    model
        .strip_prefix(provider)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Inserts `provider/` at the start of the first `"model"` string value of
/// a JSON text. Inside JSON strings quotes are escaped, so the first
/// unescaped `"model"` key found is a real key (the top-level one in every
/// chunk providers send).
fn prefix_model_text(data: &str, provider: &str) -> String {
    let Some(at) = value_offset(data, "model") else {
        return data.to_string();
    };
    if data.as_bytes().get(at) != Some(&b'"') || has_prefix(&data[at + 1..], provider) {
        return data.to_string();
    }
    let mut out = String::with_capacity(data.len() + provider.len() + 1);
    out.push_str(&data[..=at]);
    out.push_str(provider);
    out.push('/');
    out.push_str(&data[at + 1..]);
    out
}

/// The first byte of the value of key `name` in a JSON text.
fn value_start(data: &str, name: &str) -> Option<u8> {
    value_offset(data, name).and_then(|at| data.as_bytes().get(at).copied())
}

/// Offset of the value of the first `"name":` key in a JSON text.
fn value_offset(data: &str, name: &str) -> Option<usize> {
    let needle = format!("\"{name}\"");
    let bytes = data.as_bytes();
    let mut from = 0;
    while let Some(pos) = data[from..].find(&needle) {
        let mut at = from + pos + needle.len();
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        if bytes.get(at) == Some(&b':') {
            at += 1;
            while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
                at += 1;
            }
            return Some(at);
        }
        from = from + pos + needle.len();
    }
    None
}

/// A single validating pass over a JSON answer that notes where the
/// top-level `model` string is and reads `usage`, allocating nothing but
/// the small `usage` value.
mod answer {
    use std::fmt;

    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize;
    use serde_json::Value;

    use super::usage_of;
    use crate::providers::TokenUsage;

    /// What the scan found.
    pub struct Head<'a> {
        pub model: Model<'a>,
        pub usage: TokenUsage,
    }

    /// The top-level `model` member.
    pub enum Model<'a> {
        /// A string without escapes; its text starts at byte `at`.
        Plain { at: usize, text: &'a str },
        /// Missing, or not a string: nothing to prefix.
        Absent,
        /// Escaped or repeated: rewrite through a parsed `Value`.
        Unusable,
    }

    /// `None` when `body` is not valid JSON or not an object, exactly when
    /// `serde_json::from_slice::<Value>` would fail or give a non-object.
    pub fn scan(body: &[u8]) -> Option<Head<'_>> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let head = Top {
            base: body.as_ptr() as usize,
        }
        .deserialize(&mut de)
        .ok()?;
        de.end().ok()?;
        Some(head)
    }

    /// The top-level object; `base` is the address of the body's first
    /// byte, to turn borrowed strings into offsets.
    struct Top {
        base: usize,
    }

    impl<'de> DeserializeSeed<'de> for Top {
        type Value = Head<'de>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Top {
        type Value = Head<'de>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut head = Head {
                model: Model::Absent,
                usage: TokenUsage::default(),
            };
            let mut seen_model = false;
            while let Some(key) = map.next_key::<Key>()? {
                match key {
                    Key::Model => {
                        let model = map.next_value_seed(ModelSeed { base: self.base })?;
                        head.model = if seen_model { Model::Unusable } else { model };
                        seen_model = true;
                    }
                    Key::Usage => head.usage = usage_of(Some(&map.next_value::<Value>()?)),
                    Key::Other => {
                        map.next_value::<Checked>()?;
                    }
                }
            }
            Ok(head)
        }
    }

    /// A top-level member name.
    enum Key {
        Model,
        Usage,
        Other,
    }

    impl<'de> Deserialize<'de> for Key {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(KeyVisitor)
        }
    }

    struct KeyVisitor;

    impl Visitor<'_> for KeyVisitor {
        type Value = Key;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a member name")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
            Ok(match v {
                "model" => Key::Model,
                "usage" => Key::Usage,
                _ => Key::Other,
            })
        }
    }

    /// The value of `model`.
    struct ModelSeed {
        base: usize,
    }

    impl<'de> DeserializeSeed<'de> for ModelSeed {
        type Value = Model<'de>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for ModelSeed {
        type Value = Model<'de>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Model<'de>, E> {
            // Borrowed strings are slices of the body itself.
            match (v.as_ptr() as usize).checked_sub(self.base) {
                Some(at) => Ok(Model::Plain { at, text: v }),
                None => Err(E::custom("a string outside the body")),
            }
        }

        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Model<'de>, E> {
            Ok(Model::Unusable)
        }

        fn visit_bool<E>(self, _: bool) -> Result<Model<'de>, E> {
            Ok(Model::Absent)
        }

        fn visit_i64<E>(self, _: i64) -> Result<Model<'de>, E> {
            Ok(Model::Absent)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Model<'de>, E> {
            Ok(Model::Absent)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Model<'de>, E> {
            Ok(Model::Absent)
        }

        fn visit_unit<E>(self) -> Result<Model<'de>, E> {
            Ok(Model::Absent)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Model<'de>, A::Error> {
            CheckedVisitor.visit_seq(seq).map(|_| Model::Absent)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Model<'de>, A::Error> {
            CheckedVisitor.visit_map(map).map(|_| Model::Absent)
        }
    }

    /// Any JSON value, checked as parsing it into a `Value` would check it
    /// (UTF-8, escapes, number range, depth) and then dropped. Unlike
    /// `IgnoredAny`, which skips strings and numbers unchecked.
    struct Checked;

    impl<'de> Deserialize<'de> for Checked {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(CheckedVisitor)
        }
    }

    struct CheckedVisitor;

    impl<'de> Visitor<'de> for CheckedVisitor {
        type Value = Checked;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
            Ok(Checked)
        }

        fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
            Ok(Checked)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
            Ok(Checked)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
            Ok(Checked)
        }

        fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
            Ok(Checked)
        }

        fn visit_unit<E>(self) -> Result<Checked, E> {
            Ok(Checked)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
            while seq.next_element::<Checked>()?.is_some() {}
            Ok(Checked)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
            while map.next_entry::<Checked, Checked>()?.is_some() {}
            Ok(Checked)
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn openrouter_models_are_prefixed_once() {
        let body = br#"{"model":"openrouter/meta-llama/llama-3"}"#;
        let v: Value =
            serde_json::from_slice(&rewrite_response(body, "openrouter").unwrap().body).unwrap();
        assert_eq!(v["model"], "openrouter/meta-llama/llama-3");
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
                data: Some(
                    r#"{"model":"p/m","choices":[{"delta":{},"finish_reason":"stop"}]}"#.into()
                ),
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
        assert!(kept.contains("\"p/m\""));
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
        let ids =
            model_ids(br#"{"object":"list","data":[{"id":"a"},{"id":"b"},{"x":1}]}"#).unwrap();
        assert_eq!(ids, vec!["a", "b"]);
        assert!(model_ids(b"{}").is_none());
    }
}
