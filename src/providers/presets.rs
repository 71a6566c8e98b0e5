//! Built-in providers: the key prefix a user writes in `.env` and the base URL
//! the proxy calls. `<P>_API_BASE` overrides any of these.

use super::Format;

/// `(provider name, base URL)`; every preset speaks the OpenAI-compatible
/// format ([`preset`] says which format a provider uses).
///
/// `gemini` and `anthropic` point at their vendors' OpenAI-compatible
/// endpoints until native wire formats land.
pub const PRESETS: &[(&str, &str)] = &[
    ("openai", "https://api.openai.com/v1"),
    ("openrouter", "https://openrouter.ai/api/v1"),
    ("nvidia_nim", "https://integrate.api.nvidia.com/v1"),
    ("chutes", "https://llm.chutes.ai/v1"),
    ("groq", "https://api.groq.com/openai/v1"),
    ("mistral", "https://api.mistral.ai/v1"),
    ("deepseek", "https://api.deepseek.com/v1"),
    ("together", "https://api.together.xyz/v1"),
    ("fireworks", "https://api.fireworks.ai/inference/v1"),
    ("xai", "https://api.x.ai/v1"),
    ("cerebras", "https://api.cerebras.ai/v1"),
    (
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta/openai",
    ),
    ("anthropic", "https://api.anthropic.com/v1"),
];

/// A built-in provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    pub base: &'static str,
    pub format: Format,
}

/// The built-in provider `name`, if there is one.
pub fn preset(name: &str) -> Option<Preset> {
    preset_base(name).map(|base| Preset {
        base,
        format: Format::OpenAi,
    })
}

/// The preset base URL for `name`, if it is a built-in provider.
pub fn preset_base(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(preset, _)| *preset == name)
        .map(|(_, base)| *base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_https() {
        for (name, base) in PRESETS {
            assert!(base.starts_with("https://"), "{name}: {base}");
            assert!(!base.ends_with('/'), "{name}: trailing slash");
        }
    }

    #[test]
    fn lookup() {
        assert_eq!(preset_base("groq"), Some("https://api.groq.com/openai/v1"));
        assert_eq!(preset_base("vllm"), None);
    }
}
