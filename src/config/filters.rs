//! Which models of a provider may be used: `IGNORE_MODELS_<P>` and
//! `WHITELIST_MODELS_<P>`, comma-separated globs on the model id (`*` any
//! run of characters, `?` one character). A whitelisted model is allowed
//! even when an ignore pattern matches it, so `IGNORE_MODELS_X=*` with
//! `WHITELIST_MODELS_X=gpt-4o*` allows only `gpt-4o…`.
//!
//! The matcher is hand-written rather than `globset`'s on purpose: `globset`
//! matches bytes, so its `?` does not match a non-ASCII character such as
//! `é` (two bytes) where this one does, and no option changes that. Its
//! richer syntax (`[…]`, `{a,b}`, `\` escapes, `/**/` spanning zero
//! folders) would also have to be escaped pattern by pattern to keep
//! `IGNORE_MODELS_<P>` meaning what it means today, which takes as much
//! code as the matcher below.

use serde::Serialize;

pub use crate::vocab::glob;

/// A provider's model filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelFilter {
    pub ignore: Vec<String>,
    pub whitelist: Vec<String>,
}

// === impl ModelFilter ===

impl ModelFilter {
    /// Parses the two comma-separated pattern lists (either may be absent).
    pub fn parse(ignore: Option<&str>, whitelist: Option<&str>) -> ModelFilter {
        let list = |raw: Option<&str>| {
            raw.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        ModelFilter {
            ignore: list(ignore),
            whitelist: list(whitelist),
        }
    }

    /// Whether `model` (without the provider prefix) may be used.
    pub fn allows(&self, model: &str) -> bool {
        self.whitelist.iter().any(|p| glob(p, model)) || !self.ignore.iter().any(|p| glob(p, model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let table = [
            ("*", "anything", true),
            ("gpt-4o*", "gpt-4o-mini", true),
            ("gpt-4o*", "gpt-4", false),
            ("*preview*", "gemini-2.5-flash-preview-05", true),
            ("llama-?-8b", "llama-3-8b", true),
            ("llama-?-8b", "llama-31-8b", false),
            ("meta-llama/*", "meta-llama/llama-3-70b", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*-free", "model-free", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            // `?` is one character, not one byte.
            ("llama-?-8b", "llama-é-8b", true),
            // Only `*` and `?` are special; `/` is a character like any.
            ("m[1]", "m[1]", true),
            ("m{a,b}", "m{a,b}", true),
            (r"a\b", r"a\b", true),
            ("a/**/b", "a/b", false),
            ("a/**/b", "a/x/y/b", true),
        ];
        for (pattern, text, expected) in table {
            assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn whitelist_wins_over_ignore() {
        let f = ModelFilter::parse(Some("*"), Some("gpt-4o*, o3-mini"));
        assert!(f.allows("gpt-4o-mini") && f.allows("o3-mini"));
        assert!(!f.allows("gpt-3.5-turbo"));
        let f = ModelFilter::parse(Some("*preview*,*-exp"), None);
        assert!(!f.allows("gemini-2.0-flash-exp") && f.allows("gemini-2.5-flash"));
        assert!(ModelFilter::parse(None, Some("only-this")).allows("anything-else"));
    }
}
