//! Per-key limits of each provider (see `resilience::limits` in the key
//! pool): from the environment, `RPM_LIMIT_<P>`, `RPD_LIMIT_<P>` and
//! `TPM_LIMIT_<P>` (every model of provider P), and from the settings
//! file, `[providers.<p>.limits."<glob>"]` with `rpm`, `rpd`, `tpm` (the
//! models the glob matches). For a model, each limit comes from the
//! longest glob that matches it and sets it; the environment's values
//! count as the glob `*` and win over a `"*"` table. Days for `rpd` begin
//! at `DAILY_RESET_TIME_<P>` in `DAILY_RESET_TIMEZONE_<P>` when either is
//! set, else at the global daily reset.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::env::Env;
use super::providers::ProviderConfig;
use crate::error::InitError;
use crate::resilience::limits::{Caps, LimitRules};
use crate::resilience::schedule::DailySchedule;

/// `[providers.<p>]` of the settings file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Model glob → its limits.
    #[serde(default)]
    pub limits: BTreeMap<String, LimitSettings>,
}

/// One glob's limits; each optional.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub rpm: Option<u64>,
    pub rpd: Option<u64>,
    pub tpm: Option<u64>,
}

/// Gives every provider its limits and its own days, from `env` and the
/// settings file's `providers`.
pub fn apply(
    providers: &mut [ProviderConfig],
    file: &BTreeMap<String, ProviderSettings>,
    env: &dyn Env,
) -> Result<(), InitError> {
    if let Some(unknown) = file
        .keys()
        .find(|name| !providers.iter().any(|p| &p.name == *name))
    {
        return Err(InitError::Config(format!(
            "[providers.{unknown}] sets limits for a provider with no key: add a key for \
             `{unknown}` or remove the table"
        )));
    }
    for provider in providers.iter_mut() {
        let upper = provider.name.to_ascii_uppercase();
        let mut rules = Vec::new();
        let from_env = Caps {
            rpm: number(env, &format!("RPM_LIMIT_{upper}"))?,
            rpd: number(env, &format!("RPD_LIMIT_{upper}"))?,
            tpm: number(env, &format!("TPM_LIMIT_{upper}"))?,
        };
        if !from_env.is_none() {
            rules.push(("*".to_string(), from_env));
        }
        for (glob, limits) in file
            .get(&provider.name)
            .map(|p| &p.limits)
            .into_iter()
            .flatten()
        {
            for (name, value) in [
                ("rpm", limits.rpm),
                ("rpd", limits.rpd),
                ("tpm", limits.tpm),
            ] {
                if value == Some(0) {
                    return Err(InitError::Config(format!(
                        "[providers.{}.limits.\"{glob}\"] {name} = 0 would refuse every \
                         request: give a positive number, or leave it out for no limit",
                        provider.name
                    )));
                }
            }
            let caps = Caps {
                rpm: limits.rpm,
                rpd: limits.rpd,
                tpm: limits.tpm,
            };
            rules.push((glob.clone(), caps));
        }
        provider.limits = LimitRules::new(rules);
        provider.limits_schedule = schedule(env, &upper)?;
    }
    Ok(())
}

/// A positive whole number from `var`, if set.
fn number(env: &dyn Env, var: &str) -> Result<Option<u64>, InitError> {
    let Some(raw) = env.get(var) else {
        return Ok(None);
    };
    match raw.trim().parse::<u64>() {
        _ if raw.trim().is_empty() => Ok(None),
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(InitError::Config(format!(
            "`{var}` = `{raw}` is not a positive whole number: give the provider's limit per \
             key, e.g. 15, or unset it for no limit"
        ))),
    }
}

/// `DAILY_RESET_TIME_<P>` (default 00:00) in `DAILY_RESET_TIMEZONE_<P>`
/// (default UTC), when either is set.
fn schedule(env: &dyn Env, upper: &str) -> Result<Option<DailySchedule>, InitError> {
    let time_var = format!("DAILY_RESET_TIME_{upper}");
    let zone_var = format!("DAILY_RESET_TIMEZONE_{upper}");
    let (time, zone) = (env.get(&time_var), env.get(&zone_var));
    if time.is_none() && zone.is_none() {
        return Ok(None);
    }
    let time = time.unwrap_or_else(|| "00:00".to_string());
    let zone = zone.unwrap_or_else(|| "UTC".to_string());
    DailySchedule::parse(&time, &zone)
        .map(Some)
        .map_err(|e| InitError::Config(format!("{time_var} / {zone_var}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env::EnvMap;
    use crate::config::providers::discover;

    fn providers(env: &EnvMap) -> Vec<ProviderConfig> {
        discover(env).unwrap().providers
    }

    #[test]
    fn env_limits_apply_to_every_model_and_file_globs_to_theirs() {
        let env = EnvMap::from([
            ("GEMINI_API_KEY", "AIza-limits-test-0001"),
            ("RPM_LIMIT_GEMINI", "15"),
            ("RPD_LIMIT_GEMINI", "1500"),
            ("DAILY_RESET_TIMEZONE_GEMINI", "America/Los_Angeles"),
        ]);
        let mut found = providers(&env);
        let file = BTreeMap::from([(
            "gemini".to_string(),
            ProviderSettings {
                limits: BTreeMap::from([(
                    "gemini-2.5-pro*".to_string(),
                    LimitSettings {
                        rpm: Some(5),
                        rpd: Some(100),
                        tpm: None,
                    },
                )]),
            },
        )]);
        apply(&mut found, &file, &env).unwrap();
        let gemini = &found[0];
        let flash = gemini.limits.caps("gemini-2.0-flash");
        assert_eq!(
            (flash.rpm, flash.rpd, flash.tpm),
            (Some(15), Some(1500), None)
        );
        let pro = gemini.limits.caps("gemini-2.5-pro");
        assert_eq!((pro.rpm, pro.rpd), (Some(5), Some(100)));
        let days = gemini.limits_schedule.unwrap();
        assert_eq!(days.zone().name(), "America/Los_Angeles");
    }

    #[test]
    fn bad_limits_are_refused_with_the_variable_named() {
        let env = EnvMap::from([
            ("GROQ_API_KEY", "gsk-limits-test-0001"),
            ("RPM_LIMIT_GROQ", "lots"),
        ]);
        let e = apply(&mut providers(&env), &BTreeMap::new(), &env).unwrap_err();
        assert!(e.to_string().contains("RPM_LIMIT_GROQ"), "{e}");
        let env = EnvMap::from([("GROQ_API_KEY", "gsk-limits-test-0001")]);
        let file = BTreeMap::from([("nope".to_string(), ProviderSettings::default())]);
        let e = apply(&mut providers(&env), &file, &env).unwrap_err();
        assert!(e.to_string().contains("[providers.nope]"), "{e}");
        let env = EnvMap::from([
            ("GROQ_API_KEY", "gsk-limits-test-0001"),
            ("DAILY_RESET_TIMEZONE_GROQ", "Mars/Olympus"),
        ]);
        let e = apply(&mut providers(&env), &BTreeMap::new(), &env).unwrap_err();
        assert!(e.to_string().contains("DAILY_RESET_TIMEZONE_GROQ"), "{e}");
    }

    #[test]
    fn the_settings_file_gives_limits_by_model_glob() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("limits.toml");
        std::fs::write(
            &file,
            "[providers.mock.limits.\"big-*\"]\nrpd = 1\ntpm = 500\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let cli = crate::cli::Cli::try_parse_from([
            "llm-key-proxy",
            "--host",
            "127.0.0.1",
            "--config",
            &path,
        ])
        .unwrap();
        let env = EnvMap::from([
            ("MOCK_API_KEY", "sk-limits-file-0001"),
            ("MOCK_API_BASE", "http://127.0.0.1:9/v1"),
            ("RPM_LIMIT_MOCK", "30"),
        ]);
        let none = std::path::Path::new("/nonexistent/default.toml");
        let settings = crate::config::load_settings(none, &cli, &env).unwrap();
        let config = crate::config::Config::from_settings(settings, &env).unwrap();
        let mock = config.provider("mock").unwrap();
        let big = mock.limits.caps("big-model");
        assert_eq!((big.rpm, big.rpd, big.tpm), (Some(30), Some(1), Some(500)));
        let small = mock.limits.caps("small");
        assert_eq!((small.rpm, small.rpd, small.tpm), (Some(30), None, None));

        std::fs::write(&file, "[providers.mock.limits.\"*\"]\nrpn = 3\n").unwrap();
        let e = crate::config::load_settings(none, &cli, &env).unwrap_err();
        assert!(e.to_string().contains("rpn"), "{e}");
    }
}
