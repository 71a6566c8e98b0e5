//! Misspelt key variables: names that look like a provider key or the proxy
//! key but that discovery ignores (`OPENAI_APIKEY`, `mock_api_key_6`,
//! `GROQ_API_KEYS`, `OPENAI_KEY`). Each gets one warning that names the
//! canonical spelling; values are never read into a message.
//!
//! Only names that clearly mean a key are flagged — they contain `API_KEY`
//! in some spelling, or are `<preset>_KEY` — so unrelated variables stay
//! quiet.

use super::env::Env;
use super::providers::{parse_key_var, valid_provider_name};
use crate::providers::presets::preset;

/// The proxy's own key variable, which is not a provider key.
const PROXY_KEY_VAR: &str = "PROXY_API_KEY";

/// One warning per variable that looks like a misspelt key variable.
pub fn misspelt_key_vars(env: &dyn Env) -> Vec<String> {
    env.vars()
        .into_iter()
        .filter_map(|(name, _value)| {
            let canonical = canonical_name(&name)?;
            Some(format!(
                "`{name}` is ignored: did you mean `{canonical}`? Rename it in `.env` or the \
                 environment (key variables are upper-case <PROVIDER>_API_KEY or \
                 <PROVIDER>_API_KEY_<n>)"
            ))
        })
        .collect()
}

/// The name `var` was probably meant to be, if it is a misspelt key
/// variable; `None` for correct names and for unrelated variables.
fn canonical_name(var: &str) -> Option<String> {
    if var == PROXY_KEY_VAR || is_key_var(var) {
        return None;
    }
    let upper = var.to_ascii_uppercase().replace('-', "_");
    let candidate = if upper.contains("API_KEY") {
        match upper.find("API_KEYS") {
            // `OPENAI_API_KEYS` → `OPENAI_API_KEY`, `X_API_KEYS_2` → `X_API_KEY_2`.
            Some(at) => format!("{}API_KEY{}", &upper[..at], &upper[at + "API_KEYS".len()..]),
            None => upper,
        }
    } else if let Some(at) = upper.find("_APIKEY") {
        format!("{}_API_KEY{}", &upper[..at], &upper[at + "_APIKEY".len()..])
    } else {
        // `OPENAI_KEY`, `GROQ_KEY_2`: only for built-in providers.
        let (provider, rest) = split_at_marker(&upper, "_KEY")?;
        preset(&provider.to_ascii_lowercase())?;
        format!("{provider}_API_KEY{rest}")
    };
    (candidate == PROXY_KEY_VAR || is_key_var(&candidate)).then_some(candidate)
}

/// Whether discovery reads `var` as a provider key variable.
fn is_key_var(var: &str) -> bool {
    parse_key_var(var).is_some_and(|(provider, _)| valid_provider_name(&provider))
}

/// `("GROQ", "_2")` for `GROQ_KEY_2`; the marker must end the name or be
/// followed by `_`.
fn split_at_marker<'a>(var: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let at = var.find(marker)?;
    let rest = &var[at + marker.len()..];
    (at > 0 && (rest.is_empty() || rest.starts_with('_'))).then(|| (&var[..at], rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env::EnvMap;

    #[test]
    fn misspellings_get_the_canonical_name() {
        for (typo, canonical) in [
            ("OPENAI_APIKEY", "OPENAI_API_KEY"),
            ("OPENAI_APIKEY_2", "OPENAI_API_KEY_2"),
            ("mock_api_key_6", "MOCK_API_KEY_6"),
            ("Groq_Api_Key", "GROQ_API_KEY"),
            ("GEMINI_API-KEY", "GEMINI_API_KEY"),
            ("OPENAI_API_KEYS", "OPENAI_API_KEY"),
            ("GROQ_API_KEYS_2", "GROQ_API_KEY_2"),
            ("OPENAI_KEY", "OPENAI_API_KEY"),
            ("groq_key_3", "GROQ_API_KEY_3"),
            ("proxy_api_key", "PROXY_API_KEY"),
            ("PROXY_APIKEY", "PROXY_API_KEY"),
        ] {
            assert_eq!(canonical_name(typo).as_deref(), Some(canonical), "{typo}");
        }
    }

    #[test]
    fn correct_and_unrelated_names_stay_quiet() {
        for name in [
            "PROXY_API_KEY",
            "OPENAI_API_KEY",
            "NVIDIA_NIM_API_KEY_12",
            "GEMINI_API_KEY_backup",
            "OPENAI_API_BASE",
            "PATH",
            "HOME",
            "SSH_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "MONKEY",
            "KEY",
            "API_KEY",
            "_API_KEY",
            "MAX_CONCURRENT_REQUESTS_PER_KEY_OPENAI",
        ] {
            assert_eq!(canonical_name(name), None, "{name}");
        }
    }

    #[test]
    fn warnings_name_the_variable_but_never_the_value() {
        let env = EnvMap::from([
            ("OPENAI_APIKEY", "sk-SECRET-VALUE-0001"),
            ("mock_api_key_6", "SECRET-VALUE-0002"),
            ("OPENAI_API_KEY", "sk-SECRET-VALUE-0003"),
            ("HOME", "/home/me"),
        ]);
        let warnings = misspelt_key_vars(&env);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings
            .iter()
            .any(|w| w.contains("`OPENAI_APIKEY`") && w.contains("did you mean `OPENAI_API_KEY`")));
        assert!(warnings
            .iter()
            .any(|w| w.contains("`mock_api_key_6`") && w.contains("`MOCK_API_KEY_6`")));
        assert!(
            !warnings.iter().any(|w| w.contains("SECRET")),
            "{warnings:?}"
        );
    }
}
