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

    /// `text` with every occurrence of this secret replaced by its mask:
    /// for provider text that may echo the key it was sent (error bodies
    /// and error events), before it is logged, clipped or relayed.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let raw = self.expose();
        if raw.is_empty() || !text.contains(raw) {
            return Cow::Borrowed(text);
        }
        Cow::Owned(text.replace(raw, &self.mask()))
    }

    /// [`Secret::scrub`] for a body that may not be UTF-8: returned as is
    /// unless it contains the secret.
    pub fn scrub_bytes(&self, body: Bytes) -> Bytes {
        let raw = self.expose().as_bytes();
        if raw.is_empty() || !body.windows(raw.len()).any(|w| w == raw) {
            return body;
        }
        let text = String::from_utf8_lossy(&body);
        Bytes::from(self.scrub(&text).into_owned())
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
