//! How key state is named in Redis: key ids that hash the namespace with
//! the raw key (Redis never sees a raw key), and one hash tag per provider
//! so every script touches one Cluster slot.

use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// Hex digits of a Redis key id: 96 bits, plenty to keep a provider's keys
/// apart, short enough for compact key names.
const KEY_ID_HEX: usize = 24;

/// A key's id in Redis: the first 24 hex digits (96 bits) of
/// SHA-256(namespace ‖ 0x00 ‖ raw key). Not the public `KeyId` (a hash of
/// the raw key alone): the namespace keeps two deployments' ids unrelated.
pub fn key_id(namespace: &str, key: &Secret) -> String {
    let mut hash = Sha256::new();
    hash.update(namespace.as_bytes());
    hash.update([0u8]);
    hash.update(key.expose().as_bytes());
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = hash.finalize();
    let mut hex = String::with_capacity(KEY_ID_HEX);
    for byte in digest.iter().take(KEY_ID_HEX / 2) {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Checks a namespace: 1–64 of `[A-Za-z0-9._-]` (a `{` would move the hash
/// tag, a `:` would blur where the namespace ends).
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&namespace.len())
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "state namespace {namespace:?} must be 1 to 64 letters, digits, '.', '_' or '-'"
        ))
    }
}

/// The Redis key names of one provider: `<namespace>:{<provider>}:…`.
/// Model names come last in a name, since they may contain `:`.
#[derive(Clone, Debug)]
pub struct ProviderKeys {
    prefix: String,
}

// === impl ProviderKeys ===

impl ProviderKeys {
    pub fn new(namespace: &str, provider: &str) -> ProviderKeys {
        ProviderKeys {
            prefix: format!("{namespace}:{{{provider}}}"),
        }
    }

    /// The lease counter: lease ids, ordered provider-wide.
    pub fn seq(&self) -> String {
        format!("{}:seq", self.prefix)
    }

    /// When the provider's state was first written in this Redis life.
    pub fn epoch(&self) -> String {
        format!("{}:epoch", self.prefix)
    }

    /// String: the key a conversation is pinned to (sticky sessions), as
    /// its [`ProviderKeys::key`] name; `None` gives a name no script writes.
    pub fn pin(&self, conversation: Option<u64>) -> String {
        match conversation {
            Some(id) => format!("{}:pin:{id:016x}", self.prefix),
            None => format!("{}:pin:-", self.prefix),
        }
    }

    /// Hash: a key's calls and tokens in the windows of the provider's
    /// per-key limits, for one model.
    pub fn limits(&self, kid: &str, model: &str) -> String {
        format!("{}:lim:{kid}:{model}", self.prefix)
    }

    /// Hash: a key's lockout.
    pub fn key(&self, kid: &str) -> String {
        format!("{}:key:{kid}", self.prefix)
    }

    /// Set: the ids of the keys an operator disabled. Kept without expiry:
    /// a key stays disabled until enabled.
    pub fn disabled(&self) -> String {
        format!("{}:disabled", self.prefix)
    }

    /// Hash: a key's health for one model.
    /// One hour of the provider's history (hours since the Unix epoch).
    pub fn history(&self, hour: i64) -> String {
        format!("{}:hist:{hour}", self.prefix)
    }

    pub fn key_model(&self, kid: &str, model: &str) -> String {
        format!("{}:km:{kid}:{model}", self.prefix)
    }

    /// Zset: leases on a key, all models.
    pub fn leases(&self, kid: &str) -> String {
        format!("{}:kl:{kid}", self.prefix)
    }

    /// Zset: leases on a key for one model.
    pub fn model_leases(&self, kid: &str, model: &str) -> String {
        format!("{}:kml:{kid}:{model}", self.prefix)
    }

    /// String: the highest usage batch applied from `replica`.
    pub fn watermark(&self, replica: &str) -> String {
        format!("{}:wm:{replica}", self.prefix)
    }

    /// Hash: a key's usage of one model in the reset period starting at
    /// `period` (ms).
    pub fn daily_usage(&self, kid: &str, period: i64, model: &str) -> String {
        format!("{}:ud:{kid}:{period}:{model}", self.prefix)
    }

    /// Hash: a key's lifetime usage of one model.
    pub fn lifetime_usage(&self, kid: &str, model: &str) -> String {
        format!("{}:ul:{kid}:{model}", self.prefix)
    }

    /// Zset: the models a key has usage for, by when last counted.
    pub fn models(&self, kid: &str) -> String {
        format!("{}:models:{kid}", self.prefix)
    }

    /// The pub/sub channel the release and report scripts publish on.
    pub fn wake(&self) -> String {
        format!("{}:wake", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_depend_on_the_namespace_and_hide_the_key() {
        let key = Secret::new("gsk_live_secret_value_1234");
        let a = key_id("team-a", &key);
        // hex(SHA-256("team-a" 0x00 key))[..24], as the script tests compute it.
        assert_eq!(a, "fc7f71dce1d83ce39a1c1bf8");
        assert_eq!(a.len(), KEY_ID_HEX);
        assert_ne!(a, key_id("team-b", &key));
        assert!(!a.contains("secret"));
        assert!(!key.id().as_str().starts_with(&a[..12]));
    }

    #[test]
    fn names_share_the_provider_hash_tag() {
        let keys = ProviderKeys::new("ns", "groq");
        assert_eq!(keys.key_model("k1", "a:b"), "ns:{groq}:km:k1:a:b");
        assert_eq!(keys.seq(), "ns:{groq}:seq");
        assert!(check_namespace("llm-key-proxy").is_ok());
        for bad in ["", "a{b", "a:b", &"x".repeat(65)] {
            assert!(check_namespace(bad).is_err(), "{bad}");
        }
    }
}
