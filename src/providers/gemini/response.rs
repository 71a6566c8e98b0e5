//! Gemini answers → OpenAI answers: chat completions, stream chunks and
//! embeddings.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::api_error;

/// Gemini `GenerateContentResponse` → OpenAI `chat.completion`. `model` is
/// copied as given; the id is `chatcmpl-<responseId>` when Gemini sent one.
/// Thought parts go to `message.reasoning_content`, not `content`. A prompt
/// blocked before any candidate gives one empty `content_filter` choice.
/// `Err` for a Gemini error body or an answer with nothing to convert.
pub fn chat_response(gemini: &Value, model: &str, created: u64) -> Result<Value, String> {
    if let Some(error) = api_error(gemini) {
        return Err(error.to_string());
    }
    let answer = gemini
        .as_object()
        .ok_or("the Gemini answer is not a JSON object")?;
    let candidates = answer.get("candidates").and_then(Value::as_array);
    let mut choices = Vec::new();
    for (position, candidate) in candidates.into_iter().flatten().enumerate() {
        let index = candidate_index(candidate, position);
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut calls = Vec::new();
        for piece in pieces(candidate) {
            match piece {
                Piece::Text(t) => text.push_str(&t),
                Piece::Thought(t) => reasoning.push_str(&t),
                Piece::Call(name, args) => calls.push(tool_call(index, calls.len(), name, &args)),
            }
        }
        let reason = finish_reason(candidate, !calls.is_empty()).unwrap_or("stop");
        let mut message = Map::new();
        message.insert("role".into(), "assistant".into());
        let content = if text.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            Value::String(text)
        };
        message.insert("content".into(), content);
        if !calls.is_empty() {
            message.insert("tool_calls".into(), Value::Array(calls));
        }
        if !reasoning.is_empty() {
            message.insert("reasoning_content".into(), Value::String(reasoning));
        }
        choices.push(json!({ "index": index, "message": message, "finish_reason": reason }));
    }
    if choices.is_empty() {
        if block_reason(gemini).is_none() {
            return Err("the Gemini answer has no candidates".into());
        }
        choices.push(json!({
            "index": 0,
            "message": { "role": "assistant", "content": "" },
            "finish_reason": "content_filter",
        }));
    }
    let mut out = Map::new();
    out.insert("id".into(), completion_id(gemini, created).into());
    out.insert("object".into(), "chat.completion".into());
    out.insert("created".into(), created.into());
    out.insert("model".into(), model.into());
    out.insert("choices".into(), Value::Array(choices));
    if let Some(usage) = usage(gemini.get("usageMetadata")) {
        out.insert("usage".into(), usage);
    }
    Ok(Value::Object(out))
}

/// Turns the events of one `streamGenerateContent?alt=sse` call into
/// OpenAI `chat.completion.chunk`s. Keep one per stream.
#[derive(Clone, Debug)]
pub struct StreamState {
    id: Option<String>,
    created: u64,
    model: String,
    choices: BTreeMap<u64, ChoiceState>,
}

/// What was already sent for one choice.
#[derive(Clone, Debug, Default)]
struct ChoiceState {
    role_sent: bool,
    tool_calls: usize,
}

impl StreamState {
    /// A fresh stream whose chunks carry `model` as given and `created`.
    pub fn new(model: &str, created: u64) -> StreamState {
        StreamState {
            id: None,
            created,
            model: model.to_string(),
            choices: BTreeMap::new(),
        }
    }

    /// One Gemini event (one SSE `data:` payload, parsed) → zero or more
    /// chunks: text as `delta.content`, thoughts as
    /// `delta.reasoning_content`, each function call as one
    /// `delta.tool_calls` entry, the finish reason as its own chunk, and,
    /// on an event that finishes a choice, the usage as a `"choices": []`
    /// chunk (Gemini's counts are cumulative: the last such chunk is the
    /// total).
    /// The first chunk of a choice carries `role: "assistant"`. A Gemini
    /// error event becomes one OpenAI-style `{"error": {...}}` object that
    /// keeps Gemini's `details` (the quota that ran out, `RetryInfo`), so
    /// the failure is classified as precisely as a non-streaming one.
    pub fn chunks(&mut self, gemini_event: &Value) -> Vec<Value> {
        if let Some(error) = api_error(gemini_event) {
            let mut event = json!({ "error": {
                "message": error.message,
                "type": error.status,
                "code": error.code,
            } });
            let raw = match gemini_event {
                Value::Array(items) => items.first().unwrap_or(&Value::Null),
                other => other,
            };
            if let Some(details) = raw["error"].get("details") {
                event["error"]["details"] = details.clone();
            }
            return vec![event];
        }
        if self.id.is_none() {
            self.id = Some(completion_id(gemini_event, self.created));
        }
        let mut out = Vec::new();
        let mut finished = false;
        let candidates = gemini_event.get("candidates").and_then(Value::as_array);
        for (position, candidate) in candidates.into_iter().flatten().enumerate() {
            let index = candidate_index(candidate, position);
            for piece in merged(pieces(candidate)) {
                let delta = match piece {
                    Piece::Text(text) => json!({ "content": text }),
                    Piece::Thought(text) => json!({ "reasoning_content": text }),
                    Piece::Call(name, args) => {
                        let n = self.choice(index).tool_calls;
                        self.choice(index).tool_calls += 1;
                        let mut call = tool_call(index, n, name, &args);
                        if let Some(object) = call.as_object_mut() {
                            object.insert("index".into(), n.into());
                        }
                        json!({ "tool_calls": [call] })
                    }
                };
                out.push(self.chunk(index, delta, None));
            }
            let has_calls = self.choice(index).tool_calls > 0;
            if let Some(reason) = finish_reason(candidate, has_calls) {
                finished = true;
                out.push(self.chunk(index, json!({}), Some(reason)));
            }
        }
        if out.is_empty() && block_reason(gemini_event).is_some() {
            finished = true;
            out.push(self.chunk(0, json!({ "content": "" }), Some("content_filter")));
        }
        if finished {
            if let Some(usage) = usage(gemini_event.get("usageMetadata")) {
                let mut chunk = self.envelope(Vec::new());
                chunk.insert("usage".into(), usage);
                out.push(Value::Object(chunk));
            }
        }
        out
    }

    fn choice(&mut self, index: u64) -> &mut ChoiceState {
        self.choices.entry(index).or_default()
    }

    fn chunk(&mut self, index: u64, mut delta: Value, finish: Option<&str>) -> Value {
        let state = self.choice(index);
        if !state.role_sent {
            state.role_sent = true;
            if let Some(delta) = delta.as_object_mut() {
                delta.insert("role".into(), "assistant".into());
                delta.entry("content").or_insert(Value::Null);
            }
        }
        let choice = json!({ "index": index, "delta": delta, "finish_reason": finish });
        Value::Object(self.envelope(vec![choice]))
    }

    fn envelope(&self, choices: Vec<Value>) -> Map<String, Value> {
        let mut chunk = Map::new();
        chunk.insert("id".into(), self.id.clone().unwrap_or_default().into());
        chunk.insert("object".into(), "chat.completion.chunk".into());
        chunk.insert("created".into(), self.created.into());
        chunk.insert("model".into(), self.model.clone().into());
        chunk.insert("choices".into(), Value::Array(choices));
        chunk
    }
}

/// Gemini `embedContent` or `batchEmbedContents` answer → OpenAI embeddings
/// list. Gemini reports no token counts, so usage is zero.
pub fn embeddings_response(gemini: &Value, model: &str) -> Result<Value, String> {
    if let Some(error) = api_error(gemini) {
        return Err(error.to_string());
    }
    let embeddings: Vec<&Value> = if let Some(one) = gemini.get("embedding") {
        vec![one]
    } else if let Some(many) = gemini.get("embeddings").and_then(Value::as_array) {
        many.iter().collect()
    } else {
        return Err("the Gemini answer has no `embedding` or `embeddings`".into());
    };
    let data = embeddings
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| {
            let values = embedding
                .get("values")
                .filter(|v| v.is_array())
                .ok_or_else(|| format!("embedding {index} has no `values`"))?;
            Ok(json!({ "object": "embedding", "index": index, "embedding": values }))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": 0, "total_tokens": 0 },
    }))
}

/// One meaningful part of a candidate, in order.
enum Piece {
    Text(String),
    Thought(String),
    Call(String, Value),
}

/// Text, thought and function-call parts; others (code execution, inline
/// images) are skipped, and so is empty text.
fn pieces(candidate: &Value) -> Vec<Piece> {
    let parts = candidate
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array);
    let mut out = Vec::new();
    for part in parts.into_iter().flatten() {
        if let Some(call) = part.get("functionCall") {
            let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            out.push(Piece::Call(name.to_string(), args));
        } else if let Some(text) = part
            .get("text")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                out.push(Piece::Thought(text.to_string()));
            } else {
                out.push(Piece::Text(text.to_string()));
            }
        }
    }
    out
}

/// Joins neighbouring text (and neighbouring thought) pieces.
fn merged(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match (out.last_mut(), piece) {
            (Some(Piece::Text(last)), Piece::Text(more)) => last.push_str(&more),
            (Some(Piece::Thought(last)), Piece::Thought(more)) => last.push_str(&more),
            (_, piece) => out.push(piece),
        }
    }
    out
}

fn tool_call(choice: u64, n: usize, name: String, args: &Value) -> Value {
    let arguments = serde_json::to_string(args).unwrap_or_else(|_| "{}".into());
    json!({
        "id": format!("call_{choice}_{n}"),
        "type": "function",
        "function": { "name": name, "arguments": arguments },
    })
}

fn candidate_index(candidate: &Value, position: usize) -> u64 {
    candidate
        .get("index")
        .and_then(Value::as_u64)
        .unwrap_or(position as u64)
}

/// The OpenAI finish reason of a candidate that has finished, else `None`.
fn finish_reason(candidate: &Value, has_calls: bool) -> Option<&'static str> {
    let reason = candidate.get("finishReason").and_then(Value::as_str)?;
    Some(match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ if has_calls => "tool_calls",
        _ => "stop",
    })
}

fn block_reason(gemini: &Value) -> Option<&str> {
    gemini
        .get("promptFeedback")
        .and_then(|f| f.get("blockReason"))
        .and_then(Value::as_str)
}

fn completion_id(gemini: &Value, created: u64) -> String {
    match gemini.get("responseId").and_then(Value::as_str) {
        Some(id) => format!("chatcmpl-{id}"),
        None => format!("chatcmpl-gemini-{created}"),
    }
}

/// `usageMetadata` → OpenAI `usage`. Completion tokens include thoughts;
/// prompt tokens include tool-use prompt tokens.
fn usage(metadata: Option<&Value>) -> Option<Value> {
    let metadata = metadata?.as_object()?;
    let count = |key: &str| metadata.get(key).and_then(Value::as_u64);
    let prompt = count("promptTokenCount")
        .unwrap_or(0)
        .saturating_add(count("toolUsePromptTokenCount").unwrap_or(0));
    let thoughts = count("thoughtsTokenCount");
    let completion = count("candidatesTokenCount")
        .unwrap_or(0)
        .saturating_add(thoughts.unwrap_or(0));
    let total = count("totalTokenCount").unwrap_or(prompt.saturating_add(completion));
    let mut usage = Map::new();
    usage.insert("prompt_tokens".into(), prompt.into());
    usage.insert("completion_tokens".into(), completion.into());
    usage.insert("total_tokens".into(), total.into());
    if let Some(cached) = count("cachedContentTokenCount") {
        usage.insert(
            "prompt_tokens_details".into(),
            json!({ "cached_tokens": cached }),
        );
    }
    if let Some(thoughts) = thoughts {
        usage.insert(
            "completion_tokens_details".into(),
            json!({ "reasoning_tokens": thoughts }),
        );
    }
    Some(Value::Object(usage))
}
