//! The `[responses]` settings: how long and how much of the Responses API's
//! stored responses the state database keeps (see
//! [`crate::store::responses`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::error::InitError;
use crate::store::ResponseLimits;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsesSettings {
    /// A stored response older than this is gone (404).
    #[serde(with = "duration")]
    pub store_ttl: Duration,
    /// All stored responses together, in bytes; past it the oldest are
    /// evicted.
    pub max_stored_bytes: u64,
    /// One stored response (the response and its input), in bytes; a larger
    /// one is answered but not stored.
    pub max_response_bytes: u64,
}

// === impl ResponsesSettings ===

impl ResponsesSettings {
    /// The store's bounds.
    pub fn limits(&self) -> ResponseLimits {
        ResponseLimits {
            ttl: self.store_ttl,
            max_response_bytes: self.max_response_bytes,
            max_total_bytes: self.max_stored_bytes,
        }
    }

    /// Checks what types alone cannot; each message says how to fix it.
    pub fn validate(&self) -> Result<(), InitError> {
        if self.store_ttl.is_zero() {
            return Err(InitError::Config(
                "`responses.store_ttl` is zero: set it to a positive duration such as \"30d\""
                    .into(),
            ));
        }
        for (name, value) in [
            ("responses.max_stored_bytes", self.max_stored_bytes),
            ("responses.max_response_bytes", self.max_response_bytes),
        ] {
            if value == 0 {
                return Err(InitError::Config(format!(
                    "`{name}` is 0: set it to a positive number of bytes"
                )));
            }
        }
        if self.max_response_bytes > self.max_stored_bytes {
            return Err(InitError::Config(format!(
                "`responses.max_response_bytes` ({}) is larger than \
                 `responses.max_stored_bytes` ({}): no response that size could be stored; \
                 lower the first or raise the second",
                self.max_response_bytes, self.max_stored_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;

    use super::super::{load_settings, EnvMap};
    use super::*;
    use crate::cli::Cli;

    fn load(env: &[(&str, &str)]) -> Result<ResponsesSettings, InitError> {
        let cli = Cli::try_parse_from(["llm-key-proxy"]).unwrap();
        let env: EnvMap = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_settings(Path::new("/nonexistent/default.toml"), &cli, &env).map(|s| s.responses)
    }

    #[test]
    fn defaults_are_30_days_256_mib_and_4_mib() {
        let settings = load(&[]).unwrap();
        assert_eq!(settings.store_ttl, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(settings.max_stored_bytes, 256 * 1024 * 1024);
        assert_eq!(settings.max_response_bytes, 4 * 1024 * 1024);
        assert_eq!(settings.limits(), ResponseLimits::default());
        settings.validate().unwrap();
    }

    #[test]
    fn the_environment_sets_them() {
        let settings = load(&[
            ("RESPONSES_STORE_TTL", "12h"),
            ("RESPONSES_MAX_STORED_BYTES", "1000000"),
            ("RESPONSES_MAX_RESPONSE_BYTES", "1000"),
        ])
        .unwrap();
        assert_eq!(settings.store_ttl, Duration::from_secs(12 * 3600));
        assert_eq!(settings.limits().max_total_bytes, 1_000_000);
        assert_eq!(settings.limits().max_response_bytes, 1_000);
    }

    #[test]
    fn impossible_bounds_are_refused_with_the_fix() {
        for (env, wanted) in [
            (("RESPONSES_STORE_TTL", "0s"), "responses.store_ttl"),
            (
                ("RESPONSES_MAX_STORED_BYTES", "0"),
                "responses.max_stored_bytes",
            ),
            (("RESPONSES_MAX_STORED_BYTES", "1000"), "lower the first"),
        ] {
            let err = load(&[env]).unwrap().validate().unwrap_err().to_string();
            assert!(err.contains(wanted), "{err}");
        }
    }
}
