//! Reading a client's JSON body and the `provider/model` it names.

use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::web;
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::config::{Config, ProviderConfig};
use crate::error::ApiError;
use crate::inbound::shape::check_model_id;

/// How error messages show a model name.
const MODEL_EXAMPLE: &str = "e.g. \"openai/gpt-4o-mini\"";

/// Most a declared `Content-Length` may reserve before bytes arrive.
const INITIAL_BODY_CAPACITY: usize = 64 * 1024;

/// Reads the whole body, refusing more than `limit` bytes, and parses it as
/// a JSON object.
pub async fn read_json_object(
    headers: &HeaderMap,
    payload: web::Payload,
    limit: usize,
) -> Result<Map<String, Value>, ApiError> {
    parse_json_object(&read_body(headers, payload, limit).await?)
}

/// Like [`read_json_object`], but an empty body is `None`.
pub async fn read_optional_json_object(
    headers: &HeaderMap,
    payload: web::Payload,
    limit: usize,
) -> Result<Option<Map<String, Value>>, ApiError> {
    parse_optional_json_object(&read_body(headers, payload, limit).await?)
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_body(
    headers: &HeaderMap,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(INITIAL_BODY_CAPACITY));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(super::body_deadline::read_error)?;
        let len = body.len() + chunk.len();
        if len > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if len > body.capacity() {
            // `reserve` would double past the declared length: an exact
            // buffer instead.
            let mut grown = web::BytesMut::with_capacity(grown(body.capacity(), len, declared));
            grown.extend_from_slice(&body);
            body = grown;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The capacity for `len` bytes of a body declared `declared` bytes long,
/// from `capacity`: doubling, but never past the declared length, so a 1 MB
/// body takes 1 MB, not the 2 MB a doubling would overshoot to. The
/// declared length is trusted only as far as bytes arrived.
fn grown(capacity: usize, len: usize, declared: Option<usize>) -> usize {
    let doubled = capacity.saturating_mul(2).max(len);
    declared
        .filter(|&n| n >= len)
        .map_or(doubled, |n| n.min(doubled))
}

/// A body read by [`read_body`] as a JSON object; an empty one is refused.
pub fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    parse_optional_json_object(body)?
        .ok_or_else(|| ApiError::invalid("the request body is empty: send a JSON object"))
}

/// Like [`parse_json_object`], but an empty body is `None`.
fn parse_optional_json_object(body: &[u8]) -> Result<Option<Map<String, Value>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(ApiError::invalid("the request body must be a JSON object")),
        Err(e) => Err(ApiError::invalid(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// An optional string field; present but not a string is a 400 naming it.
pub fn optional_str(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_param(
            format!("`{field}` must be a string"),
            field,
        )),
    }
}

/// The provider and upstream model a request names.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    pub provider: &'a ProviderConfig,
    /// The model without the provider prefix, as the provider knows it.
    pub model: String,
}

impl Target<'_> {
    /// `provider/model`, as clients and routes name it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider.name, self.model)
    }
}

/// The body's `model`: required, a string.
pub fn requested_model(body: &Map<String, Value>) -> Result<&str, ApiError> {
    let example = MODEL_EXAMPLE;
    match body.get("model") {
        Some(Value::String(m)) => Ok(m),
        None | Some(Value::Null) => Err(ApiError::invalid_param(
            format!("`model` is required: name the provider and the model, {example}"),
            "model",
        )),
        Some(_) => Err(ApiError::invalid_param(
            format!("`model` must be a string like {example}"),
            "model",
        )),
    }
}

/// Resolves a `model` (`"<provider>/<model>"`) against the configured
/// providers. Every HTTP route that names a model comes through here (and
/// [`allowed_model`]), so the shape checks of [`check_model_id`] and the
/// format's own apply to all of them.
pub fn resolve_model<'a>(config: &'a Config, model: &str) -> Result<Target<'a>, ApiError> {
    let example = MODEL_EXAMPLE;
    check_model_id(model)?;
    let Some((provider, upstream_model)) = model
        .split_once('/')
        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
    else {
        return Err(ApiError::invalid_param(
            format!(
                "model \"{model}\" has no provider prefix and is no route: use \
                 \"<provider>/<model>\", {example}, or a route; configured providers: {}; routes: \
                 {}",
                configured(config),
                routes(config)
            ),
            "model",
        ));
    };
    let name = provider.to_ascii_lowercase();
    let Some(provider) = config.provider(&name) else {
        return Err(ApiError::invalid_param(
            format!(
                "unknown provider `{name}` in model \"{model}\": configured providers: {}. \
                 To use it, add {upper}_API_KEY (and {upper}_API_BASE for a custom provider) \
                 to .env",
                configured(config),
                upper = name.to_ascii_uppercase()
            ),
            "model",
        ));
    };
    let upstream_model = allowed_model(provider, upstream_model)?;
    Ok(Target {
        provider,
        model: upstream_model.to_string(),
    })
}

/// The model as `provider` names it, if its wire format can carry it and
/// its filters allow it; otherwise a 400 saying what to change.
pub fn allowed_model<'m>(provider: &ProviderConfig, model: &'m str) -> Result<&'m str, ApiError> {
    let wire = provider.format.wire();
    let bare = wire.normalize_model(model);
    wire.check_model(bare)
        .map_err(|why| ApiError::invalid_param(why, "model"))?;
    if provider.models.allows(bare) {
        return Ok(bare);
    }
    let upper = provider.name.to_ascii_uppercase();
    Err(ApiError::invalid_param(
        format!(
            "model \"{}/{model}\" is disabled by IGNORE_MODELS_{upper}: add it to \
             WHITELIST_MODELS_{upper} to allow it",
            provider.name
        ),
        "model",
    ))
}

fn routes(config: &Config) -> String {
    if config.routes.is_empty() {
        return "none (see ROUTE_<NAME> in .env.example)".into();
    }
    config.routes.names().collect::<Vec<_>>().join(", ")
}

fn configured(config: &Config) -> String {
    if config.providers.is_empty() {
        return "none (add <PROVIDER>_API_KEY to .env)".into();
    }
    config
        .providers
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_settings, EnvMap};
    use serde_json::json;

    #[test]
    fn a_body_grows_by_doubling_up_to_its_declared_length() {
        const K: usize = 1024;
        assert_eq!(grown(64 * K, 65 * K, Some(1000 * K)), 128 * K);
        assert_eq!(
            grown(512 * K, 600 * K, Some(1000 * K)),
            1000 * K,
            "not 1024 K"
        );
        assert_eq!(grown(64 * K, 65 * K, None), 128 * K);
        assert_eq!(grown(64 * K, 300 * K, None), 300 * K, "a large chunk");
        // A body longer than declared is refused by actix; here it grows.
        assert_eq!(grown(64 * K, 65 * K, Some(10)), 128 * K);
    }

    fn config() -> Config {
        let env = EnvMap::from([
            ("OPENAI_API_KEY", "sk-test-aaaa-aaaa-aaaa"),
            ("OPENROUTER_API_KEY", "sk-or-bbbbbbbbbbbbbbbb"),
        ]);
        let cli = crate::cli::Cli {
            host: Some("127.0.0.1".into()),
            ..Default::default()
        };
        let settings = load_settings(std::path::Path::new("/nonexistent"), &cli, &env).unwrap();
        Config::from_settings(settings, &env).unwrap()
    }

    fn resolve(body: Value) -> Result<(String, String), String> {
        let config = config();
        requested_model(body.as_object().unwrap())
            .and_then(|model| resolve_model(&config, model))
            .map(|t| (t.provider.name.clone(), t.model))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn provider_prefix_is_split_once() {
        assert_eq!(
            resolve(json!({"model":"openai/gpt-4o"})),
            Ok(("openai".into(), "gpt-4o".into()))
        );
        assert_eq!(
            resolve(json!({"model":"OpenRouter/meta-llama/llama-3-70b"})),
            Ok(("openrouter".into(), "meta-llama/llama-3-70b".into()))
        );
    }

    #[test]
    fn errors_say_what_to_do() {
        let err = resolve(json!({"model":"gpt-4o"})).unwrap_err();
        assert!(
            err.contains("no provider prefix") && err.contains("openai, openrouter"),
            "{err}"
        );
        let err = resolve(json!({"model":"foo/bar"})).unwrap_err();
        assert!(
            err.contains("unknown provider `foo`") && err.contains("FOO_API_KEY"),
            "{err}"
        );
        assert!(resolve(json!({}))
            .unwrap_err()
            .contains("`model` is required"));
        assert!(resolve(json!({"model":5}))
            .unwrap_err()
            .contains("must be a string"));
        assert!(resolve(json!({"model":"openai/"})).is_err());
    }
}
