//! Token counting with tiktoken encodings chosen by model family: `o200k_base`
//! for current OpenAI models (gpt-4o, gpt-4.1, gpt-5, o-series), `cl100k_base`
//! otherwise — an estimate for other vendors' models, whose tokenizers are
//! not public.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// A tiktoken encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    O200kBase,
    Cl100kBase,
}

/// Tokens every chat message costs beyond its content (OpenAI's published
/// counting rule for current chat models).
const TOKENS_PER_MESSAGE: usize = 3;
/// A `name` field costs one more.
const TOKENS_PER_NAME: usize = 1;
/// Every reply is primed with `<|start|>assistant<|message|>`.
const REPLY_PRIMING: usize = 3;

/// Model-name prefixes (after any `provider/`) that use `o200k_base`.
const O200K_FAMILIES: &[&str] = &[
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "chatgpt-4o",
    "o1",
    "o3",
    "o4",
    "gpt-oss",
];

// === impl Encoding ===

impl Encoding {
    /// The encoding for `model` (with or without a `provider/` prefix).
    pub fn for_model(model: &str) -> Encoding {
        let name = model
            .rsplit('/')
            .next()
            .unwrap_or(model)
            .to_ascii_lowercase();
        if O200K_FAMILIES.iter().any(|family| name.starts_with(family)) {
            Encoding::O200kBase
        } else {
            Encoding::Cl100kBase
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    /// The tokenizer, built once (its tables are compiled in).
    fn bpe(self) -> Result<&'static CoreBPE, String> {
        static O200K: OnceLock<Result<CoreBPE, String>> = OnceLock::new();
        static CL100K: OnceLock<Result<CoreBPE, String>> = OnceLock::new();
        let built = match self {
            Encoding::O200kBase => {
                O200K.get_or_init(|| tiktoken_rs::o200k_base().map_err(|e| e.to_string()))
            }
            Encoding::Cl100kBase => {
                CL100K.get_or_init(|| tiktoken_rs::cl100k_base().map_err(|e| e.to_string()))
            }
        };
        built
            .as_ref()
            .map_err(|e| format!("the {} tokenizer failed to load: {e}", self.name()))
    }

    /// Tokens in `text`.
    pub fn count_text(self, text: &str) -> Result<usize, String> {
        Ok(self.bpe()?.encode_with_special_tokens(text).len())
    }

    /// Tokens a chat request's `messages` cost as a prompt.
    pub fn count_messages(self, messages: &[Value]) -> Result<usize, String> {
        let bpe = self.bpe()?;
        let count = |text: &str| bpe.encode_with_special_tokens(text).len();
        let mut total = REPLY_PRIMING;
        for message in messages {
            total += TOKENS_PER_MESSAGE;
            if let Some(role) = message.get("role").and_then(Value::as_str) {
                total += count(role);
            }
            if let Some(name) = message.get("name").and_then(Value::as_str) {
                total += count(name) + TOKENS_PER_NAME;
            }
            total += content_text(message.get("content")).map_or(0, |t| count(&t));
            if let Some(calls) = message.get("tool_calls") {
                total += count(&calls.to_string());
            }
        }
        Ok(total)
    }
}

/// The text of a message's content: a string, or the text parts of a list.
fn content_text(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodings_follow_the_model_family() {
        for (model, encoding) in [
            ("openai/gpt-4o-mini", Encoding::O200kBase),
            ("gpt-4.1", Encoding::O200kBase),
            ("openrouter/openai/o3-mini", Encoding::O200kBase),
            ("gpt-3.5-turbo", Encoding::Cl100kBase),
            ("groq/llama-3.1-8b-instant", Encoding::Cl100kBase),
        ] {
            assert_eq!(Encoding::for_model(model), encoding, "{model}");
        }
    }

    #[test]
    fn known_counts() {
        // "hello world" is two tokens in both encodings.
        assert_eq!(Encoding::Cl100kBase.count_text("hello world").unwrap(), 2);
        assert_eq!(Encoding::O200kBase.count_text("hello world").unwrap(), 2);
        assert_eq!(Encoding::O200kBase.count_text("").unwrap(), 0);
    }

    #[test]
    fn messages_follow_the_chat_counting_rule() {
        // Checked by hand: 3 (priming) + 3 (message) + "user" (1) +
        // "hello world" (2) = 9.
        let messages = [json!({"role": "user", "content": "hello world"})];
        assert_eq!(Encoding::Cl100kBase.count_messages(&messages).unwrap(), 9);
        let parts = [json!({"role": "user", "content": [{"type": "text", "text": "hello world"}]})];
        assert_eq!(Encoding::Cl100kBase.count_messages(&parts).unwrap(), 9);
        let named = [json!({"role": "user", "name": "bob", "content": "hello world"})];
        assert_eq!(Encoding::Cl100kBase.count_messages(&named).unwrap(), 11);
    }
}
