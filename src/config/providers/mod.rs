//! Provider discovery: which providers are configured, with which keys.
//!
//! Every `<PROVIDER>_API_KEY` or `<PROVIDER>_API_KEY_<anything>` variable adds
//! a key to provider `<provider>` (lower-cased). `<P>_API_BASE` overrides a
//! preset's base URL or defines a custom OpenAI-compatible provider.
//! `MAX_CONCURRENT_REQUESTS_PER_KEY_<P>` and `<P>_MODELS` tune a provider;
//! `<P>_RESPONSES` says whether it serves the Responses API natively.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::env::Env;
use super::filters::ModelFilter;
use crate::error::InitError;
use crate::keypool::PoolProvider;
use crate::providers::presets::preset;
use crate::providers::Format;
use crate::resilience::limits::LimitRules;
use crate::resilience::schedule::DailySchedule;
use crate::secret::{Secret, MIN_SECRET_CHARS};

/// Requests one key may serve at once for one model, unless configured.
pub const DEFAULT_MAX_CONCURRENT_PER_KEY: u32 = 1;

/// One configured provider.
#[derive(Clone, Debug, Serialize)]
pub struct ProviderConfig {
    pub name: String,
    /// Base URL without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub api_base: String,
    /// In discovery order; never empty for a configured provider.
    #[serde(serialize_with = "serialize_masked")]
    pub keys: Vec<Secret>,
    /// Requests in flight per (key, model); `None` = unlimited.
    pub max_concurrent_per_key: Option<u32>,
    /// Extra model ids from `<P>_MODELS`, listed in `/v1/models`.
    pub static_models: Vec<String>,
    /// `IGNORE_MODELS_<P>` / `WHITELIST_MODELS_<P>`.
    pub models: ModelFilter,
    /// The wire format the provider speaks.
    pub format: Format,
    /// The provider serves OpenAI's Responses API itself (the `openai`
    /// preset, or `<P>_RESPONSES=native`): `POST /v1/responses` goes to its
    /// `/responses` as sent, with only `model` replaced.
    pub responses_native: bool,
    /// Per-key limits by model glob (see `config::limits`).
    #[serde(skip)]
    pub limits: LimitRules,
    /// When the provider's days (for daily limits) begin, if not at the
    /// global daily reset.
    #[serde(skip)]
    pub limits_schedule: Option<DailySchedule>,
}

/// The key pool's view of a configured provider. Here rather than in the
/// pool, which does not read the configuration.
impl From<&ProviderConfig> for PoolProvider {
    fn from(p: &ProviderConfig) -> PoolProvider {
        PoolProvider {
            name: p.name.clone(),
            keys: p.keys.clone(),
            max_concurrent_per_key: p.max_concurrent_per_key,
            limits: p.limits.clone(),
            limits_schedule: p.limits_schedule,
        }
    }
}

/// What discovery found, plus warnings for the operator.
#[derive(Debug, Default)]
pub struct Discovery {
    pub providers: Vec<ProviderConfig>,
    pub warnings: Vec<String>,
}

/// A key variable found in the environment: `(sort order, name, value)`.
type KeyVar = ((u8, u64, String), String, String);

fn serialize_masked<S: serde::Serializer>(keys: &[Secret], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(keys.iter().map(Secret::mask))
}

/// Splits `NVIDIA_NIM_API_KEY_2` into `("nvidia_nim", "2")`, and
/// `OPENAI_API_KEY` into `("openai", "")`.
pub(super) fn parse_key_var(var: &str) -> Option<(String, String)> {
    const MARKER: &str = "_API_KEY";
    let mut search_from = 0;
    while let Some(pos) = var[search_from..].find(MARKER) {
        let at = search_from + pos;
        let rest = &var[at + MARKER.len()..];
        if at > 0 && (rest.is_empty() || rest.starts_with('_')) {
            let suffix = rest.trim_start_matches('_').to_string();
            return Some((var[..at].to_ascii_lowercase(), suffix));
        }
        search_from = at + MARKER.len();
    }
    None
}

/// Sort order for key variables: bare `X_API_KEY` first, then numeric
/// suffixes in numeric order, then other suffixes alphabetically.
fn suffix_order(suffix: &str) -> (u8, u64, String) {
    match suffix.parse::<u64>() {
        _ if suffix.is_empty() => (0, 0, String::new()),
        Ok(n) => (1, n, String::new()),
        Err(_) => (2, 0, suffix.to_string()),
    }
}

pub(super) fn valid_provider_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Finds every configured provider in `env`.
pub fn discover(env: &dyn Env) -> Result<Discovery, InitError> {
    let mut found = Discovery::default();
    let mut key_vars: BTreeMap<String, Vec<KeyVar>> = BTreeMap::new();
    let mut bases: BTreeMap<String, String> = BTreeMap::new();

    for (var, value) in env.vars() {
        if var == "PROXY_API_KEY" {
            continue;
        }
        if let Some((provider, suffix)) = parse_key_var(&var) {
            if !valid_provider_name(&provider) {
                continue;
            }
            key_vars
                .entry(provider)
                .or_default()
                .push((suffix_order(&suffix), var, value));
        } else if let Some(prefix) = var.strip_suffix("_API_BASE") {
            let provider = prefix.to_ascii_lowercase();
            if valid_provider_name(&provider) && !value.trim().is_empty() {
                bases.insert(provider, value.trim().trim_end_matches('/').to_string());
            }
        }
    }

    // Empty placeholders (`.env.example` has one per provider) are summed
    // up in one line rather than one warning each at every start.
    let mut empty: Vec<String> = Vec::new();
    for (name, mut vars) in key_vars {
        vars.sort();
        let mut keys: Vec<Secret> = Vec::new();
        // Looked up, not searched: a provider may have thousands of keys.
        let mut seen: HashSet<&str> = HashSet::new();
        let mut placeholders: Vec<String> = Vec::new();
        for (_, var, value) in &vars {
            let value = value.trim();
            if value.is_empty() {
                empty.push(var.clone());
            } else if !seen.insert(value) {
                found.warnings.push(format!(
                    "`{var}` repeats a key already configured for `{name}`; using it once"
                ));
            } else {
                let key = Secret::new(value);
                if key.is_placeholder() {
                    placeholders.push(format!("`{var}`"));
                }
                keys.push(key);
            }
        }
        let upper = name.to_ascii_uppercase();
        let preset = preset(&name);
        let api_base = match bases.remove(&name) {
            Some(base) => validate_base(&upper, base)?,
            None => match preset {
                Some(preset) => preset.base.to_string(),
                None => {
                    found.warnings.push(format!(
                        "provider `{name}` has keys but no known base URL: set `{upper}_API_BASE` \
                         to its OpenAI-compatible endpoint (e.g. http://localhost:8000/v1)"
                    ));
                    continue;
                }
            },
        };
        if keys.is_empty() {
            continue;
        }
        if !placeholders.is_empty() {
            found.warnings.push(format!(
                "provider `{name}`: {} shorter than {MIN_SECRET_CHARS} characters, taken as a \
                 placeholder for a server without auth: sent as is, but not masked where the \
                 server's answers echo it",
                placeholders.join(", ")
            ));
        }
        let format = preset.map_or(Format::OpenAi, |p| p.format);
        let mut responses_native = responses_native(env, &name, &upper)?;
        if responses_native && format != Format::OpenAi {
            found.warnings.push(format!(
                "`{upper}_RESPONSES=native` is ignored: `{name}` speaks its own API, so \
                 /v1/responses is translated for it"
            ));
            responses_native = false;
        }
        found.providers.push(ProviderConfig {
            format,
            responses_native,
            max_concurrent_per_key: max_concurrent(env, &upper)?,
            static_models: static_models(env, &upper)?,
            models: ModelFilter::parse(
                env.get(&format!("IGNORE_MODELS_{upper}")).as_deref(),
                env.get(&format!("WHITELIST_MODELS_{upper}")).as_deref(),
            ),
            name,
            api_base,
            keys,
            limits: LimitRules::default(),
            limits_schedule: None,
        });
    }
    if let Some(warning) = empty_summary(&empty) {
        found.warnings.push(warning);
    }
    for name in bases.keys() {
        let upper = name.to_ascii_uppercase();
        found.warnings.push(format!(
            "`{upper}_API_BASE` is set but provider `{name}` has no key: set `{upper}_API_KEY` \
             (any value, for a server without auth)"
        ));
    }
    Ok(found)
}

/// One line for every empty key variable: named when alone, counted with
/// the first few named when many.
fn empty_summary(empty: &[String]) -> Option<String> {
    /// Names shown before "and N more".
    const SHOWN: usize = 3;
    match empty {
        [] => None,
        [var] => Some(format!(
            "`{var}` is empty and was skipped: set it in `.env` or remove it"
        )),
        many => {
            let mut names: Vec<String> =
                many.iter().take(SHOWN).map(|v| format!("`{v}`")).collect();
            if many.len() > SHOWN {
                names.push(format!("and {} more", many.len() - SHOWN));
            }
            Some(format!(
                "{} key variables are empty and were skipped ({}): set them in `.env` or \
                 remove them",
                many.len(),
                names.join(", ")
            ))
        }
    }
}

/// `<P>_RESPONSES`: `native` (the provider serves `/responses` itself) or
/// `translated` (through chat); unset means native for the `openai` preset
/// only. Only OpenAI-compatible providers can be native.
fn responses_native(env: &dyn Env, name: &str, upper: &str) -> Result<bool, InitError> {
    let var = format!("{upper}_RESPONSES");
    match env.get(&var).as_deref().map(str::trim) {
        None | Some("") => Ok(name == "openai"),
        Some(v) if v.eq_ignore_ascii_case("native") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("translated") => Ok(false),
        Some(v) => Err(InitError::Config(format!(
            "`{var}={v}` is not a Responses mode: use `native` (the provider serves \
             /responses itself) or `translated` (through its chat API)"
        ))),
    }
}

fn validate_base(upper: &str, base: String) -> Result<String, InitError> {
    let ok = (base.starts_with("http://") || base.starts_with("https://"))
        && base.parse::<awc::http::Uri>().is_ok();
    if ok {
        Ok(base)
    } else {
        Err(InitError::Config(format!(
            "`{upper}_API_BASE` = `{base}` is not an http(s) URL: set it to the provider's \
             OpenAI-compatible base, e.g. http://localhost:8000/v1"
        )))
    }
}

fn max_concurrent(env: &dyn Env, upper: &str) -> Result<Option<u32>, InitError> {
    let var = format!("MAX_CONCURRENT_REQUESTS_PER_KEY_{upper}");
    let Some(raw) = env.get(&var) else {
        return Ok(Some(DEFAULT_MAX_CONCURRENT_PER_KEY));
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if n <= 0 => Ok(None),
        Ok(n) => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
        Err(_) => Err(InitError::Config(format!(
            "`{var}` = `{raw}` is not a whole number: use e.g. 1, 4, or 0 for unlimited"
        ))),
    }
}

fn static_models(env: &dyn Env, upper: &str) -> Result<Vec<String>, InitError> {
    let var = format!("{upper}_MODELS");
    let Some(raw) = env.get(&var) else {
        return Ok(Vec::new());
    };
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str::<Vec<String>>(&raw).map_err(|_| {
        InitError::Config(format!(
            "`{var}` must be a JSON array of model ids, e.g. [\"llama-3-8b\",\"qwen2-7b\"]"
        ))
    })
}

#[cfg(test)]
mod tests;
