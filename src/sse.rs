//! Server-sent events: splitting an upstream byte stream into events.
//!
//! Events end with a blank line (`\n\n` or `\r\n\r\n`); an event's `data:`
//! lines are joined with `\n`. Comments (`:`) and other fields are dropped:
//! the proxy re-frames every event it relays.

use bytes::{Buf, BytesMut};

/// Incremental parser; feed it chunks as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: BytesMut,
}

/// One event's data; events without data lines are skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub data: String,
}

// === impl SseParser ===

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, if one has arrived.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let (end, sep_len) = find_event_end(&self.buf)?;
            let raw = self.buf.split_to(end);
            self.buf.advance(sep_len);
            if let Some(event) = parse_event(&raw) {
                return Some(event);
            }
        }
    }

    /// Bytes received that do not yet form a whole event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some((i, 2));
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, 3));
            }
        }
        i += 1;
    }
    None
}

fn parse_event(raw: &[u8]) -> Option<SseEvent> {
    let text = String::from_utf8_lossy(raw);
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

/// Frames `data` as one SSE event.
pub fn frame(data: &str) -> bytes::Bytes {
    let mut out = String::with_capacity(data.len() + 8);
    out.push_str("data: ");
    out.push_str(data);
    out.push_str("\n\n");
    bytes::Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&str]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c.as_bytes());
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
        p.push(b"data: partial");
        assert_eq!(p.next_event(), None);
        assert_eq!(p.pending(), 13);
        p.push(b"\n\n");
        assert_eq!(p.next_event().unwrap().data, "partial");
    }

    #[test]
    fn frames_events() {
        assert_eq!(&frame("[DONE]")[..], b"data: [DONE]\n\n");
    }
}
