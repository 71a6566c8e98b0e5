//! The client's side of a stream from a provider that serves the Responses
//! API natively ([`PassThrough`]): each event goes out as the provider sent
//! it, under its own name; only a stream that breaks gets an event the
//! provider did not send, the closing `response.failed`.

use bytes::Bytes;
use serde_json::{json, Value};

use super::{failed_error, sse_frame};
use crate::inbound::StreamFrames;

/// One passed-through stream. Keeps the latest `response` snapshot and
/// `sequence_number`, for a `response.failed` that continues the stream.
#[derive(Debug, Default)]
pub struct PassThrough {
    last_response: Option<Value>,
    sequence: Option<u64>,
    /// A terminal event went out: nothing follows it.
    done: bool,
}

impl StreamFrames for PassThrough {
    fn chunk(&mut self, data: &str) -> Bytes {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return Bytes::new();
        };
        let name = event["type"].as_str().unwrap_or("message");
        self.done |= matches!(
            name,
            "response.completed" | "response.incomplete" | "response.failed"
        );
        if let Some(n) = event["sequence_number"].as_u64() {
            self.sequence = Some(n);
        }
        if event["response"].is_object() {
            self.last_response = Some(event["response"].clone());
        }
        Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
    }

    /// The relay's `{"error":…}` for a stream that broke: a closing
    /// `response.failed`, unless the provider ended the stream already.
    fn error(&mut self, data: &str) -> Bytes {
        if self.done {
            return Bytes::new();
        }
        self.done = true;
        let parsed: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        let error = parsed.get("error").unwrap_or(&parsed);
        let mut response = self
            .last_response
            .take()
            .unwrap_or_else(|| json!({ "object": "response" }));
        response["status"] = "failed".into();
        response["error"] = failed_error(error);
        let mut event = json!({ "type": "response.failed", "response": response });
        if let Some(n) = self.sequence {
            event["sequence_number"] = (n + 1).into();
        }
        Bytes::from(sse_frame("response.failed", &event))
    }

    fn end(&mut self) -> Bytes {
        Bytes::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_out_under_their_own_names() {
        let mut frames = PassThrough::default();
        let data = r#"{"type":"response.output_text.delta","sequence_number":3,"delta":"hi"}"#;
        assert_eq!(
            frames.chunk(data),
            Bytes::from(format!(
                "event: response.output_text.delta\ndata: {data}\n\n"
            ))
        );
        assert!(frames.end().is_empty());
    }

    #[test]
    fn a_broken_stream_closes_with_response_failed() {
        let mut frames = PassThrough::default();
        frames.chunk(r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress"}}"#);
        let out = frames.error(r#"{"error":{"message":"cut","code":"stream_interrupted"}}"#);
        let text = std::str::from_utf8(&out).unwrap();
        let data: Value = serde_json::from_str(text.split("data: ").nth(1).unwrap()).unwrap();
        assert!(text.starts_with("event: response.failed\n"));
        assert_eq!(data["sequence_number"], 1);
        assert_eq!(data["response"]["id"], "resp_1");
        assert_eq!(data["response"]["status"], "failed");
        assert_eq!(data["response"]["error"]["code"], "server_error");
    }
}
