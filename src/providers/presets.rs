//! Built-in providers: the key prefix a user writes in `.env` and the base URL
//! the proxy calls. `<P>_API_BASE` overrides any of these.

use super::Format;

/// `(provider name, base URL, wire format)`.
pub const PRESETS: &[(&str, &str, Format)] = &[
    ("openai", "https://api.openai.com/v1", Format::OpenAi),
    ("openrouter", "https://openrouter.ai/api/v1", Format::OpenAi),
    (
        "nvidia_nim",
        "https://integrate.api.nvidia.com/v1",
        Format::OpenAi,
    ),
    ("chutes", "https://llm.chutes.ai/v1", Format::OpenAi),
    ("groq", "https://api.groq.com/openai/v1", Format::OpenAi),
    ("mistral", "https://api.mistral.ai/v1", Format::OpenAi),
    ("deepseek", "https://api.deepseek.com/v1", Format::OpenAi),
    ("together", "https://api.together.xyz/v1", Format::OpenAi),
    (
        "fireworks",
        "https://api.fireworks.ai/inference/v1",
        Format::OpenAi,
    ),
    ("xai", "https://api.x.ai/v1", Format::OpenAi),
    ("cerebras", "https://api.cerebras.ai/v1", Format::OpenAi),
    (
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        Format::Gemini,
    ),
    (
        "anthropic",
        "https://api.anthropic.com/v1",
        Format::Anthropic,
    ),
];

/// A built-in provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    pub base: &'static str,
    pub format: Format,
}

/// The built-in provider `name`, if there is one.
pub fn preset(name: &str) -> Option<Preset> {
    PRESETS
        .iter()
        .find(|(preset, _, _)| *preset == name)
        .map(|(_, base, format)| Preset {
            base,
            format: *format,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_https() {
        for (name, base, _) in PRESETS {
            assert!(base.starts_with("https://"), "{name}: {base}");
            assert!(!base.ends_with('/'), "{name}: trailing slash");
        }
    }

    #[test]
    fn lookup() {
        assert_eq!(
            preset("groq").map(|p| p.base),
            Some("https://api.groq.com/openai/v1")
        );
        assert_eq!(preset("vllm"), None);
        assert_eq!(preset("gemini").map(|p| p.format), Some(Format::Gemini));
    }
}
