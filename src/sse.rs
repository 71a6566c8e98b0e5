//! Server-sent events: splitting an upstream byte stream into events.
//!
//! Events end with a blank line (`\n\n` or `\r\n\r\n`); an event's `data:`
//! lines are joined with `\n`. Comments (`:`) and other fields are dropped:
//! the proxy re-frames every event it relays.

use bytes::{Buf, BytesMut};

/// Largest event accepted. Provider events are kilobytes; a peer that never
/// ends an event must not grow memory without bound.
pub const MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// Incremental parser; feed it chunks as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: BytesMut,
    /// `buf[..scanned]` holds no event end; the next scan resumes there, so
    /// a long event is scanned once, not once per chunk.
    scanned: usize,
}

/// One event's data; events without data lines are skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub data: String,
}

/// An event grew past [`MAX_EVENT_SIZE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the provider sent an event larger than {MAX_EVENT_SIZE} bytes")]
pub struct EventTooLarge;

// === impl SseParser ===

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), EventTooLarge> {
        if self.buf.len() + chunk.len() > MAX_EVENT_SIZE {
            // Complete events may be waiting; only an unfinished one is
            // refused.
            if find_event_end(&self.buf, self.scanned).is_none() {
                return Err(EventTooLarge);
            }
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete event, if one has arrived.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let Some((end, sep_len)) = find_event_end(&self.buf, self.scanned) else {
                self.scanned = self.buf.len();
                return None;
            };
            let raw = self.buf.split_to(end);
            self.buf.advance(sep_len);
            self.scanned = 0;
            if let Some(event) = parse_event(&raw) {
                return Some(event);
            }
        }
    }

    /// At the end of the stream: the last event, if the peer closed without
    /// the blank line that should end it.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let rest = self.buf.split();
        self.scanned = 0;
        parse_event(&rest)
    }

    /// Bytes received that do not yet form a whole event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// The end of the first event in `buf` (a blank line: `\n\n` or
/// `\n\r\n`), searching from just before `from`.
fn find_event_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let start = from.saturating_sub(2);
    // Jumps from line end to line end (SIMD) instead of testing each byte.
    for at in memchr::memchr_iter(b'\n', buf.get(start..)?) {
        let i = start + at;
        match buf.get(i + 1) {
            Some(b'\n') => return Some((i, 2)),
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some((i, 3)),
            _ => {}
        }
    }
    None
}

fn parse_event(raw: &[u8]) -> Option<SseEvent> {
    // `from_utf8` checks valid text (every provider's) several times faster
    // than the lossy decoder's walk, which only invalid text needs.
    let text = match std::str::from_utf8(raw) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    };
    let mut data: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some(value) = line.strip_prefix("data:") else {
            continue;
        };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match &mut data {
            Some(d) => {
                d.push('\n');
                d.push_str(value);
            }
            None => data = Some(value.to_string()),
        }
    }
    data.map(|data| SseEvent { data })
}

/// Frames named events (`event: <name>` and one `data:` line of compact
/// JSON, which has no raw newlines), in order, as the Anthropic and
/// Responses streams send them.
pub fn named_frames<'a>(
    events: impl IntoIterator<Item = (&'a str, serde_json::Value)>,
) -> bytes::Bytes {
    let mut out = String::new();
    for (name, data) in events {
        out.push_str("event: ");
        out.push_str(name);
        out.push_str("\ndata: ");
        out.push_str(&data.to_string());
        out.push_str("\n\n");
    }
    bytes::Bytes::from(out)
}

/// Frames `data` as one SSE event (one `data:` line per line of `data`).
pub fn frame(data: &str) -> bytes::Bytes {
    let mut out = String::with_capacity(data.len() + 8);
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    bytes::Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&str]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c.as_bytes()).unwrap();
            while let Some(e) = p.next_event() {
                out.push(e.data);
            }
        }
        out
    }

    #[test]
    fn splits_events_across_chunk_boundaries() {
        assert_eq!(
            events(&[
                "data: {\"a\":1}\n",
                "\ndata: {\"b\"",
                ":2}\n\ndata: [DONE]\n\n"
            ]),
            vec!["{\"a\":1}", "{\"b\":2}", "[DONE]"]
        );
    }

    #[test]
    fn handles_crlf_comments_and_multiline_data() {
        assert_eq!(
            events(&[": keep-alive\n\nevent: x\r\ndata: one\r\ndata:two\r\n\r\n"]),
            vec!["one\ntwo"]
        );
    }

    #[test]
    fn incomplete_event_waits() {
        let mut p = SseParser::default();
        p.push(b"data: partial").unwrap();
        assert_eq!(p.next_event(), None);
        assert_eq!(p.pending(), 13);
        p.push(b"\n").unwrap();
        assert_eq!(p.next_event(), None);
        p.push(b"\n").unwrap();
        assert_eq!(p.next_event().unwrap().data, "partial");
    }

    #[test]
    fn an_unterminated_last_event_is_kept_at_the_end() {
        let mut p = SseParser::default();
        p.push(b"data: one\n\ndata: last\n").unwrap();
        assert_eq!(p.next_event().unwrap().data, "one");
        assert_eq!(p.next_event(), None);
        assert_eq!(p.finish().unwrap().data, "last");
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut p = SseParser::default();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut pushed = 0;
        while p.push(&chunk).is_ok() {
            assert_eq!(p.next_event(), None);
            pushed += 1;
            assert!(pushed <= 16, "the cap did not hold");
        }
        assert_eq!(pushed, 16);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        let mut p = SseParser::default();
        p.push(b"data: a\xffb\n\n").unwrap();
        assert_eq!(p.next_event().unwrap().data, "a\u{fffd}b");
    }

    #[test]
    fn frames_events() {
        assert_eq!(&frame("[DONE]")[..], b"data: [DONE]\n\n");
        assert_eq!(&frame("{\"a\":\n1}")[..], b"data: {\"a\":\ndata: 1}\n\n");
        let mut p = SseParser::default();
        p.push(&frame("one\ntwo")).unwrap();
        assert_eq!(p.next_event().unwrap().data, "one\ntwo");
    }
}
