//! Provider wire formats. Today every provider speaks the OpenAI-compatible
//! format ([`openai`]); `presets` lists the built-in providers.

pub mod openai;
pub mod presets;

/// Tokens an upstream answer reported using.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}
