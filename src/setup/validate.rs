//! Checks of what the user typed: provider names, base URLs and keys.

use crate::error::InitError;
use crate::secret::mask;

/// Checks a provider name: lower-case letters, digits and `_`, starting with
/// a letter. Upper case is folded.
pub fn validate_provider(name: &str) -> Result<String, InitError> {
    let name = name.trim().to_ascii_lowercase();
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(InitError::Config(format!(
            "`{name}` is not a provider name: use lower-case letters, digits and _, starting \
             with a letter (e.g. vllm, my_gateway)"
        )));
    }
    if name == "proxy" || name.contains("_api_key") || name.contains("_api_base") {
        return Err(InitError::Config(format!(
            "`{name}` cannot be a provider name: it would clash with another variable; pick \
             another (e.g. vllm, my_gateway)"
        )));
    }
    Ok(name)
}

/// Checks a base URL: `http://` or `https://` with a host; the trailing `/`
/// is dropped.
pub fn validate_base_url(url: &str) -> Result<String, InitError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && url.parse::<awc::http::Uri>().is_ok();
    if ok {
        Ok(url.to_string())
    } else {
        Err(InitError::Config(format!(
            "`{}` is not an http(s) URL: pass the provider's OpenAI-compatible base, e.g. \
             http://localhost:8000/v1",
            redact_url(url)
        )))
    }
}

/// A URL for display, without any `user:password@`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if !scheme.is_empty() => format!("{scheme}://…@{}", &rest[at + 1..]),
        _ => url.to_string(),
    }
}

pub(super) fn validate_key(raw: &str) -> Result<String, InitError> {
    let key = raw.trim();
    if key.is_empty() {
        return Err(InitError::Config(
            "empty key: pass the provider's API key with --key KEY".into(),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(InitError::Config(format!(
            "the key {} holds a control character: paste it again without line breaks or tabs",
            mask(key)
        )));
    }
    Ok(key.to_string())
}
