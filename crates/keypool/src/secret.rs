//! Secrets that must never be printed.
//!
//! `Secret` owns a provider key or the proxy key. Its `Debug` and `Display`
//! print a mask (`sk-…abcd`), so a secret that slips into a log line, an
//! error message or a panic shows nothing useful. The raw value is reachable
//! only through [`Secret::expose`], which makes every use easy to audit.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Shortest secret whose first and last characters may be shown. Shorter
/// values are masked completely: showing 7 of 10 characters would leak it.
const MIN_LEN_FOR_PARTIAL_MASK: usize = 12;

/// Shortest provider key treated as a secret inside relayed bodies. Servers
/// without auth take any value ("any value" in the README), and masking a
/// key like `o` or `none` in an upstream answer would garble its text
/// (`M…del n…t f…und`) while hiding nothing: such keys are placeholders.
pub const MIN_SECRET_CHARS: usize = 8;

/// A secret string. Cheap to clone (shared).
#[derive(Clone)]
pub struct Secret(Arc<Inner>);

struct Inner {
    value: Box<str>,
    /// SHA-256 of the value, computed on the first [`Secret::matches`]: the
    /// proxy key is checked on every request.
    digest: OnceLock<[u8; 32]>,
}

/// A stable, non-reversible identifier of a key: the first 12 hex digits of
/// its SHA-256. Used in the database, in `/v1/usage` and in logs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct KeyId(String);

// === impl Secret ===

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Secret {
        let value: Arc<str> = value.into();
        Secret(Arc::new(Inner {
            value: Box::from(&*value),
            digest: OnceLock::new(),
        }))
    }

    /// The raw value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0.value
    }

    /// A display form that keeps a prefix and the last four characters:
    /// enough to tell keys apart, never enough to use one.
    pub fn mask(&self) -> String {
        mask(self.expose())
    }

    pub fn id(&self) -> KeyId {
        KeyId::of(self.expose())
    }

    /// Shorter than [`MIN_SECRET_CHARS`]: a stand-in for a server without
    /// auth, not masked inside relayed bodies.
    pub fn is_placeholder(&self) -> bool {
        self.expose().chars().count() < MIN_SECRET_CHARS
    }

    /// `text` with every occurrence of this secret replaced by its mask:
    /// for provider text that may echo the key it was sent (error bodies
    /// and error events), before it is logged, clipped or relayed. JSON
    /// text may spell the key with escapes (`\/`, `\u002d`), which a client
    /// decodes back to the key: those spellings are masked too. A
    /// placeholder key ([`Secret::is_placeholder`]) is left alone.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let raw = self.expose();
        if self.is_placeholder() || !(text.contains(raw) || text.contains('\\')) {
            return Cow::Borrowed(text);
        }
        let mut out = String::new();
        let (mut copied, mut at) = (0, 0);
        while at < text.len() {
            if let Some(len) = spelled_at(&text[at..], raw) {
                out.push_str(&text[copied..at]);
                out.push_str(&self.mask());
                at += len;
                copied = at;
            } else {
                // Escapes are stepped over whole, so a match never starts
                // inside one (`\\u0041` is a backslash and "u0041").
                at += text[at..]
                    .strip_prefix('\\')
                    .and_then(escape)
                    .map_or_else(|| next_char_len(&text[at..]), |(_, len)| len + 1);
            }
        }
        if copied == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    /// [`Secret::scrub`] for a body that may not be UTF-8: returned as is
    /// unless it contains the secret.
    pub fn scrub_bytes(&self, body: Bytes) -> Bytes {
        let raw = self.expose().as_bytes();
        if self.is_placeholder()
            || !(body.contains(&b'\\') || body.windows(raw.len()).any(|w| w == raw))
        {
            return body;
        }
        match self.scrub(&String::from_utf8_lossy(&body)) {
            Cow::Owned(text) => Bytes::from(text),
            Cow::Borrowed(_) => body,
        }
    }

    /// Compares in time independent of where the values differ, so the proxy
    /// key cannot be guessed byte by byte from response timings. Both sides
    /// are hashed first, which also hides the length.
    pub fn matches(&self, candidate: &str) -> bool {
        let a = self
            .0
            .digest
            .get_or_init(|| Sha256::digest(self.expose().as_bytes()).into());
        let b = Sha256::digest(candidate.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.mask())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl std::hash::Hash for Secret {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.expose().hash(state);
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mask())
    }
}

/// The length of the text at the start of `text` that spells `raw`, each
/// character literally or as a JSON escape (`\/`, `\u002D`, a surrogate
/// pair).
fn spelled_at(text: &str, raw: &str) -> Option<usize> {
    let mut at = 0;
    for want in raw.chars() {
        let rest = &text[at..];
        if rest.starts_with(want) {
            at += want.len_utf8();
            continue;
        }
        let (got, len) = escape(rest.strip_prefix('\\')?)?;
        if got != want {
            return None;
        }
        at += len + 1;
    }
    Some(at)
}

/// The character a JSON escape (the text after its `\`) stands for and
/// the escape's length without the `\`.
fn escape(text: &str) -> Option<(char, usize)> {
    let simple = match text.as_bytes().first()? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let high = hex4(text.get(1..5)?)?;
            if !(0xD800..0xDC00).contains(&high) {
                return Some((char::from_u32(high)?, 5));
            }
            let low = hex4(text.get(5..11)?.strip_prefix("\\u")?)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            return Some((char::from_u32(c)?, 11));
        }
        _ => return None,
    };
    Some((simple, 1))
}

fn hex4(digits: &str) -> Option<u32> {
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

fn next_char_len(text: &str) -> usize {
    text.chars().next().map_or(1, char::len_utf8)
}

/// Masks any secret-like string: `sk-proj-abcdef123456` → `sk-…3456`.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < MIN_LEN_FOR_PARTIAL_MASK {
        return "…".to_string();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

// === impl KeyId ===

impl KeyId {
    pub fn of(raw: &str) -> KeyId {
        let digest = Sha256::digest(raw.as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        KeyId(hex)
    }

    /// An id read back from the store.
    pub fn from_stored(id: &str) -> KeyId {
        KeyId(id.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_masks_the_key_wherever_the_provider_echoes_it() {
        let key = Secret::new("sk-live-0123456789abcdef");
        let text = "Incorrect API key provided: sk-live-0123456789abcdef.";
        assert_eq!(
            key.scrub(text),
            format!("Incorrect API key provided: {}.", key.mask())
        );
        assert!(matches!(key.scrub("nothing here"), Cow::Borrowed(_)));
        let mut raw = format!("{{\"error\":\"{}\"}}", key.expose()).into_bytes();
        raw.push(0xff);
        let body = Bytes::from(raw);
        let scrubbed = key.scrub_bytes(body);
        assert!(!String::from_utf8_lossy(&scrubbed).contains(key.expose()));
        let plain = Bytes::from_static(b"\xff\xfe no key");
        assert_eq!(key.scrub_bytes(plain.clone()), plain);
    }

    #[test]
    fn scrub_masks_json_escaped_spellings_of_the_key() {
        let key = Secret::new("mk/slash-0123456789");
        let mask = key.mask();
        for echoed in [
            r#"{"error":"bad key mk\/slash-0123456789"}"#,
            r#"{"error":"bad key mk\/slash\u002d0123456789"}"#,
            r#"{"error":"bad key \u006D\u006b/slash-0123456789"}"#,
        ] {
            let scrubbed = key.scrub(echoed);
            assert_eq!(
                scrubbed,
                format!(r#"{{"error":"bad key {mask}"}}"#),
                "{echoed}"
            );
            let decoded: serde_json::Value = serde_json::from_str(&scrubbed).unwrap();
            assert!(!decoded.to_string().contains(key.expose()));
            let bytes = key.scrub_bytes(Bytes::from(echoed.to_string()));
            assert!(!String::from_utf8_lossy(&bytes).contains("0123456789"));
        }
        // Non-BMP characters as surrogate pairs; escapes that only look
        // like the key (an escaped backslash, then text) are left alone.
        let emoji = Secret::new("key-\u{1F600}-0123456789");
        let text = r#""key-\ud83d\ude00-0123456789""#;
        assert_eq!(emoji.scrub(text), format!(r#""{}""#, emoji.mask()));
        let look_alike = Secret::new("A-0123456789");
        let text = r#"\\u0041-0123456789"#;
        assert!(matches!(look_alike.scrub(text), Cow::Borrowed(_)));
        assert!(matches!(key.scrub(r#"no \"key\" here"#), Cow::Borrowed(_)));
    }

    #[test]
    fn placeholder_keys_are_not_masked_in_relayed_text() {
        let key = Secret::new("o");
        assert!(key.is_placeholder());
        let text = r#"{"error": {"message": "Model not found"}}"#;
        assert!(matches!(key.scrub(text), Cow::Borrowed(_)));
        let body = Bytes::from_static(b"Model not found");
        assert_eq!(key.scrub_bytes(body.clone()), body);
        assert!(!Secret::new("12345678").is_placeholder());
        assert!(Secret::new("1234567").is_placeholder());
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("sk-proj-0123456789abcdef");
        assert_eq!(format!("{s}"), "sk-…cdef");
        assert_eq!(format!("{s:?}"), "Secret(sk-…cdef)");
        assert!(!format!("{s:?}{s}").contains("0123456789"));
    }

    #[test]
    fn short_values_are_fully_masked() {
        assert_eq!(mask("short-key"), "…");
        assert_eq!(mask(""), "…");
    }

    #[test]
    fn key_id_is_stable_12_hex_digits() {
        let id = KeyId::of("sk-test-key");
        assert_eq!(id.as_str().len(), 12);
        assert_eq!(id, Secret::new("sk-test-key").id());
        assert_ne!(id, KeyId::of("sk-test-kez"));
        assert!(id.as_str().chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn matches_is_exact() {
        let s = Secret::new("proxy-secret");
        assert!(s.matches("proxy-secret"));
        assert!(!s.matches("proxy-secreT"));
        assert!(!s.matches("proxy-secret "));
        assert!(!s.matches(""));
    }
}
