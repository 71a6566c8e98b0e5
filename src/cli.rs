//! Command-line arguments. Every flag overrides the matching setting (see
//! `config/default.toml`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// One OpenAI-compatible endpoint in front of many LLM provider keys.
///
/// Flags beat their environment variables ([env: …], also read from .env),
/// which beat the settings files.
#[derive(Clone, Debug, Default, Parser)]
#[command(name = "llm-key-proxy", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on [env: PROXY_HOST] [default: 0.0.0.0; needs
    /// PROXY_API_KEY unless loopback]
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,

    /// Port to listen on [env: PROXY_PORT] [default: 8000]
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,

    /// Extra TOML settings file layered over config/default.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Directory of the state database [env: PROXY_DATA_DIR] [default: data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log every request (request, response, attempts, usage) under logs/,
    /// secrets redacted [env: ENABLE_REQUEST_LOGGING]
    #[arg(long)]
    pub enable_request_logging: bool,

    /// Validate the configuration, print it with secrets masked, and exit
    #[arg(long)]
    pub check_config: bool,
}

/// Where `stats` finds the running proxy or, failing that, its data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct StatsTarget {
    /// Address of the running proxy to ask [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,

    /// Port of the running proxy to ask [env: PROXY_PORT] [default: 8000]
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,

    /// Extra TOML settings file, as given to the proxy
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Directory of the state database, read when no proxy answers
    /// [env: PROXY_DATA_DIR] [default: data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Print usage and key state: asks the running proxy (at --host/--port),
    /// or reads the data directory when none runs
    Stats {
        /// Print the JSON of GET /v1/usage instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: StatsTarget,
    },
    /// Create or update .env: a provider, its keys, and PROXY_API_KEY if absent
    ///
    /// Asks which provider and which keys unless --provider is given (keys
    /// typed on a terminal are hidden). Existing lines are kept; keys are
    /// never printed, only masks.
    Setup {
        /// Provider name: a preset (groq, openai, …) or, with --base-url, a
        /// custom one
        #[arg(long)]
        provider: Option<String>,
        /// A key to add (repeatable); `-` reads one key per line from stdin
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// Base URL of a custom OpenAI-compatible provider (writes
        /// the provider's _API_BASE variable)
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// The file to create or update
        #[arg(long, value_name = "FILE", default_value = ".env")]
        env_file: PathBuf,
    },
}

// === impl Cli ===

impl Cli {
    /// For `stats`: the flags given after the subcommand override those
    /// before it, and the proxy is asked on loopback unless `--host` says
    /// otherwise (it connects rather than listens).
    pub fn for_stats(mut self, target: StatsTarget) -> Cli {
        self.host = target.host.or(self.host).or(Some("127.0.0.1".into()));
        self.port = target.port.or(self.port);
        self.config = target.config.or(self.config);
        self.data_dir = target.data_dir.or(self.data_dir);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn parses_every_flag() {
        let cli = Cli::try_parse_from([
            "llm-key-proxy",
            "--host",
            "127.0.0.1",
            "--port",
            "9999",
            "--config",
            "local.toml",
            "--data-dir",
            "/var/lib/lkp",
            "--check-config",
        ])
        .unwrap();
        assert_eq!(cli.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(cli.port, Some(9999));
        assert_eq!(cli.config, Some(PathBuf::from("local.toml")));
        assert_eq!(cli.data_dir, Some(PathBuf::from("/var/lib/lkp")));
        assert!(cli.check_config);
    }

    #[test]
    fn defaults_are_left_to_the_settings_layers() {
        let cli = Cli::try_parse_from(["llm-key-proxy"]).unwrap();
        assert!(cli.host.is_none() && cli.port.is_none() && !cli.check_config);
    }

    #[test]
    fn stats_takes_json_and_where_the_proxy_is() {
        let cli = Cli::try_parse_from([
            "llm-key-proxy",
            "--data-dir",
            "before",
            "stats",
            "--json",
            "--port",
            "9000",
        ])
        .unwrap();
        let Some(Command::Stats { json, target }) = cli.command.clone() else {
            panic!("{cli:?}")
        };
        assert!(json);
        let cli = cli.for_stats(target);
        assert_eq!(cli.port, Some(9000));
        assert_eq!(cli.host.as_deref(), Some("127.0.0.1"), "asks on loopback");
        assert_eq!(cli.data_dir, Some(PathBuf::from("before")));
    }

    fn help(path: &[&str]) -> String {
        let mut command = Cli::command();
        let mut sub = &mut command;
        for name in path {
            sub = sub.find_subcommand_mut(name).unwrap();
        }
        sub.render_long_help().to_string()
    }

    /// The help paragraph of `--flag`.
    fn flag_help(help: &str, flag: &str) -> String {
        let start = [" ", "\n"]
            .iter()
            .find_map(|end| help.find(&format!("  {flag}{end}")))
            .unwrap_or_else(|| panic!("{flag}: {help}"));
        let rest = &help[start..];
        let end = rest[2..].find("\n  -").map_or(rest.len(), |i| i + 2);
        rest[..end].to_string()
    }

    #[test]
    fn help_names_the_environment_variable_of_each_flag() {
        let main = help(&[]);
        let stats = help(&["stats"]);
        for (text, flag, var) in [
            (&main, "--host", "PROXY_HOST"),
            (&main, "--port", "PROXY_PORT"),
            (&main, "--data-dir", "PROXY_DATA_DIR"),
            (&main, "--enable-request-logging", "ENABLE_REQUEST_LOGGING"),
            (&stats, "--port", "PROXY_PORT"),
            (&stats, "--data-dir", "PROXY_DATA_DIR"),
        ] {
            let paragraph = flag_help(text, flag);
            assert!(paragraph.contains(&format!("[env: {var}]")), "{paragraph}");
            assert!(
                crate::config::ENV_SETTINGS.iter().any(|(v, _)| *v == var),
                "{var} is not a setting variable"
            );
        }
    }

    #[test]
    fn stats_host_is_the_proxy_to_ask_and_setup_has_none() {
        let host = flag_help(&help(&["stats"]), "--host");
        assert!(
            host.contains("proxy to ask") && !host.contains("listen"),
            "{host}"
        );
        assert!(flag_help(&help(&[]), "--host").contains("listen on"));
        let setup = help(&["setup"]);
        for flag in ["--host", "--port", "--data-dir"] {
            assert!(!setup.contains(flag), "setup ignores {flag}: {setup}");
        }
        assert!(Cli::try_parse_from(["llm-key-proxy", "setup", "--host", "x"]).is_err());
    }

    #[test]
    fn setup_takes_provider_keys_base_url_and_env_file() {
        let cli = Cli::try_parse_from([
            "llm-key-proxy",
            "setup",
            "--provider",
            "vllm",
            "--key",
            "k1",
            "--key",
            "-",
            "--base-url",
            "http://localhost:8000/v1",
        ])
        .unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Setup {
                provider: Some("vllm".into()),
                keys: vec!["k1".into(), "-".into()],
                base_url: Some("http://localhost:8000/v1".into()),
                env_file: PathBuf::from(".env"),
            })
        );
        let cli = Cli::try_parse_from(["llm-key-proxy", "setup", "--env-file", "x.env"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Setup { provider: None, ref keys, ref env_file, .. })
                if keys.is_empty() && env_file == &PathBuf::from("x.env")
        ));
    }

    #[test]
    fn bad_port_is_rejected() {
        assert!(Cli::try_parse_from(["llm-key-proxy", "--port", "70000"]).is_err());
    }
}
