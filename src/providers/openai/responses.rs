//! OpenAI's Responses API passed through (`POST /responses` of a provider
//! that serves it natively): the answer and each stream event go back as
//! the provider sent them, with only the client's `provider/` prefix on
//! `model`; usage and the stream's end are read on the way.

use bytes::Bytes;
use serde_json::{json, Value};

use super::{prefix_model_text, rewrite_response, Rewritten, StreamItem, MALFORMED_EVENT};
use crate::providers::{StreamTranslator, TokenUsage};

/// Path of the Responses API below an OpenAI-compatible base URL.
pub const RESPONSES_PATH: &str = "/responses";

/// A `response` object with `model` prefixed, and the usage it reports
/// (`usage.input_tokens` / `output_tokens`). `None` when the body is not a
/// JSON object.
pub fn rewrite_responses_answer(body: &[u8], provider: &str) -> Option<Rewritten> {
    let mut rewritten = rewrite_response(body, provider)?;
    let value: Value = serde_json::from_slice(body).ok()?;
    rewritten.usage = usage_of(&value["usage"]);
    Some(rewritten)
}

/// `input_tokens` / `output_tokens` of a Responses `usage`.
fn usage_of(usage: &Value) -> TokenUsage {
    let count = |key: &str| usage[key].as_u64().unwrap_or(0);
    TokenUsage {
        prompt_tokens: count("input_tokens"),
        completion_tokens: count("output_tokens"),
    }
}

/// One native Responses stream: each event relayed as sent (its `type`
/// names its SSE event), `model` prefixed; the usage of the terminal
/// `response.completed` / `response.incomplete`. An `error` or
/// `response.failed` event is also the stream's error in OpenAI's
/// `{"error":…}` envelope, so it is judged like a chat stream's: as the
/// first event, it rotates to the next key (and is not relayed); later, it
/// is relayed and then fails the attempt.
pub struct ResponsesStream {
    provider: String,
    /// Some event was relayed.
    relayed: bool,
}

impl ResponsesStream {
    pub fn new(provider: &str) -> ResponsesStream {
        ResponsesStream {
            provider: provider.to_string(),
            relayed: false,
        }
    }
}

impl StreamTranslator for ResponsesStream {
    fn items(&mut self, data: &Bytes, items: &mut Vec<StreamItem>) {
        items.extend(self.translate(&String::from_utf8_lossy(data)));
    }
}

impl ResponsesStream {
    /// What one event (its text) makes.
    fn translate(&mut self, data: &str) -> Vec<StreamItem> {
        let data = data.trim();
        if data == "[DONE]" {
            return vec![StreamItem::Done];
        }
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return vec![StreamItem::Error(MALFORMED_EVENT.to_string())];
        };
        let kind = event["type"].as_str().unwrap_or_default();
        let failed = kind == "response.failed";
        let error = match kind {
            "error" => Some(envelope(event.get("error").unwrap_or(&event))),
            "response.failed" => Some(envelope(&event["response"]["error"])),
            _ => None,
        };
        if let (Some(error), false) = (&error, self.relayed) {
            return vec![StreamItem::Error(error.clone())];
        }
        self.relayed = true;
        let terminal = matches!(kind, "response.completed" | "response.incomplete") || failed;
        let usage = terminal.then(|| usage_of(&event["response"]["usage"]));
        let mut items = vec![StreamItem::Chunk {
            data: Some(prefix_model_text(data, &self.provider)),
            usage,
            finished: terminal,
        }];
        items.push(match error {
            Some(error) => StreamItem::Error(error),
            None if terminal => StreamItem::Done,
            None => return items,
        });
        items
    }
}

/// An OpenAI `{"error":…}` envelope for a Responses error (`code`,
/// `message`, `type`, `param` as the provider gave them).
fn envelope(error: &Value) -> String {
    let text = |key: &str| error[key].as_str().map(str::to_string);
    json!({ "error": {
        "message": text("message").unwrap_or_else(|| error.to_string()),
        "type": text("type").unwrap_or_else(|| "upstream_error".into()),
        "param": text("param"),
        "code": error["code"].clone(),
    }})
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(items: &[StreamItem]) -> (&str, Option<TokenUsage>, bool) {
        match &items[0] {
            StreamItem::Chunk {
                data: Some(data),
                usage,
                finished,
            } => (std::str::from_utf8(data).unwrap(), *usage, *finished),
            other => panic!("not a chunk: {other:?}"),
        }
    }

    #[test]
    fn events_keep_their_bytes_with_model_prefixed() {
        let mut stream = ResponsesStream::new("openai");
        let created = r#"{"type":"response.created","response":{"id":"resp_1","model":"gpt-5"}}"#;
        let items = stream.translate(created);
        assert_eq!(
            chunk(&items).0,
            r#"{"type":"response.created","response":{"id":"resp_1","model":"openai/gpt-5"}}"#
        );
        let delta = r#"{"type":"response.output_text.delta","delta":"\"model\": x"}"#;
        assert_eq!(chunk(&stream.translate(delta)).0, delta);
    }

    #[test]
    fn the_terminal_event_carries_usage_and_ends_the_stream() {
        let mut stream = ResponsesStream::new("openai");
        let done = r#"{"type":"response.completed","response":{"model":"m","usage":{"input_tokens":7,"output_tokens":3}}}"#;
        let items = stream.translate(done);
        let (_, usage, finished) = chunk(&items);
        assert!(finished);
        assert_eq!(
            usage,
            Some(TokenUsage {
                prompt_tokens: 7,
                completion_tokens: 3
            })
        );
        assert_eq!(items[1], StreamItem::Done);
    }

    #[test]
    fn an_early_failure_is_an_openai_error() {
        let mut stream = ResponsesStream::new("openai");
        let failed = r#"{"type":"response.failed","response":{"error":{"code":"rate_limit_exceeded","message":"slow down"}}}"#;
        let StreamItem::Error(data) = &stream.translate(failed)[0] else {
            panic!("not an error");
        };
        let value: Value = serde_json::from_str(data).unwrap();
        assert_eq!(value["error"]["code"], "rate_limit_exceeded");
        assert_eq!(value["error"]["message"], "slow down");
    }

    #[test]
    fn a_later_failure_is_relayed_then_fails_the_stream() {
        let mut stream = ResponsesStream::new("openai");
        stream.translate(r#"{"type":"response.created","response":{"model":"m"}}"#);
        let failed = r#"{"type":"response.failed","response":{"error":{"code":"server_error","message":"boom"}}}"#;
        let items = stream.translate(failed);
        assert!(chunk(&items).2);
        assert!(matches!(&items[1], StreamItem::Error(e) if e.contains("boom")));
    }

    #[test]
    fn an_answer_keeps_its_fields_and_reports_usage() {
        let body = br#"{"id":"resp_1","model":"gpt-5","output":[{"type":"web_search_call"}],"usage":{"input_tokens":5,"output_tokens":2}}"#;
        let rewritten = rewrite_responses_answer(body, "openai").unwrap();
        let value: Value = serde_json::from_slice(&rewritten.body).unwrap();
        assert_eq!(value["model"], "openai/gpt-5");
        assert_eq!(value["output"][0]["type"], "web_search_call");
        assert_eq!(rewritten.usage.prompt_tokens, 5);
        assert_eq!(rewritten.usage.completion_tokens, 2);
    }
}
