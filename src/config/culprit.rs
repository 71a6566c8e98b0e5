//! Errors in settings that came from the environment: the `config` crate
//! names the setting path (`server.port`), but the user wrote `PROXY_PORT`
//! — so the error names the variable, its value and what it accepts.

use super::env::Env;
use crate::cli::Cli;
use crate::error::InitError;

/// The setting paths a command-line flag overrides (a flag beats the
/// environment, so an environment variable cannot be the culprit there).
pub(super) fn flags_set(cli: &Cli) -> Vec<&'static str> {
    [
        ("server.host", cli.host.is_some()),
        ("server.port", cli.port.is_some()),
        ("server.data_dir", cli.data_dir.is_some()),
        ("server.enable_request_logging", cli.enable_request_logging),
    ]
    .into_iter()
    .filter_map(|(path, set)| set.then_some(path))
    .collect()
}

/// When a bad value came from an environment variable, an error naming that
/// variable, its value (settings hold no secrets) and what it accepts;
/// `None` when the value came from a file or the error has no setting path.
pub(super) fn env_culprit(
    e: &config::ConfigError,
    flags: &[&str],
    env: &dyn Env,
) -> Option<InitError> {
    use config::ConfigError;
    let (key, detail) = match e {
        ConfigError::Type {
            key: Some(key),
            expected,
            ..
        } => (key, accepted(key, expected)),
        ConfigError::At {
            key: Some(key),
            error,
            ..
        } if key == "server.port" => (key, accepted(key, "")),
        ConfigError::At {
            key: Some(key),
            error,
            ..
        } => (key, error.to_string()),
        _ => return None,
    };
    let (var, value) = super::ENV_SETTINGS
        .iter()
        .filter(|(_, path)| path == key && !flags.contains(path))
        .find_map(|(var, _)| {
            let value = env.get(var).filter(|v| !v.trim().is_empty())?;
            Some((*var, value))
        })?;
    Some(InitError::Config(format!(
        "`{var}` = `{value}` is not a valid `{key}`: {detail}. Fix it in `.env` or the \
         environment, or remove it to use the default (see config/default.toml)"
    )))
}

/// What setting `key` of type `expected` accepts, in words.
fn accepted(key: &str, expected: &str) -> String {
    match expected {
        _ if key == "server.port" => "expected a port from 0 to 65535, e.g. 8000".to_string(),
        "u32" | "u64" | "usize" | "an integer" => "expected a whole number, e.g. 4".to_string(),
        "a boolean" | "bool" => "expected `true` or `false`".to_string(),
        other => format!("expected {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use clap::Parser;

    fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, InitError> {
        let cli = Cli::try_parse_from(std::iter::once("llm-key-proxy").chain(args.iter().copied()))
            .unwrap();
        let env: EnvMap = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_settings(Path::new("/nonexistent/default.toml"), &cli, &env)
    }

    #[test]
    fn a_bad_env_value_names_the_variable_and_the_fix() {
        for (var, value, accepts) in [
            ("PROXY_PORT", "abc", "0 to 65535"),
            ("PROXY_PORT", "70000", "0 to 65535"),
            ("PROXY_WORKERS", "many", "whole number"),
            ("METRICS_AUTH", "yes please", "`true` or `false`"),
            ("GLOBAL_TIMEOUT", "forever", "30s"),
        ] {
            let err = load(&[], &[(var, value)]).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{var}` = `{value}`"))
                    && err.contains(accepts)
                    && err.contains("remove it"),
                "{var}: {err}"
            );
        }
    }

    #[test]
    fn a_flag_or_a_file_is_not_blamed_on_the_environment() {
        // The flag wins, so the bad variable does no harm.
        assert!(load(&["--port", "9000"], &[("PROXY_PORT", "abc")]).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.toml");
        std::fs::write(&file, "[server]\nport = \"abc\"\n").unwrap();
        let arg = file.display().to_string();
        let err = load(&["--config", &arg], &[]).unwrap_err().to_string();
        assert!(
            !err.contains("PROXY_PORT") && err.contains("server.port"),
            "{err}"
        );
    }
}
