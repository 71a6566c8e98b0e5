//! Server-sent events: splitting an upstream byte stream into events.
//!
//! Events end with a blank line (`\n\n` or `\r\n\r\n`); an event's `data:`
//! lines are joined with `\n`. Comments (`:`) and other fields are dropped:
//! the proxy re-frames every event it relays.
//!
//! Events stay bytes: an event with one `data:` line (every provider's) is
//! a slice of the bytes received, not a copy. Whoever reads an event as
//! text decides what invalid UTF-8 becomes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest event accepted. Provider events are kilobytes; a peer that never
/// ends an event must not grow memory without bound.
pub const MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// Incremental parser; feed it chunks as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The latest chunk as received, while no event spans chunks: events
    /// are sliced out of it without a copy.
    held: Bytes,
    /// Otherwise (`held` empty): the bytes received that do not yet form a
    /// whole event, copied together.
    buf: BytesMut,
    /// `held[..scanned]` or `buf[..scanned]` holds no event end; the next
    /// scan resumes there, so a long event is scanned once, not once per
    /// chunk.
    scanned: usize,
}

/// One event's data; events without data lines are skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub data: Bytes,
}

/// An event grew past [`MAX_EVENT_SIZE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the provider sent an event larger than {MAX_EVENT_SIZE} bytes")]
pub struct EventTooLarge;

// === impl SseParser ===

impl SseParser {
    pub fn push(&mut self, chunk: Bytes) -> Result<(), EventTooLarge> {
        if self.buf.is_empty() && self.held.is_empty() && chunk.len() <= MAX_EVENT_SIZE {
            self.held = chunk;
            self.scanned = 0;
            return Ok(());
        }
        self.keep_held();
        if self.buf.len() + chunk.len() > MAX_EVENT_SIZE {
            // Complete events may be waiting; only an unfinished one is
            // refused.
            if find_event_end(&self.buf, self.scanned).is_none() {
                return Err(EventTooLarge);
            }
        }
        self.buf.extend_from_slice(&chunk);
        Ok(())
    }

    /// The next complete event, if one has arrived.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let raw = if self.held.is_empty() {
                let Some(found) = find_event_end(&self.buf, self.scanned) else {
                    self.scanned = self.buf.len();
                    return None;
                };
                let raw = self.buf.split_to(found.end).freeze();
                self.buf.advance(found.separator);
                (raw, found.one_line)
            } else {
                let Some(found) = find_event_end(&self.held, self.scanned) else {
                    // An event goes on in the next chunk.
                    self.scanned = self.held.len();
                    self.keep_held();
                    return None;
                };
                let raw = self.held.split_to(found.end);
                self.held.advance(found.separator);
                if self.held.is_empty() {
                    // An empty slice still keeps the upstream's read
                    // buffer alive: a stream held open must not.
                    self.held = Bytes::new();
                }
                (raw, found.one_line)
            };
            self.scanned = 0;
            let event = match raw {
                (line, true) => parse_line(line),
                (raw, false) => parse_event(raw),
            };
            if let Some(event) = event {
                return Some(event);
            }
        }
    }

    /// At the end of the stream: the last event, if the peer closed without
    /// the blank line that should end it.
    pub fn finish(&mut self) -> Option<SseEvent> {
        self.keep_held();
        let rest = self.buf.split().freeze();
        self.scanned = 0;
        parse_event(rest)
    }

    /// Bytes received that do not yet form a whole event.
    pub fn pending(&self) -> usize {
        self.held.len() + self.buf.len()
    }

    /// Copies what is left of `held` into `buf` (empty while `held` is
    /// not), `scanned` staying as it is.
    fn keep_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.buf.extend_from_slice(&held);
    }
}

/// Where an event ends.
struct EventEnd {
    /// The event's length.
    end: usize,
    /// The blank line's length after it.
    separator: usize,
    /// The event is one line: it holds no `\n`.
    one_line: bool,
}

/// The end of the first event in `buf` (a blank line: `\n\n` or
/// `\n\r\n`), searching from just before `from`.
fn find_event_end(buf: &[u8], from: usize) -> Option<EventEnd> {
    let start = from.saturating_sub(2);
    // Jumps from line end to line end (SIMD) instead of testing each byte.
    for (n, at) in memchr::memchr_iter(b'\n', buf.get(start..)?).enumerate() {
        let end = start + at;
        let separator = match buf.get(end + 1) {
            Some(b'\n') => 2,
            Some(b'\r') if buf.get(end + 2) == Some(&b'\n') => 3,
            _ => continue,
        };
        let one_line = n == 0 && start == 0;
        return Some(EventEnd {
            end,
            separator,
            one_line,
        });
    }
    None
}

/// [`parse_event`] for an event of one line, the common case: its data is
/// the line itself, cut in place.
fn parse_line(mut line: Bytes) -> Option<SseEvent> {
    if line.ends_with(b"\r") {
        line.truncate(line.len() - 1);
    }
    let value = line.strip_prefix(b"data:")?;
    let skip = if value.starts_with(b" ") { 6 } else { 5 };
    line.advance(skip);
    Some(SseEvent { data: line })
}

fn parse_event(raw: Bytes) -> Option<SseEvent> {
    // The one `data:` line's value, as a slice of `raw`, until a second
    // line makes a joined copy necessary.
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut start = 0;
    while start <= raw.len() {
        let end = memchr::memchr(b'\n', &raw[start..]).map_or(raw.len(), |at| start + at);
        let line = &raw[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(value) = line.strip_prefix(b"data:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            match (&mut joined, &first) {
                (Some(data), _) => {
                    data.put_u8(b'\n');
                    data.extend_from_slice(value);
                }
                (None, Some(one)) => {
                    let mut data = BytesMut::with_capacity(one.len() + 1 + value.len());
                    data.extend_from_slice(one);
                    data.put_u8(b'\n');
                    data.extend_from_slice(value);
                    joined = Some(data);
                }
                (None, None) => first = Some(raw.slice_ref(value)),
            }
        }
        start = end + 1;
    }
    let data = joined.map(BytesMut::freeze).or(first)?;
    Some(SseEvent { data })
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
pub fn frame(data: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 8);
    frame_into(data.as_bytes(), &mut out);
    out.freeze()
}

/// [`frame`], appended to `out`.
pub fn frame_into(data: &[u8], out: &mut BytesMut) {
    let mut rest = data;
    while let Some(at) = memchr::memchr(b'\n', rest) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&rest[..=at]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(rest);
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&str]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(Bytes::copy_from_slice(c.as_bytes())).unwrap();
            while let Some(e) = p.next_event() {
                out.push(String::from_utf8(e.data.to_vec()).unwrap());
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
        p.push(Bytes::from_static(b"data: partial")).unwrap();
        assert_eq!(p.next_event(), None);
        assert_eq!(p.pending(), 13);
        p.push(Bytes::from_static(b"\n")).unwrap();
        assert_eq!(p.next_event(), None);
        p.push(Bytes::from_static(b"\n")).unwrap();
        assert_eq!(p.next_event().unwrap().data, &b"partial"[..]);
    }

    #[test]
    fn an_unterminated_last_event_is_kept_at_the_end() {
        let mut p = SseParser::default();
        p.push(Bytes::from_static(b"data: one\n\ndata: last\n"))
            .unwrap();
        assert_eq!(p.next_event().unwrap().data, &b"one"[..]);
        assert_eq!(p.next_event(), None);
        assert_eq!(p.finish().unwrap().data, &b"last"[..]);
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut p = SseParser::default();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut pushed = 0;
        while p.push(Bytes::copy_from_slice(&chunk)).is_ok() {
            assert_eq!(p.next_event(), None);
            pushed += 1;
            assert!(pushed <= 16, "the cap did not hold");
        }
        assert_eq!(pushed, 16);
    }

    #[test]
    fn invalid_utf8_is_kept_not_refused() {
        let mut p = SseParser::default();
        p.push(Bytes::from_static(b"data: a\xffb\n\n")).unwrap();
        assert_eq!(p.next_event().unwrap().data, &b"a\xffb"[..]);
    }

    #[test]
    fn a_character_split_across_reads_arrives_whole() {
        let bytes = "data: caf\u{e9} \u{1f600}\r\n\r\n".as_bytes();
        for cut in 1..bytes.len() {
            let mut p = SseParser::default();
            p.push(Bytes::copy_from_slice(&bytes[..cut])).unwrap();
            let early = p.next_event();
            p.push(Bytes::copy_from_slice(&bytes[cut..])).unwrap();
            let data = early.or_else(|| p.next_event()).unwrap().data;
            assert_eq!(data, "caf\u{e9} \u{1f600}".as_bytes(), "cut at {cut}");
        }
    }

    #[test]
    fn one_data_line_is_a_slice_of_what_arrived() {
        let mut p = SseParser::default();
        p.push(Bytes::from_static(
            b"data: {\"a\":1}\n\ndata:{\"b\":2}\r\n\r\n",
        ))
        .unwrap();
        assert_eq!(p.next_event().unwrap().data, &b"{\"a\":1}"[..]);
        assert_eq!(p.next_event().unwrap().data, &b"{\"b\":2}"[..]);
        assert_eq!(p.next_event(), None);
        assert_eq!(p.pending(), 0);

        let chunk = Bytes::from_static(b"data: one\n\ndata: tw");
        p.push(chunk.clone()).unwrap();
        let one = p.next_event().unwrap().data;
        assert_eq!(one.as_ptr(), chunk[6..].as_ptr(), "not copied");
        assert_eq!(p.next_event(), None);
        assert_eq!(p.pending(), 8);
        p.push(Bytes::from_static(b"o\n\ndata: three\n\n")).unwrap();
        assert_eq!(p.next_event().unwrap().data, &b"two"[..]);
        assert_eq!(p.next_event().unwrap().data, &b"three"[..]);
        assert_eq!(p.next_event(), None);
    }

    #[test]
    fn a_one_line_event_is_read_as_any_event() {
        for line in [
            &b"data: x"[..],
            b"data:x",
            b"data:  x",
            b"data: x\r",
            b"data:",
            b"data: \r",
            b"data",
            b": comment",
            b"event: x",
            b"",
            b"\r",
        ] {
            assert_eq!(
                parse_line(Bytes::from_static(line)),
                parse_event(Bytes::from_static(line)),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn nothing_of_a_chunk_is_kept_once_its_events_are_out() {
        for text in [&b"data: one\n\n"[..], b"data: one\n\ndata: tw", b"data: on"] {
            let mut chunk = BytesMut::from(text).freeze();
            let mut p = SseParser::default();
            p.push(chunk.clone()).unwrap();
            while p.next_event().is_some() {}
            assert!(chunk.is_unique(), "{}", String::from_utf8_lossy(text));
            chunk.clear();
        }
    }

    #[test]
    fn frames_events() {
        assert_eq!(&frame("[DONE]")[..], b"data: [DONE]\n\n");
        assert_eq!(&frame("{\"a\":\n1}")[..], b"data: {\"a\":\ndata: 1}\n\n");
        let mut p = SseParser::default();
        p.push(frame("one\ntwo")).unwrap();
        assert_eq!(p.next_event().unwrap().data, &b"one\ntwo"[..]);
        let mut out = BytesMut::from(&b"x"[..]);
        frame_into(b"a\nb\n", &mut out);
        assert_eq!(&out[..], b"xdata: a\ndata: b\ndata: \n\n");
        assert_eq!(&frame("a\nb\n")[..], &out[1..]);
    }
}
