//! Command-line arguments. Every flag overrides the matching setting (see
//! `config/default.toml`).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// One OpenAI-compatible endpoint in front of many LLM provider keys.
#[derive(Clone, Debug, Default, Parser)]
#[command(name = "llm-key-proxy", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on [default: 0.0.0.0; needs PROXY_API_KEY unless loopback]
    #[arg(long, global = true)]
    pub host: Option<String>,

    /// Port to listen on [default: 8000]
    #[arg(long, global = true)]
    pub port: Option<u16>,

    /// Extra TOML settings file layered over config/default.toml
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Directory of the state database [default: data]
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Log every request (request, response, attempts, usage) under logs/,
    /// secrets redacted
    #[arg(long)]
    pub enable_request_logging: bool,

    /// Validate the configuration, print it with secrets masked, and exit
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Print usage and key state: asks the running proxy (at --host/--port),
    /// or reads the data directory when none runs
    Stats {
        /// Print the JSON of GET /v1/usage instead of a table
        #[arg(long)]
        json: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn stats_takes_json_and_the_global_flags() {
        let cli =
            Cli::try_parse_from(["llm-key-proxy", "stats", "--json", "--port", "9000"]).unwrap();
        assert_eq!(cli.command, Some(Command::Stats { json: true }));
        assert_eq!(cli.port, Some(9000));
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
