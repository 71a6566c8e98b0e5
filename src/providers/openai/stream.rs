//! OpenAI-compatible streams: each upstream event is already an OpenAI
//! chunk; it goes to the client with `provider/` on its `model`, and the
//! relay learns from it whether the stream failed, finished or reported
//! usage.
//!
//! The common event is checked by one pass over its bytes
//! ([`json_scan::scan_event`]) that builds nothing; anything that pass
//! does not vouch for, and the chunk that carries usage, takes the exact
//! path through `serde_json`.

use bytes::Bytes;
use serde_json::Value;

use super::{has_prefix_bytes, json_keys, json_scan, prefix_model_value, usage_of};
use crate::providers::{StreamTranslator, TokenUsage};

/// One OpenAI-compatible stream.
pub struct Passthrough {
    pub provider: String,
    pub client_wants_usage: bool,
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
        /// The rewritten data (JSON text), or `None` to drop the event.
        data: Option<Bytes>,
        usage: Option<TokenUsage>,
        /// The event carries a `finish_reason`.
        finished: bool,
    },
    /// An `{"error":…}` event.
    Error(String),
}

// === impl Passthrough ===

impl StreamTranslator for Passthrough {
    fn items(&mut self, data: &Bytes, items: &mut Vec<StreamItem>) {
        items.push(translate_event(
            data,
            &self.provider,
            self.client_wants_usage,
        ));
    }
}

/// Translates one stream event. `client_wants_usage`: keep the usage-only
/// chunk (the client set `stream_options.include_usage`). A chunk that
/// needs no `provider/` is a slice of `data`, not a copy.
///
/// A broken event is an error, never relayed as content. An `error`
/// member holding an object or a string makes the event an error; a
/// string `finish_reason` marks the stream finished (both the first of
/// their name at any depth). `provider/` goes at the start of the first
/// `model` string.
pub fn translate_event(data: &Bytes, provider: &str, client_wants_usage: bool) -> StreamItem {
    let text = data.trim_ascii();
    let event = match text {
        b"[DONE]" => return StreamItem::Done,
        _ => json_scan::scan_event(text),
    };
    let Some(event) = event else {
        // Invalid UTF-8 becomes U+FFFD here, before the exact check.
        return translate_text(&String::from_utf8_lossy(data), provider, client_wants_usage);
    };
    let first_byte = |at: Option<usize>| at.and_then(|at| text.get(at).copied());
    if matches!(first_byte(event.error), Some(b'{' | b'"')) {
        return StreamItem::Error(String::from_utf8_lossy(text).into_owned());
    }
    if first_byte(event.usage) == Some(b'{') {
        return translate_text(&String::from_utf8_lossy(text), provider, client_wants_usage);
    }
    let finished = first_byte(event.finish_reason) == Some(b'"');
    let data = event
        .model
        .and_then(|at| prefixed(text, at, provider))
        .unwrap_or_else(|| data.slice_ref(text));
    StreamItem::Chunk {
        data: Some(data),
        usage: None,
        finished,
    }
}

/// `text` with `provider/` put at the start of the string value whose
/// opening quote is at `at`; `None` when there is no string there or it
/// starts with `provider/` already.
fn prefixed(text: &[u8], at: usize, provider: &str) -> Option<Bytes> {
    let model = text.get(at + 1..).filter(|_| text.get(at) == Some(&b'"'))?;
    if has_prefix_bytes(model, provider) {
        return None;
    }
    let mut spliced = Vec::with_capacity(text.len() + provider.len() + 1);
    spliced.extend_from_slice(&text[..=at]);
    spliced.extend_from_slice(provider.as_bytes());
    spliced.push(b'/');
    spliced.extend_from_slice(model);
    Some(Bytes::from(spliced))
}

/// [`translate_event`] on the event's text, the way every event took
/// before the single pass: validated by `serde_json`, and the usage chunk
/// parsed into a `Value`.
fn translate_text(data: &str, provider: &str, client_wants_usage: bool) -> StreamItem {
    let data = data.trim();
    if data == "[DONE]" {
        return StreamItem::Done;
    }
    translate_exact(data, provider, client_wants_usage)
}

/// [`translate_event`] for a trimmed event the single pass did not vouch
/// for, or that carries usage: validated by `serde_json`, and the usage
/// chunk parsed into a `Value`.
fn translate_exact(data: &str, provider: &str, client_wants_usage: bool) -> StreamItem {
    // Validated without building a value.
    if !data.starts_with('{') || serde_json::from_str::<serde::de::IgnoredAny>(data).is_err() {
        return StreamItem::Error(MALFORMED_EVENT.to_string());
    }
    if matches!(
        json_keys::value_start(data.as_bytes(), &json_keys::ERROR),
        Some(b'{' | b'"')
    ) {
        return StreamItem::Error(data.to_string());
    }
    let finished = json_keys::value_start(data.as_bytes(), &json_keys::FINISH_REASON) == Some(b'"');
    if json_keys::value_start(data.as_bytes(), &json_keys::USAGE) != Some(b'{') {
        return StreamItem::Chunk {
            data: Some(prefix_model_text(data, provider)),
            usage: None,
            finished,
        };
    }
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(data) else {
        return StreamItem::Chunk {
            data: Some(Bytes::copy_from_slice(data.as_bytes())),
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
        data: serde_json::to_vec(&object).ok().map(Bytes::from),
        usage,
        finished,
    }
}

/// Inserts `provider/` at the start of the first `"model"` string value of
/// a JSON text. Inside JSON strings quotes are escaped, so the first
/// unescaped `"model"` key found is a real key (the top-level one in every
/// chunk providers send).
pub fn prefix_model_text(data: &str, provider: &str) -> Bytes {
    let data = data.as_bytes();
    json_keys::value_offset(data, &json_keys::MODEL)
        .and_then(|at| prefixed(data, at, provider))
        .unwrap_or_else(|| Bytes::copy_from_slice(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the relay made of an event before the single pass: the exact
    /// path, with `prefix_model_text` on every relayed chunk.
    fn exact(data: &[u8], wants_usage: bool) -> StreamItem {
        translate_text(&String::from_utf8_lossy(data), "p", wants_usage)
    }

    fn fast(data: &[u8], wants_usage: bool) -> StreamItem {
        let data = Bytes::copy_from_slice(data);
        translate_event(&data, "p", wants_usage)
    }

    #[test]
    fn the_single_pass_agrees_with_the_exact_path() {
        let events = [
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"h\u00e9 \"model\": x"},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}],"model":"p/m"}"#,
            r#"{"choices":[{"delta":{"content":"x"},"error":"nested"}],"model":"m"}"#,
            r#"{"error":{"message":"overloaded"},"model":"m"}"#,
            r#"{"model":"m","error":null,"choices":[]}"#,
            r#"{"model":7,"x":{"model":"n"}}"#,
            r#"{"x":{"model":"n"},"model":"m"}"#,
            r#"{"model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}"#,
            r#"{"model":"m","choices":[],"usage":null}"#,
            " \t{\"model\":\"m\"}\r\n",
            "{\"model\":\"caf\u{e9}\",\"choices\":[{\"delta\":{\"content\":\"\u{1f600}\"}}]}",
            "[DONE]",
            "\u{a0}[DONE] ",
            "{not json",
            "plain text",
        ];
        // Deeper than the single pass goes: the exact path takes it.
        let deep = format!(
            r#"{{"model":"m","x":{}1{}}}"#,
            "[".repeat(80),
            "]".repeat(80)
        );
        let invalid_utf8 = b"{\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\xffb\"}}]}";
        let mut compared = 0;
        for event in events
            .iter()
            .map(|e| e.as_bytes())
            .chain([&invalid_utf8[..]])
        {
            // Cuts inside a character are invalid UTF-8 too.
            for end in 1..=event.len() {
                let cut = &event[..end];
                for wants_usage in [false, true] {
                    assert_eq!(
                        fast(cut, wants_usage),
                        exact(cut, wants_usage),
                        "{}",
                        String::from_utf8_lossy(cut)
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 1000, "{compared}");
        let StreamItem::Chunk {
            data: Some(data), ..
        } = fast(invalid_utf8, false)
        else {
            panic!("expected a chunk");
        };
        assert!(std::str::from_utf8(&data).unwrap().contains("a\u{fffd}b"));
        let StreamItem::Chunk {
            data: Some(data), ..
        } = fast(deep.as_bytes(), false)
        else {
            panic!("expected a chunk");
        };
        assert!(data.starts_with(br#"{"model":"p/m","x":[[["#));
    }

    #[test]
    fn a_chunk_needing_no_prefix_is_a_slice_of_the_event() {
        let data = Bytes::from_static(br#" {"model":"p/m","choices":[]} "#);
        let StreamItem::Chunk {
            data: Some(out), ..
        } = translate_event(&data, "p", false)
        else {
            panic!("expected a chunk");
        };
        assert_eq!(out, data.slice(1..data.len() - 1));
        assert_eq!(out.as_ptr(), data[1..].as_ptr());
        let data = Bytes::from_static(br#"{"model":"m","x":"\"model\":\"y\""}"#);
        let StreamItem::Chunk {
            data: Some(out), ..
        } = translate_event(&data, "p", false)
        else {
            panic!("expected a chunk");
        };
        assert_eq!(out, &br#"{"model":"p/m","x":"\"model\":\"y\""}"#[..]);
    }
}
