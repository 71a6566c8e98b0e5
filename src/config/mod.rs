//! Configuration: settings files, the environment and the command line,
//! layered and validated once at startup.
//!
//! Layering, lowest first: compiled defaults (a copy of
//! `config/default.toml`) → `config/default.toml` in the working directory →
//! the `--config` file → environment variables → CLI flags. Provider keys come
//! only from the environment (see [`providers`]).

mod culprit;
pub mod duration;
pub mod env;
pub mod filters;
pub mod limits;
pub mod providers;
pub mod responses;
pub mod routes;
mod source;
mod state;
pub mod typos;

use std::collections::BTreeMap;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{File, FileFormat};
use serde::{Deserialize, Serialize};

use crate::cli::Cli;
use crate::error::InitError;
use crate::resilience::schedule::DailySchedule;
use crate::secret::Secret;
pub use env::{Env, EnvMap};
pub use limits::ProviderSettings;
pub use providers::ProviderConfig;
pub use responses::ResponsesSettings;
pub use routes::{Route, RouteSettings, Routes};
pub use source::{BuildConfig, ConfigSource, ProcessEnv};
pub use state::{StateBackend, StateSettings};

/// The documented defaults, compiled in so the binary runs from any
/// directory.
const DEFAULTS_TOML: &str = include_str!("../../config/default.toml");

/// Where `cargo run` finds the editable defaults.
const DEFAULT_FILE: &str = "config/default.toml";

/// Environment variables that override settings: `(variable, setting path)`.
pub(crate) const ENV_SETTINGS: &[(&str, &str)] = &[
    ("PROXY_HOST", "server.host"),
    ("PROXY_PORT", "server.port"),
    ("PROXY_DATA_DIR", "server.data_dir"),
    ("PROXY_WORKERS", "server.workers"),
    ("ENABLE_REQUEST_LOGGING", "server.enable_request_logging"),
    ("REQUEST_LOG_DIR", "server.log_dir"),
    ("REQUEST_LOG_KEEP", "server.log_keep"),
    ("METRICS_AUTH", "server.metrics_auth"),
    ("MAX_BODY_SIZE", "server.max_body_size"),
    ("REQUEST_BODY_TIMEOUT", "server.request_body_timeout"),
    ("GLOBAL_TIMEOUT", "proxy.global_timeout"),
    ("UPSTREAM_TIMEOUT", "proxy.upstream_timeout"),
    ("STREAM_IDLE_TIMEOUT", "proxy.stream_idle_timeout"),
    ("MODELS_CACHE_TTL", "proxy.models_cache_ttl"),
    ("MODELS_FETCH_TIMEOUT", "proxy.models_fetch_timeout"),
    (
        "MAX_UPSTREAM_RESPONSE_SIZE",
        "proxy.max_upstream_response_size",
    ),
    (
        "UPSTREAM_CONNECTION_LIMIT",
        "proxy.upstream_connection_limit",
    ),
    ("MAX_RETRIES_PER_KEY", "proxy.max_retries_per_key"),
    ("RETRY_BACKOFF_BASE", "proxy.retry_backoff_base"),
    ("DAILY_RESET_TIME", "proxy.daily_reset_time"),
    ("DAILY_RESET_TIMEZONE", "proxy.daily_reset_timezone"),
    ("RESPONSES_STORE_TTL", "responses.store_ttl"),
    ("RESPONSES_MAX_STORED_BYTES", "responses.max_stored_bytes"),
    (
        "RESPONSES_MAX_RESPONSE_BYTES",
        "responses.max_response_bytes",
    ),
    ("STICKY_SESSIONS", "routing.sticky_sessions"),
    ("STATE_BACKEND", "state.backend"),
    ("REDIS_URL", "state.redis_url"),
    ("STATE_NAMESPACE", "state.namespace"),
    ("LEASE_TTL", "state.lease_ttl"),
];

/// Shortest `PROXY_API_KEY` accepted on a non-loopback address: anything
/// shorter can be guessed by anyone who reaches the port (`setup` generates
/// 64 hex digits).
pub const MIN_PROXY_KEY_LEN: usize = 16;

/// Settings that can live in a file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub proxy: ProxySettings,
    pub state: StateSettings,
    pub responses: ResponsesSettings,
    #[serde(default)]
    pub routing: RoutingSettings,
    /// `[routes.<name>]`; the environment's `ROUTE_<NAME>` join them in
    /// [`Config::routes`], which is what a masked dump shows.
    #[serde(default, skip_serializing)]
    pub routes: BTreeMap<String, RouteSettings>,
    /// `[providers.<p>]`: per-key limits by model glob (see `limits`).
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
}

/// How requests are spread over keys.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// A conversation keeps the key it started on while that key is usable,
    /// so the provider's prompt cache keeps hitting.
    #[serde(default)]
    pub sticky_sessions: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub max_body_size: usize,
    /// Longest a client may take to send its whole body once its head has
    /// arrived; past it the connection gets 408 and is closed.
    #[serde(with = "duration")]
    pub request_body_timeout: Duration,
    pub workers: usize,
    pub enable_request_logging: bool,
    pub log_dir: PathBuf,
    /// Request directories kept; older ones are deleted. 0 = keep all.
    pub log_keep: usize,
    /// `/metrics` asks for the proxy key too (when one is set).
    pub metrics_auth: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    #[serde(with = "duration")]
    pub global_timeout: Duration,
    #[serde(with = "duration")]
    pub upstream_timeout: Duration,
    #[serde(with = "duration")]
    pub stream_idle_timeout: Duration,
    #[serde(with = "duration")]
    pub models_cache_ttl: Duration,
    #[serde(with = "duration")]
    pub models_fetch_timeout: Duration,
    pub max_upstream_response_size: usize,
    pub upstream_connection_limit: usize,
    pub max_retries_per_key: u32,
    #[serde(with = "duration")]
    pub retry_backoff_base: Duration,
    pub daily_reset_time: String,
    pub daily_reset_timezone: String,
}

/// Everything the proxy runs with: settings, the proxy key and providers.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    #[serde(flatten)]
    pub settings: Settings,
    #[serde(serialize_with = "serialize_optional_secret")]
    pub proxy_api_key: Option<Secret>,
    pub providers: Vec<ProviderConfig>,
    /// Model names that stand for chains of targets.
    pub routes: Routes,
    /// Problems that do not stop startup; logged once by the caller.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

fn serialize_optional_secret<S: serde::Serializer>(
    key: &Option<Secret>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match key {
        Some(k) => s.serialize_str(&k.mask()),
        None => s.serialize_none(),
    }
}

// === impl Config ===

impl Config {
    /// Builds the configuration from every layer and validates it.
    pub fn load(cli: &Cli, env: &dyn Env) -> Result<Config, InitError> {
        let settings = load_settings(Path::new(DEFAULT_FILE), cli, env)?;
        Config::from_settings(settings, env)
    }

    /// Completes `settings` with the proxy key and providers from `env`.
    pub fn from_settings(settings: Settings, env: &dyn Env) -> Result<Config, InitError> {
        let mut discovery = providers::discover(env)?;
        limits::apply(&mut discovery.providers, &settings.providers, env)?;
        let proxy_api_key = env
            .get("PROXY_API_KEY")
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .map(Secret::new);
        let mut warnings = discovery.warnings;
        warnings.extend(typos::misspelt_key_vars(env));
        if discovery.providers.is_empty() {
            warnings.push(
                "no provider keys configured: the model list is empty and every request will \
                 fail. Add e.g. OPENAI_API_KEY to .env (see .env.example, or run `setup`)"
                    .to_string(),
            );
        }
        let routes = Routes::build(&settings.routes, env, &discovery.providers)?;
        if settings.state.backend == StateBackend::Sled && !settings.state.redis_url.is_empty() {
            warnings.push(
                "REDIS_URL is set but state.backend is sled: key state stays in this replica's \
                 database (set STATE_BACKEND=redis to share it)"
                    .to_string(),
            );
        }
        let config = Config {
            settings,
            proxy_api_key,
            providers: discovery.providers,
            routes,
            warnings,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot; each message says how to fix it.
    pub fn validate(&self) -> Result<(), InitError> {
        let proxy = &self.settings.proxy;
        for (name, value) in [
            ("proxy.global_timeout", proxy.global_timeout),
            ("proxy.upstream_timeout", proxy.upstream_timeout),
            ("proxy.stream_idle_timeout", proxy.stream_idle_timeout),
            ("proxy.models_fetch_timeout", proxy.models_fetch_timeout),
            (
                "server.request_body_timeout",
                self.settings.server.request_body_timeout,
            ),
        ] {
            if value.is_zero() {
                return Err(InitError::Config(format!(
                    "`{name}` is zero: set it to a positive duration such as \"30s\""
                )));
            }
        }
        let server = &self.settings.server;
        for (name, value) in [
            ("server.max_body_size", server.max_body_size),
            (
                "proxy.max_upstream_response_size",
                proxy.max_upstream_response_size,
            ),
            (
                "proxy.upstream_connection_limit",
                proxy.upstream_connection_limit,
            ),
        ] {
            if value == 0 {
                return Err(InitError::Config(format!(
                    "`{name}` is 0: set it to a positive number"
                )));
            }
        }
        self.daily_schedule()?;
        self.settings.responses.validate()?;
        self.shared_state()?;
        if self.proxy_api_key.is_none() && !is_loopback(&server.host) {
            return Err(InitError::Config(format!(
                "refusing to listen on {} without PROXY_API_KEY: anyone on the network could \
                 spend your provider keys. Set PROXY_API_KEY in .env, or listen locally with \
                 --host 127.0.0.1",
                server.host
            )));
        }
        if let Some(key) = &self.proxy_api_key {
            let len = key.expose().chars().count();
            if len < MIN_PROXY_KEY_LEN && !is_loopback(&server.host) {
                return Err(InitError::Config(format!(
                    "PROXY_API_KEY is only {len} character{} long, too easy to guess on {}: use \
                     at least {MIN_PROXY_KEY_LEN}, e.g. `openssl rand -hex 32` (`setup` \
                     generates one when PROXY_API_KEY is empty), or listen locally with \
                     --host 127.0.0.1",
                    if len == 1 { "" } else { "s" },
                    server.host
                )));
            }
        }
        Ok(())
    }

    /// When the daily reset runs.
    pub fn daily_schedule(&self) -> Result<DailySchedule, InitError> {
        let proxy = &self.settings.proxy;
        DailySchedule::parse(&proxy.daily_reset_time, &proxy.daily_reset_timezone)
            .map_err(InitError::Config)
    }

    /// Every secret of this configuration: the proxy key and all provider
    /// keys but placeholders (what request logs must never contain).
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        // A provider key shorter than 8 characters is a placeholder for a
        // server without auth (`Secret::is_placeholder`): masking `o` would
        // garble every logged text and hide nothing. The proxy key is
        // always a secret.
        let provider_keys = self.providers.iter().flat_map(|p| p.keys.iter());
        self.proxy_api_key
            .iter()
            .chain(provider_keys.filter(|key| !key.is_placeholder()))
    }

    /// Looks up a configured provider by name.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The effective configuration as TOML, every secret masked.
    pub fn to_masked_toml(&self) -> Result<String, InitError> {
        toml::to_string_pretty(self)
            .map_err(|e| InitError::Config(format!("cannot render the configuration: {e}")))
    }
}

/// True for addresses only this machine can reach.
pub fn is_loopback(host: &str) -> bool {
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || trimmed.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Layers the settings files, the environment and the CLI flags.
pub fn load_settings(default_file: &Path, cli: &Cli, env: &dyn Env) -> Result<Settings, InitError> {
    let mut builder = config::Config::builder()
        .add_source(File::from_str(DEFAULTS_TOML, FileFormat::Toml))
        .add_source(
            File::from(default_file)
                .format(FileFormat::Toml)
                .required(false),
        );
    if let Some(extra) = &cli.config {
        if !extra.is_file() {
            return Err(InitError::Config(format!(
                "--config {}: no such file: check the path",
                extra.display()
            )));
        }
        builder = builder.add_source(File::from(extra.as_path()).format(FileFormat::Toml));
    }
    for (var, path) in ENV_SETTINGS {
        if let Some(value) = env.get(var).filter(|v| !v.trim().is_empty()) {
            builder = builder.set_override(*path, value).map_err(config_error)?;
        }
    }
    let flags: [(&str, Option<String>); 4] = [
        ("server.host", cli.host.clone()),
        ("server.port", cli.port.map(|p| p.to_string())),
        (
            "server.data_dir",
            cli.data_dir.as_ref().map(|d| d.display().to_string()),
        ),
        (
            "server.enable_request_logging",
            cli.enable_request_logging.then(|| "true".to_string()),
        ),
    ];
    for (path, value) in flags {
        builder = builder
            .set_override_option(path, value)
            .map_err(config_error)?;
    }
    builder
        .build()
        .and_then(|c| c.try_deserialize::<Settings>())
        .map_err(
            |e| match culprit::env_culprit(&e, &culprit::flags_set(cli), env) {
                Some(error) => error,
                None => config_error(e),
            },
        )
}

fn config_error(e: config::ConfigError) -> InitError {
    InitError::Config(format!("invalid configuration: {e}"))
}

#[cfg(test)]
mod startup_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("llm-key-proxy").chain(args.iter().copied())).unwrap()
    }

    fn no_file() -> &'static Path {
        Path::new("/nonexistent/default.toml")
    }

    #[test]
    fn compiled_defaults_match_the_documented_file() {
        let s = load_settings(no_file(), &cli(&[]), &EnvMap::default()).unwrap();
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!(s.server.port, 8000);
        assert_eq!(s.server.max_body_size, 32 * 1024 * 1024);
        assert_eq!(s.proxy.global_timeout, Duration::from_secs(30));
        assert_eq!(s.proxy.upstream_timeout, Duration::from_secs(120));
        assert_eq!(s.server.request_body_timeout, Duration::from_secs(30));
        assert!(!s.server.enable_request_logging, "request logs are opt-in");
        assert_eq!(s.server.log_dir, PathBuf::from("logs"));
    }

    #[test]
    fn the_request_logging_flag_turns_logs_on() {
        let s = load_settings(
            no_file(),
            &cli(&["--enable-request-logging"]),
            &EnvMap::default(),
        )
        .unwrap();
        assert!(s.server.enable_request_logging);
    }

    #[test]
    fn layers_apply_in_order_file_env_cli() {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("extra.toml");
        std::fs::write(&extra, "[server]\nport = 9000\nhost = \"127.0.0.2\"\n").unwrap();
        let extra_arg = extra.display().to_string();
        let env = EnvMap::from([("PROXY_PORT", "9100"), ("GLOBAL_TIMEOUT", "45")]);
        let s = load_settings(no_file(), &cli(&["--config", &extra_arg]), &env).unwrap();
        assert_eq!(s.server.port, 9100, "env beats the file");
        assert_eq!(s.server.host, "127.0.0.2", "file beats defaults");
        assert_eq!(s.proxy.global_timeout, Duration::from_secs(45));
        let s = load_settings(
            no_file(),
            &cli(&["--config", &extra_arg, "--port", "9200"]),
            &env,
        )
        .unwrap();
        assert_eq!(s.server.port, 9200, "CLI beats env");
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("extra.toml");
        std::fs::write(&extra, "[server]\nprot = 9000\n").unwrap();
        let arg = extra.display().to_string();
        let err = load_settings(no_file(), &cli(&["--config", &arg]), &EnvMap::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn bad_env_duration_says_what_is_accepted() {
        let env = EnvMap::from([("GLOBAL_TIMEOUT", "forever")]);
        let err = load_settings(no_file(), &cli(&[]), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("forever") && err.contains("30s"), "{err}");
    }

    #[test]
    fn daily_reset_settings_are_validated() {
        let env = EnvMap::from([("DAILY_RESET_TIMEZONE", "Mars/Olympus")]);
        let settings = load_settings(no_file(), &cli(&["--host", "127.0.0.1"]), &env).unwrap();
        let err = Config::from_settings(settings, &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Mars/Olympus") && err.contains("IANA"),
            "{err}"
        );
        let env = EnvMap::from([
            ("DAILY_RESET_TIME", "07:30"),
            ("DAILY_RESET_TIMEZONE", "Asia/Kolkata"),
        ]);
        let settings = load_settings(no_file(), &cli(&["--host", "127.0.0.1"]), &env).unwrap();
        let config = Config::from_settings(settings, &env).unwrap();
        assert_eq!(
            config.daily_schedule().unwrap().zone(),
            chrono_tz::Asia::Kolkata
        );
    }

    #[test]
    fn public_host_without_proxy_key_is_refused() {
        let settings = load_settings(no_file(), &cli(&[]), &EnvMap::default()).unwrap();
        let err = Config::from_settings(settings.clone(), &EnvMap::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PROXY_API_KEY") && err.contains("--host 127.0.0.1"),
            "{err}"
        );
        let with_key = EnvMap::from([("PROXY_API_KEY", "a-long-proxy-secret")]);
        assert!(Config::from_settings(settings, &with_key).is_ok());
        let local = load_settings(
            no_file(),
            &cli(&["--host", "127.0.0.1"]),
            &EnvMap::default(),
        )
        .unwrap();
        assert!(Config::from_settings(local, &EnvMap::default()).is_ok());
    }

    #[test]
    fn loopback_detection() {
        for host in ["127.0.0.1", "127.0.0.9", "::1", "[::1]", "localhost"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "192.168.1.2", "example.com"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn masked_toml_hides_every_secret() {
        let settings = load_settings(no_file(), &cli(&[]), &EnvMap::default()).unwrap();
        let env = EnvMap::from([
            ("PROXY_API_KEY", "proxy-secret-value-1234"),
            ("OPENAI_API_KEY_1", "sk-live-secret-abcdefgh"),
        ]);
        let text = Config::from_settings(settings, &env)
            .unwrap()
            .to_masked_toml()
            .unwrap();
        assert!(!text.contains("proxy-secret-value"), "{text}");
        assert!(!text.contains("live-secret"), "{text}");
        assert!(text.contains("sk-…efgh"), "{text}");
        assert!(text.contains("global_timeout = \"30s\""), "{text}");
    }
}
