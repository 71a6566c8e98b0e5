//! A single pass over a JSON answer: validates it as strictly as
//! `serde_json` parsing it into a `Value` would, and notes where the
//! top-level `model` string and `usage` value are.
//!
//! It may refuse what `serde_json` accepts (escaped member names, unusual
//! `model`), since the caller then takes the exact path; it must never
//! accept what `serde_json` refuses. The tests check this against
//! `serde_json` on many generated bodies. The same scanner checks client
//! requests (`json_scan/request.rs`) and stream events
//! (`json_scan/event.rs`).
//!
//! Why not `serde_json` with borrowed fields (`&str` for `model`,
//! `IgnoredAny` for the rest, after one `str::from_utf8`): measured under
//! callgrind on the benchmark's chat request and the mock's answer, it
//! takes 2,290 instructions for the request where this takes 1,550, and
//! 6,290 for the answer (with the rewrite) where this takes 5,080: about
//! 1,950 more per non-streaming request. It would also need extra checks
//! to refuse what `Value` refuses (`IgnoredAny` accepts out-of-range
//! numbers such as `1e999`).

use std::ops::Range;

use serde_json::Value;

use crate::providers::TokenUsage;

mod event;
mod request;
pub use event::scan_event;
pub use request::{scan_request, Request};

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
pub fn scan_answer(body: &[u8]) -> Option<Answer> {
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
