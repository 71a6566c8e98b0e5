//! The client's side of the single pass: a request whose top level is
//! plain enough to forward with only `model` replaced, and whether its
//! `messages` (chat) or `prompt`/`input` (completions, embeddings) has the
//! shape such a request needs.

use std::ops::Range;

use super::{top_level, Scanner};

/// A client's request whose top level is plain: no escaped or repeated
/// member names, `model` a string without escapes.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// The text of `model`.
    pub model: Range<usize>,
    /// `stream`: `Some(false)` when absent or null, `None` when not a
    /// boolean.
    pub stream: Option<bool>,
    /// `messages` is a non-empty array of objects with a string `role`
    /// each and no escaped member names: the shape a chat request must
    /// have. `false` leaves the judgement to the general path.
    pub messages: bool,
    /// `prompt` is a string or a non-empty array of strings (other shapes
    /// OpenAI accepts take the general path).
    pub prompt: bool,
    /// `input`, likewise.
    pub input: bool,
}

/// Top-level members a plain request may have. Real requests have a
/// handful; a body with more takes the general path (linear in its size),
/// so the duplicate check below stays cheap.
const MAX_REQUEST_MEMBERS: usize = 64;

/// `None` when the body is invalid or not plain (see [`Request`]).
pub fn scan_request(body: &[u8]) -> Option<Request> {
    let mut names: Vec<&[u8]> = Vec::new();
    let mut model = None;
    let mut stream = Some(false);
    let mut messages = false;
    let (mut prompt, mut input) = (false, false);
    top_level(body, |name, s| {
        if names.len() >= MAX_REQUEST_MEMBERS || names.contains(&name) {
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
            b"messages" => messages = s.messages()?,
            b"prompt" => prompt = s.texts()?,
            b"input" => input = s.texts()?,
            _ => s.value(1)?,
        }
        Some(())
    })?;
    Some(Request {
        model: model?,
        stream,
        messages,
        prompt,
        input,
    })
}

impl Scanner<'_> {
    /// A top-level `messages` value, validated like any value in the same
    /// pass: `Some(true)` when it has the shape of [`Request::messages`].
    fn messages(&mut self) -> Option<bool> {
        self.non_empty_array_of(Self::message)
    }

    /// A top-level `prompt` or `input` value, validated like any value:
    /// `Some(true)` when it is a string or a non-empty array of strings.
    fn texts(&mut self) -> Option<bool> {
        if self.peek()? == b'"' {
            self.value(1)?;
            return Some(true);
        }
        self.non_empty_array_of(|s| {
            let string = s.peek()? == b'"';
            s.value(2)?;
            Some(string)
        })
    }

    /// A top-level value, validated like any value: `Some(true)` when it
    /// is a non-empty array whose every element `element` (which scans it)
    /// judged well shaped.
    fn non_empty_array_of(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Option<bool>,
    ) -> Option<bool> {
        if self.peek()? != b'[' {
            self.value(1)?;
            return Some(false);
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(false);
        }
        let mut shaped = true;
        loop {
            shaped &= element(self)?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b']' => return Some(shaped),
                _ => return None,
            }
        }
    }

    /// One element of `messages` (depth 3 when an object): `Some(true)`
    /// when it is an object whose last `role` (the one `serde_json` keeps)
    /// is a string and no member name is escaped.
    fn message(&mut self) -> Option<bool> {
        if self.peek()? != b'{' {
            self.value(2)?;
            return Some(false);
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(false);
        }
        let (mut role_is_string, mut plain_names) = (false, true);
        loop {
            let (name, escaped) = self.string()?;
            plain_names &= !escaped;
            self.ws();
            self.eat(b':')?;
            self.ws();
            if &self.b[name] == b"role" {
                role_is_string = self.peek()? == b'"';
            }
            self.value(3)?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b'}' => return Some(role_is_string && plain_names),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    fn shaped_like_serde(body: &Map<String, Value>) -> bool {
        body.get("messages")
            .and_then(Value::as_array)
            .is_some_and(|m| {
                !m.is_empty()
                    && m.iter()
                        .all(|m| m.get("role").is_some_and(Value::is_string))
            })
    }

    #[test]
    fn plain_requests_note_whether_messages_have_the_chat_shape() {
        let shaped = |body: &str| scan_request(body.as_bytes()).map(|p| p.messages);
        for (body, expected) in [
            (
                r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
                true,
            ),
            (
                r#"{"model":"m","messages":[{"content":[1,{"a":"b"}],"role":"user"},{"role":"x"}]}"#,
                true,
            ),
            (
                r#"{"model":"m","messages":[{"role":1,"role":"user"}]}"#,
                true,
            ),
            (r#"{"model":"m"}"#, false),
            (r#"{"model":"m","messages":[]}"#, false),
            (r#"{"model":"m","messages":{}}"#, false),
            (r#"{"model":"m","messages":["hi"]}"#, false),
            (r#"{"model":"m","messages":[{}]}"#, false),
            (
                r#"{"model":"m","messages":[{"role":"user"},{"content":"x"}]}"#,
                false,
            ),
            (r#"{"model":"m","messages":[{"role":null}]}"#, false),
            (
                r#"{"model":"m","messages":[{"role":"user","role":2}]}"#,
                false,
            ),
            (r#"{"model":"m","messages":[{"r\u006fle":"user"}]}"#, false),
        ] {
            assert_eq!(shaped(body), Some(expected), "{body}");
            let full: Map<String, Value> = serde_json::from_str(body).unwrap();
            assert!(!expected || shaped_like_serde(&full), "{body}");
        }
        // Still a full validation of the value.
        for body in [
            r#"{"model":"m","messages":[{"role":"user"}"#,
            r#"{"model":"m","messages":[{"role":"user",}]}"#,
            r#"{"model":"m","messages":[{"role":"user"},]}"#,
            r#"{"model":"m","messages":[{"role":"us\x"}]}"#,
        ] {
            assert_eq!(shaped(body), None, "{body}");
        }
    }

    #[test]
    fn plain_requests_note_whether_prompt_and_input_are_text() {
        let texts = |body: &str| scan_request(body.as_bytes()).map(|p| (p.prompt, p.input));
        for (body, expected) in [
            (r#"{"model":"m","prompt":"hi"}"#, (true, false)),
            (r#"{"model":"m","input":["a","b"]}"#, (false, true)),
            (r#"{"model":"m","prompt":"a","input":"b"}"#, (true, true)),
            (r#"{"model":"m"}"#, (false, false)),
            (r#"{"model":"m","input":[]}"#, (false, false)),
            (r#"{"model":"m","input":[{}]}"#, (false, false)),
            (r#"{"model":"m","input":["a",1]}"#, (false, false)),
            (r#"{"model":"m","input":[1,2]}"#, (false, false)),
            (r#"{"model":"m","prompt":null}"#, (false, false)),
            (r#"{"model":"m","prompt":{"a":"b"}}"#, (false, false)),
        ] {
            assert_eq!(texts(body), Some(expected), "{body}");
            let full: Map<String, Value> = serde_json::from_str(body).unwrap();
            for (noted, field) in [(expected.0, "prompt"), (expected.1, "input")] {
                let checked = crate::inbound::shape::check_texts(&full, field).is_ok();
                assert!(
                    !noted || checked,
                    "{body}: noted {field} must pass the full check"
                );
            }
        }
        for body in [
            r#"{"model":"m","input":["a"}"#,
            r#"{"model":"m","input":["a",]}"#,
            r#"{"model":"m","prompt":"a\x"}"#,
        ] {
            assert_eq!(texts(body), None, "{body}");
        }
    }
}
