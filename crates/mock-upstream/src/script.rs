//! Scripted replies ([`Reply`], [`StreamScript`]) and the default bodies the
//! mock answers with when a reply does not carry its own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const DEFAULT_CONTENT: &str = "hello from mock";

// ---------------------------------------------------------------------------
// Reply / StreamScript
// ---------------------------------------------------------------------------

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    /// Explicit JSON body. `None` = the route's default body (2xx) or an
    /// OpenAI-style error body (non-2xx).
    pub body: Option<Value>,
    /// Explicit SSE script. `None` + request `"stream": true` + 2xx status
    /// = default chat stream.
    pub stream: Option<StreamScript>,
}

impl Reply {
    /// 200 with the route's default body.
    pub fn ok() -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            delay: Duration::ZERO,
            body: None,
            stream: None,
        }
    }

    /// `code` with `{"error":{"message":"mock <code>","type":"mock_error","code":<code>}}`.
    pub fn status(code: u16) -> Reply {
        Reply {
            status: code,
            headers: Vec::new(),
            delay: Duration::ZERO,
            body: Some(error_body(code)),
            stream: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    pub fn with_body(mut self, v: Value) -> Reply {
        self.body = Some(v);
        self
    }

    pub fn with_stream(mut self, s: StreamScript) -> Reply {
        self.stream = Some(s);
        self
    }
}

/// A server-sent-events script.
#[derive(Clone, Debug)]
pub struct StreamScript {
    /// The `data:` payloads, without the `"data: "` prefix.
    pub events: Vec<String>,
    /// Sleep between consecutive writes (the first event goes out immediately;
    /// the gap also precedes `[DONE]` / the cut).
    pub gap: Duration,
    /// After this many events, abort the connection (body stream error, no
    /// terminating chunk, no `[DONE]`).
    pub cut_after: Option<usize>,
    pub send_done: bool,
    /// Repeat `events` forever, as fast as the reader takes them.
    pub endless: bool,
}

impl StreamScript {
    /// Realistic OpenAI `chat.completion.chunk` sequence: role chunk, one
    /// content chunk per word, finish chunk (`finish_reason: "stop"`) and, if
    /// `include_usage`, a final `"choices": []` chunk carrying usage.
    pub fn chat(model: &str, words: &[&str], include_usage: bool) -> StreamScript {
        let id = "chatcmpl-mock-stream";
        let created = now_secs();
        let chunk = |choices: Value| {
            let mut v = json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": choices,
            });
            if include_usage {
                v["usage"] = Value::Null;
            }
            v
        };
        let mut events = Vec::with_capacity(words.len() + 3);
        events.push(chunk(json!([{
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": null,
            "finish_reason": null
        }])));
        for w in words {
            events.push(chunk(json!([{
                "index": 0,
                "delta": {"content": w},
                "logprobs": null,
                "finish_reason": null
            }])));
        }
        events.push(chunk(json!([{
            "index": 0,
            "delta": {},
            "logprobs": null,
            "finish_reason": "stop"
        }])));
        if include_usage {
            let completion = words.len() as u64;
            let mut last = chunk(json!([]));
            last["usage"] = json!({
                "prompt_tokens": 10,
                "completion_tokens": completion,
                "total_tokens": 10 + completion,
            });
            events.push(last);
        }
        StreamScript {
            events: events.iter().map(Value::to_string).collect(),
            gap: Duration::ZERO,
            cut_after: None,
            send_done: true,
            endless: false,
        }
    }

    /// OpenAI legacy `text_completion` chunks: one per word, the last with
    /// `finish_reason: "stop"`, then (if `include_usage`) a `"choices": []`
    /// chunk carrying usage.
    pub fn completion(model: &str, words: &[&str], include_usage: bool) -> StreamScript {
        let chunk = |choices: Value| {
            json!({"id": "cmpl-mock-stream", "object": "text_completion", "created": now_secs(),
                   "model": model, "choices": choices})
        };
        let mut events: Vec<Value> = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let finish = (i + 1 == words.len()).then_some("stop");
                chunk(json!([{"text": w, "index": 0, "logprobs": null, "finish_reason": finish}]))
            })
            .collect();
        if include_usage {
            let completion = words.len() as u64;
            let mut last = chunk(json!([]));
            last["usage"] = json!({"prompt_tokens": 3, "completion_tokens": completion,
                                   "total_tokens": 3 + completion});
            events.push(last);
        }
        StreamScript::raw(events.iter().map(Value::to_string).collect())
    }

    /// Arbitrary raw payloads (each becomes `data: <payload>\n\n`, or
    /// `<payload>\n\n` when it starts with `event:`).
    pub fn raw(events: Vec<String>) -> StreamScript {
        StreamScript {
            events,
            gap: Duration::ZERO,
            cut_after: None,
            send_done: true,
            endless: false,
        }
    }

    /// `event` over and over, never ending.
    pub fn endless(event: String) -> StreamScript {
        StreamScript {
            endless: true,
            ..StreamScript::raw(vec![event])
        }
    }

    pub fn with_gap(mut self, d: Duration) -> Self {
        self.gap = d;
        self
    }

    pub fn cut_after(mut self, n: usize) -> Self {
        self.cut_after = Some(n);
        self
    }

    pub fn without_done(mut self) -> Self {
        self.send_done = false;
        self
    }
}

// ---------------------------------------------------------------------------
// Default bodies
// ---------------------------------------------------------------------------

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `{"error":{"message":"mock <code>","type":"mock_error","code":<code>}}`
pub fn error_body(code: u16) -> Value {
    json!({"error": {"message": format!("mock {code}"), "type": "mock_error", "code": code}})
}

pub fn default_chat_body(model: &str) -> Value {
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": now_secs(),
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": DEFAULT_CONTENT},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

/// A legacy `text_completion` answer.
pub fn default_completion_body(model: &str) -> Value {
    json!({
        "id": "cmpl-mock",
        "object": "text_completion",
        "created": now_secs(),
        "model": model,
        "choices": [{"text": DEFAULT_CONTENT, "index": 0, "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    })
}

pub fn default_embeddings_body(model: &str, request: &Value) -> Value {
    let n = match request.get("input") {
        Some(Value::Array(a)) => a.len(),
        _ => 1,
    };
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": 4, "total_tokens": 4}
    })
}
