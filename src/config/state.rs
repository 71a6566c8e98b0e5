//! The `state` settings: where key state lives (sled for one replica,
//! Redis shared by several), checked once at startup.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, Config};
use crate::error::InitError;
use crate::shared_state::{SharedState, SharedStateConfig};

/// Where key state lives: sled (one replica) or Redis (several).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    pub backend: StateBackend,
    /// `redis://`, `rediss://` or `redis+unix://`; shown with its password
    /// masked.
    #[serde(serialize_with = "serialize_masked_url")]
    pub redis_url: String,
    /// Prefixes every Redis key, so deployments can share one Redis.
    pub namespace: String,
    /// How long a lease lives without renewal.
    #[serde(with = "duration")]
    pub lease_ttl: Duration,
}

/// The state backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// The embedded database in `server.data_dir`: one replica.
    Sled,
    /// Redis or Valkey at `state.redis_url`, shared by replicas.
    Redis,
}

fn serialize_masked_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::shared_state::masked_url(url))
}

// === impl Config: the state backend ===

impl Config {
    /// The shared-state settings, checked, when the backend is Redis.
    pub fn shared_state(&self) -> Result<Option<SharedStateConfig>, InitError> {
        let state = &self.settings.state;
        if state.backend == StateBackend::Sled {
            return Ok(None);
        }
        if state.redis_url.trim().is_empty() {
            return Err(InitError::Config(
                "state.backend is redis but no REDIS_URL is set: set it to e.g. \
                 redis://127.0.0.1:6379 (rediss:// for TLS), or use STATE_BACKEND=sled"
                    .to_string(),
            ));
        }
        let proxy = &self.settings.proxy;
        let mut agreed = format!(
            "daily reset {} {}",
            proxy.daily_reset_time, proxy.daily_reset_timezone
        );
        for p in &self.providers {
            let limit = p.max_concurrent_per_key.unwrap_or(0);
            agreed.push_str(&format!("; {} limit {limit}", p.name));
            if !p.limits.is_empty() {
                // Per-key limits counted together must be the same limits.
                agreed.push_str(&format!(
                    " caps {:?} days {:?}",
                    p.limits, p.limits_schedule
                ));
            }
        }
        let config = SharedStateConfig {
            url: state.redis_url.trim().to_string(),
            namespace: state.namespace.clone(),
            lease_ttl: state.lease_ttl,
            agreed,
        };
        SharedState::new(&config).map_err(InitError::Config)?;
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;

    use crate::cli::Cli;
    use crate::config::{load_settings, Config, EnvMap};

    fn config(env: &[(&str, &str)]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(["llm-key-proxy", "--host", "127.0.0.1"]).unwrap();
        let env: EnvMap = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_settings(Path::new("/nonexistent/default.toml"), &cli, &env)
            .and_then(|settings| Config::from_settings(settings, &env))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn sled_is_the_default_and_redis_needs_a_url() {
        let sled = config(&[]).unwrap();
        assert!(sled.shared_state().unwrap().is_none());
        let err = config(&[("STATE_BACKEND", "redis")]).unwrap_err();
        assert!(err.contains("REDIS_URL"), "{err}");
        let err = config(&[
            ("STATE_BACKEND", "redis"),
            ("REDIS_URL", "redis://h:6379"),
            ("STATE_NAMESPACE", "a{b"),
        ])
        .unwrap_err();
        assert!(err.contains("namespace"), "{err}");
        let err = config(&[("STATE_BACKEND", "etcd")]).unwrap_err();
        assert!(err.contains("etcd"), "{err}");
    }

    #[test]
    fn the_redis_password_is_masked_and_settings_apply() {
        let config = config(&[
            ("STATE_BACKEND", "redis"),
            ("REDIS_URL", "redis://:hunter2-secret@cache:6379"),
            ("LEASE_TTL", "10s"),
        ])
        .unwrap();
        let shared = config.shared_state().unwrap().unwrap();
        assert_eq!(shared.lease_ttl, std::time::Duration::from_secs(10));
        assert_eq!(shared.namespace, "llm-key-proxy");
        let text = config.to_masked_toml().unwrap();
        assert!(text.contains("redis://***@cache:6379"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let warned = self::config(&[("REDIS_URL", "redis://cache:6379")]).unwrap();
        assert!(warned.warnings.iter().any(|w| w.contains("REDIS_URL")));
    }
}
