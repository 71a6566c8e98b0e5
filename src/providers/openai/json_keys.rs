//! Finding a key's value in a stream event's JSON text without parsing it:
//! the relay reads a few keys of every event this way.
//!
//! Each key has one searcher, built once per process: building a substring
//! searcher (and formatting its needle) per event cost more than the
//! search itself.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// A `"name"` key to look for.
pub type Key = LazyLock<Finder<'static>>;

pub static MODEL: Key = LazyLock::new(|| Finder::new(b"\"model\""));
pub static ERROR: Key = LazyLock::new(|| Finder::new(b"\"error\""));
pub static FINISH_REASON: Key = LazyLock::new(|| Finder::new(b"\"finish_reason\""));
pub static USAGE: Key = LazyLock::new(|| Finder::new(b"\"usage\""));

/// The first byte of the value of `key` in a JSON text.
pub fn value_start(data: &[u8], key: &Key) -> Option<u8> {
    value_offset(data, key).and_then(|at| data.get(at).copied())
}

/// Offset of the value of the first `"name":` key in a JSON text.
pub fn value_offset(data: &[u8], key: &Key) -> Option<usize> {
    let len = key.needle().len();
    let mut from = 0;
    while let Some(pos) = key.find(&data[from..]) {
        let mut at = from + pos + len;
        while data.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        if data.get(at) == Some(&b':') {
            at += 1;
            while data.get(at).is_some_and(u8::is_ascii_whitespace) {
                at += 1;
            }
            return Some(at);
        }
        from = from + pos + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_key_not_a_string_that_names_it() {
        let data = br#"{"a":"\"model\"","model" : "m","x":{"model":"n"}}"#;
        let at = value_offset(data, &MODEL).unwrap();
        assert_eq!(&data[at..at + 3], b"\"m\"");
        assert_eq!(value_start(data, &USAGE), None);
        assert_eq!(value_start(br#"{"usage":{}}"#, &USAGE), Some(b'{'));
    }
}
