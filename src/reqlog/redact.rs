//! Scrubbing secrets from anything written to the request logs.

use crate::secret::Secret;

/// Headers never logged with their value.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "proxy-authorization",
    "cookie",
];

/// Replaces every configured secret (the proxy key and every provider key)
/// with its mask.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<(String, String)>,
}

// === impl Redactor ===

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Redactor {
        let mut secrets: Vec<(String, String)> = secrets
            .into_iter()
            .filter(|s| !s.expose().is_empty())
            .map(|s| (s.expose().to_string(), s.mask()))
            .collect();
        // Longest first, so a key that contains another is replaced whole.
        secrets.sort_by_key(|(raw, _)| std::cmp::Reverse(raw.len()));
        Redactor { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (raw, masked) in &self.secrets {
            if out.contains(raw.as_str()) {
                out = out.replace(raw.as_str(), masked);
            }
        }
        out
    }

    /// A header value as it may be logged: nothing of a credential header
    /// (not even a mask, which shows the secret's last characters).
    pub fn header(&self, name: &str, value: &str) -> String {
        if SECRET_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            "[redacted]".to_string()
        } else {
            self.redact(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_is_masked() {
        let keys = [
            Secret::new("sk-provider-secret-0001"),
            Secret::new("proxy-secret-value-9999"),
        ];
        let r = Redactor::new(keys.iter());
        let text = r.redact("a sk-provider-secret-0001 b proxy-secret-value-9999 c");
        assert_eq!(text, "a sk-…0001 b pro…9999 c");
        assert_eq!(
            r.header("Authorization", "Bearer proxy-secret-value-9999"),
            "[redacted]"
        );
        assert_eq!(r.header("x-goog-api-key", "short"), "[redacted]");
        assert_eq!(r.header("user-agent", "curl/8"), "curl/8");
    }
}
