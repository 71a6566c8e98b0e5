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
/// The common answer is checked by one pass over its bytes that builds
/// nothing and goes out as the provider wrote it, with `provider/` inserted
/// into the top-level `model` string. Anything that pass does not vouch
/// for (an invalid body, escapes in a top-level name or in `model`, a
/// repeated `model`) takes the exact path: parse into a `Value`, prefix,
/// re-encode.
pub fn rewrite_response(body: &[u8], provider: &str) -> Option<Rewritten> {
    let Some(answer) = answer::scan(body) else {
        return rewrite_response_value(body, provider);
    };
    let usage = answer.usage;
    let body = match answer.model {
        Some(model) if !has_prefix_bytes(&body[model.clone()], provider) => {
            let at = model.start;
            let mut out = Vec::with_capacity(body.len() + provider.len() + 1);
            out.extend_from_slice(&body[..at]);
            out.extend_from_slice(provider.as_bytes());
            out.push(b'/');
            out.extend_from_slice(&body[at..]);
            out
        }
        _ => body.to_vec(),
    };
    Some(Rewritten { body, usage })
}

pub use answer::Request as PlainRequest;

/// The client's request, if its top level is plain enough to be forwarded
/// as sent with only `model` replaced (see [`with_model`]): a valid JSON
/// object — exactly as `serde_json` would accept it — with no escaped or
/// repeated member names, whose `model` is a string without escapes.
pub fn plain_request(body: &[u8]) -> Option<PlainRequest> {
    answer::scan_request(body)
}

/// A plain request (see [`plain_request`]) with the text of `model`
/// replaced by `upstream_model`: what [`prepare_request`] makes of a
/// non-streaming request, without parsing and re-encoding it. `None` if
/// `upstream_model` would need escaping.
pub fn with_model(body: &[u8], request: &PlainRequest, upstream_model: &str) -> Option<Vec<u8>> {
    if upstream_model
        .bytes()
        .any(|c| c < 0x20 || c == b'"' || c == b'\\')
    {
        return None;
    }
    let text = request.model.clone();
    let mut out = Vec::with_capacity(body.len() - text.len() + upstream_model.len());
    out.extend_from_slice(&body[..text.start]);
    out.extend_from_slice(upstream_model.as_bytes());
    out.extend_from_slice(&body[text.end..]);
    Some(out)
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
    has_prefix_bytes(model.as_bytes(), provider)
}

fn has_prefix_bytes(model: &[u8], provider: &str) -> bool {
    model
        .strip_prefix(provider.as_bytes())
        .is_some_and(|rest| rest.starts_with(b"/"))
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

/// A single pass over a JSON answer: validates it as strictly as
/// `serde_json` parsing it into a `Value` would, and notes where the
/// top-level `model` string and `usage` value are.
///
/// It may refuse what `serde_json` accepts (escaped member names, unusual
/// `model`), since the caller then takes the exact path; it must never
/// accept what `serde_json` refuses. The tests check this against
/// `serde_json` on many generated bodies.
mod answer {
    use std::ops::Range;

    use serde_json::Value;

    use crate::providers::TokenUsage;

    /// `serde_json`'s nesting limit: the 128th nested array or object fails.
    const MAX_DEPTH: usize = 128;

    /// A valid answer whose top level is plain.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Answer {
        /// The text of the top-level `model` string.
        pub model: Option<Range<usize>>,
        /// From the last top-level `usage`, as [`super::usage_of`] reads it.
        pub usage: TokenUsage,
    }

    /// `None` when the body is invalid, or valid but not plain enough (see
    /// the module's doc): the caller then parses it fully.
    pub fn scan(body: &[u8]) -> Option<Answer> {
        let mut answer = Answer {
            model: None,
            usage: TokenUsage::default(),
        };
        let mut model_seen = false;
        top_level(body, |name, s| {
            match name {
                b"model" => {
                    if model_seen {
                        return None;
                    }
                    model_seen = true;
                    answer.model = s.plain_string()?;
                }
                b"usage" => answer.usage = s.usage()?,
                _ => s.value(1)?,
            }
            Some(())
        })?;
        Some(answer)
    }

    /// A client's request whose top level is plain: no escaped or repeated
    /// member names, `model` a string without escapes.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Request {
        /// The text of `model`.
        pub model: Range<usize>,
        /// `stream`: `Some(false)` when absent or null, `None` when not a
        /// boolean.
        pub stream: Option<bool>,
    }

    /// `None` when the body is invalid or not plain (see [`Request`]).
    pub fn scan_request(body: &[u8]) -> Option<Request> {
        let mut names: Vec<&[u8]> = Vec::new();
        let mut model = None;
        let mut stream = Some(false);
        top_level(body, |name, s| {
            if names.contains(&name) {
                return None;
            }
            names.push(name);
            match name {
                b"model" => model = Some(s.plain_string()??),
                b"stream" => {
                    stream = match s.peek()? {
                        b't' => Some(true),
                        b'f' => Some(false),
                        b'n' => Some(false),
                        _ => None,
                    };
                    s.value(1)?;
                }
                _ => s.value(1)?,
            }
            Some(())
        })?;
        Some(Request {
            model: model?,
            stream,
        })
    }

    /// Walks the top-level object of `body`, handing each member's name to
    /// `member` with the scanner at its value, which `member` must consume.
    /// `None` when the body is invalid, is not an object, has an escaped
    /// member name, or `member` refuses.
    fn top_level<'a>(
        body: &'a [u8],
        mut member: impl FnMut(&'a [u8], &mut Scanner<'a>) -> Option<()>,
    ) -> Option<()> {
        let mut s = Scanner { b: body, i: 0 };
        s.ws();
        s.eat(b'{')?;
        s.ws();
        if s.peek()? == b'}' {
            s.i += 1;
        } else {
            loop {
                let (name, escaped) = s.string()?;
                if escaped {
                    return None;
                }
                s.ws();
                s.eat(b':')?;
                s.ws();
                member(&body[name], &mut s)?;
                s.ws();
                match s.next()? {
                    b',' => s.ws(),
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        s.ws();
        (s.i == body.len()).then_some(())
    }

    struct Scanner<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl Scanner<'_> {
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }

        fn next(&mut self) -> Option<u8> {
            let c = self.peek()?;
            self.i += 1;
            Some(c)
        }

        fn eat(&mut self, c: u8) -> Option<()> {
            (self.next()? == c).then_some(())
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
                self.i += 1;
            }
        }

        /// One value; `depth` counts the arrays and objects around it.
        fn value(&mut self, depth: usize) -> Option<()> {
            match self.peek()? {
                b'"' => self.string().map(drop),
                b'{' => self.object(depth + 1),
                b'[' => self.array(depth + 1),
                b't' => self.literal(b"true"),
                b'f' => self.literal(b"false"),
                b'n' => self.literal(b"null"),
                b'-' | b'0'..=b'9' => self.number(),
                _ => None,
            }
        }

        fn object(&mut self, depth: usize) -> Option<()> {
            if depth >= MAX_DEPTH {
                return None;
            }
            self.i += 1;
            self.ws();
            if self.peek()? == b'}' {
                self.i += 1;
                return Some(());
            }
            loop {
                self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                self.value(depth)?;
                self.ws();
                match self.next()? {
                    b',' => self.ws(),
                    b'}' => return Some(()),
                    _ => return None,
                }
            }
        }

        fn array(&mut self, depth: usize) -> Option<()> {
            if depth >= MAX_DEPTH {
                return None;
            }
            self.i += 1;
            self.ws();
            if self.peek()? == b']' {
                self.i += 1;
                return Some(());
            }
            loop {
                self.value(depth)?;
                self.ws();
                match self.next()? {
                    b',' => self.ws(),
                    b']' => return Some(()),
                    _ => return None,
                }
            }
        }

        /// A value at the top level: `Some(Some(text))` for a string
        /// without escapes, `Some(None)` for a value that is not a string,
        /// `None` for a string with escapes (or an invalid value).
        fn plain_string(&mut self) -> Option<Option<Range<usize>>> {
            if self.peek()? != b'"' {
                self.value(1)?;
                return Some(None);
            }
            let (text, escaped) = self.string()?;
            (!escaped).then_some(Some(text))
        }

        /// A string at `"`: the range of its text and whether it has
        /// escapes.
        fn string(&mut self) -> Option<(Range<usize>, bool)> {
            self.eat(b'"')?;
            let start = self.i;
            let (mut escaped, mut ascii) = (false, true);
            loop {
                ascii &= self.skip_plain();
                match self.next()? {
                    b'"' => {
                        let text = start..self.i - 1;
                        // Outside strings the grammar admits only ASCII, so
                        // this is the body's whole UTF-8 check.
                        if !ascii {
                            std::str::from_utf8(&self.b[text.clone()]).ok()?;
                        }
                        return Some((text, escaped));
                    }
                    b'\\' => {
                        escaped = true;
                        self.escape()?;
                    }
                    // A control character.
                    _ => return None,
                }
            }
        }

        /// Moves to the next `"`, `\` or control character (or the end);
        /// `false` if the bytes passed may include non-ASCII ones. Eight
        /// bytes at a time, as `serde_json` does.
        fn skip_plain(&mut self) -> bool {
            const ONES: u64 = u64::MAX / 255;
            const TOP: u64 = ONES << 7;
            let mut seen = 0u64;
            for chunk in self.b[self.i..].chunks_exact(8) {
                let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
                    break;
                };
                let word = u64::from_le_bytes(bytes);
                seen |= word;
                let control = word.wrapping_sub(ONES * 0x20) & !word;
                let quote = word ^ (ONES * u64::from(b'"'));
                let quote = quote.wrapping_sub(ONES) & !quote;
                let backslash = word ^ (ONES * u64::from(b'\\'));
                let backslash = backslash.wrapping_sub(ONES) & !backslash;
                let found = (control | quote | backslash) & TOP;
                if found != 0 {
                    // The lowest flagged byte is a true match.
                    self.i += found.trailing_zeros() as usize / 8;
                    return seen & TOP == 0;
                }
                self.i += 8;
            }
            while let Some(&c) = self.b.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                seen |= u64::from(c);
                self.i += 1;
            }
            seen & TOP == 0
        }

        /// The rest of an escape after `\`. Surrogates must pair up.
        fn escape(&mut self) -> Option<()> {
            match self.next()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
                b'u' => match self.hex4()? {
                    0xD800..=0xDBFF => {
                        self.eat(b'\\')?;
                        self.eat(b'u')?;
                        matches!(self.hex4()?, 0xDC00..=0xDFFF).then_some(())
                    }
                    0xDC00..=0xDFFF => None,
                    _ => Some(()),
                },
                _ => None,
            }
        }

        fn hex4(&mut self) -> Option<u16> {
            let mut n = 0u16;
            for _ in 0..4 {
                let digit = char::from(self.next()?).to_digit(16)?;
                n = n << 4 | u16::try_from(digit).ok()?;
            }
            Some(n)
        }

        /// A top-level `usage` value: its `prompt_tokens` and
        /// `completion_tokens` as `Value::as_u64` reads them (0 when absent
        /// or not a non-negative integer that fits), the last occurrence
        /// counting. `None` for escaped member names.
        fn usage(&mut self) -> Option<TokenUsage> {
            let mut usage = TokenUsage::default();
            if self.peek()? != b'{' {
                self.value(1)?;
                return Some(usage);
            }
            self.i += 1;
            self.ws();
            if self.peek()? == b'}' {
                self.i += 1;
                return Some(usage);
            }
            loop {
                let (name, escaped) = self.string()?;
                if escaped {
                    return None;
                }
                self.ws();
                self.eat(b':')?;
                self.ws();
                let at = self.i;
                self.value(2)?;
                let field = match &self.b[name] {
                    b"prompt_tokens" => Some(&mut usage.prompt_tokens),
                    b"completion_tokens" => Some(&mut usage.completion_tokens),
                    _ => None,
                };
                if let Some(field) = field {
                    let text = &self.b[at..self.i];
                    *field = if text.iter().all(u8::is_ascii_digit) {
                        std::str::from_utf8(text)
                            .ok()
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(0)
                    } else {
                        0
                    };
                }
                self.ws();
                match self.next()? {
                    b',' => self.ws(),
                    b'}' => return Some(usage),
                    _ => return None,
                }
            }
        }

        fn literal(&mut self, word: &[u8]) -> Option<()> {
            let end = self.i + word.len();
            (self.b.get(self.i..end)? == word).then(|| self.i = end)
        }

        /// A number in JSON's grammar. One that might not fit an `f64`
        /// (an exponent, or many digits) is also parsed, as `serde_json`
        /// refuses those.
        fn number(&mut self) -> Option<()> {
            let start = self.i;
            if self.peek() == Some(b'-') {
                self.i += 1;
            }
            match self.next()? {
                b'0' => {
                    if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        return None;
                    }
                }
                b'1'..=b'9' => self.digits(),
                _ => return None,
            }
            if self.peek() == Some(b'.') {
                self.i += 1;
                self.digit()?;
                self.digits();
            }
            let mut exponent = false;
            if matches!(self.peek(), Some(b'e' | b'E')) {
                exponent = true;
                self.i += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.i += 1;
                }
                self.digit()?;
                self.digits();
            }
            if exponent || self.i - start > 18 {
                serde_json::from_slice::<Value>(&self.b[start..self.i]).ok()?;
            }
            Some(())
        }

        fn digit(&mut self) -> Option<()> {
            self.next()?.is_ascii_digit().then_some(())
        }

        fn digits(&mut self) {
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
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
    fn plain_answers_take_the_fast_path() {
        for body in [
            r#"{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"hello from mock","role":"assistant"}}],"created":1795564098,"id":"chatcmpl-mock","model":"bench","object":"chat.completion","system_fingerprint":"fp_mock","usage":{"completion_tokens":5,"prompt_tokens":10,"total_tokens":15}}"#,
            " {\"a\" : [ 1 , -2.5e-3 , \"x\\\"y\\u00e9\\ud83d\\ude00\" ] ,\n\"model\":\"m\"}\t",
            r#"{}"#,
        ] {
            assert!(answer::scan(body.as_bytes()).is_some(), "{body}");
        }
        for body in [
            r#"{"model":"m\u0031"}"#,
            r#"{"mod\u0065l":"m"}"#,
            r#"{"model":"a","model":"b"}"#,
            r#"[]"#,
            r#"{"a":1e400}"#,
        ] {
            assert!(answer::scan(body.as_bytes()).is_none(), "{body}");
        }
    }

    #[test]
    fn nesting_limit_is_serde_json_s() {
        for depth in 125..=130 {
            let body = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
            let full = serde_json::from_str::<Value>(&body).is_ok();
            let fast = answer::scan(body.as_bytes()).is_some();
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
        let alphabet: &[u8] =
            b"{}[]\":,\\/u0129efdDABCE.+-tnrlsa \n\t\x00\x1f\x7f\xc3\xa9\xed\xa0\x80";
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
            if answer::scan(&body).is_none() {
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

    /// Like the answers' test: a request the scan accepts parses, and the
    /// spliced body is the value `prepare_request` would send.
    #[test]
    fn plain_requests_agree_with_a_full_parse_on_generated_bodies() {
        let seeds: [&[u8]; 3] = [
            br#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"a\"b\\c\u00e9\ud83d\ude00"}],"temperature":0.7,"n":1,"stream":false}"#,
            br#" { "stream" : null , "model" : "p/m" , "input" : [ "x" , 1e5 , -0 , [ { } ] ] } "#,
            "{\"model\":\"p/\u{5e0c}\u{671b}\",\"messages\":[{\"content\":\"\u{4f60}\u{597d}\"}],\"stream\":true}".as_bytes(),
        ];
        let alphabet: &[u8] =
            b"{}[]\":,\\/u0129efdDABCE.+-tnrlsa \n\t\x00\x1f\x7f\xc3\xa9\xed\xa0\x80";
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
