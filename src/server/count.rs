//! `POST /v1/token-count`: `{"model", "messages"}` or `{"model", "text"}` →
//! `{"token_count": n, "method": …}`. A provider with its own counter
//! (Gemini's `countTokens`) is asked with a pool key; everything else, and
//! any failure of that call, is counted locally with tiktoken.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::body::{allowed_model, optional_str, read_json_object};
use super::peek_call::{peek_call, PeekCall, PeekCallError};
use super::Shared;
use crate::error::ApiError;
use crate::inbound::shape::check_model_id;
use crate::tokens::Encoding;
use crate::worker::UpstreamWorker;

pub async fn token_count(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: web::Data<UpstreamWorker>,
) -> Result<HttpResponse, ApiError> {
    let limit = shared.config().settings.server.max_body_size;
    let body = read_json_object(req.headers(), payload, limit).await?;
    let (count, method) = count(&shared, &worker, &body).await?;
    Ok(HttpResponse::Ok().json(json!({"token_count": count, "method": method})))
}

/// Counts the prompt of `body` (`{"model", "messages"}` or
/// `{"model", "text"}`): the provider's own counter when it has one, else
/// tiktoken. Returns the count and how it was counted.
pub async fn count(
    shared: &Shared,
    worker: &UpstreamWorker,
    body: &Map<String, Value>,
) -> Result<(u64, String), ApiError> {
    let model = optional_str(body, "model")?.ok_or_else(|| {
        ApiError::invalid_param(
            "`model` is required: the count depends on it, e.g. \"openai/gpt-4o\"",
            "model",
        )
    })?;
    let input = match (body.get("messages"), body.get("text")) {
        (Some(Value::Array(messages)), _) => Ok(messages.clone()),
        (None, Some(Value::String(text))) => Err(text.clone()),
        _ => {
            return Err(ApiError::invalid(
                "send `messages` (an array of chat messages) or `text` (a string)",
            ))
        }
    };
    check_model_id(&model)?;
    // A route is counted as its first target would count it.
    let model = shared.with_config(|config| {
        config
            .routes
            .get(&model)
            .and_then(|(_, route)| route.chain.first().cloned())
            .unwrap_or(model)
    });
    // Token counts honour the model filters like completions do.
    if let Some((provider, bare)) = model.split_once('/') {
        if let Some(provider) = shared.config().provider(&provider.to_ascii_lowercase()) {
            allowed_model(provider, bare)?;
        }
    }
    if let Some(native) = native_count(shared, worker, &model, body).await {
        return Ok(native);
    }
    let encoding = Encoding::for_model(&model);
    // Building a tokenizer and counting a long text are CPU work: keep them
    // off the HTTP worker.
    let count = web::block(move || match input {
        Ok(messages) => encoding.count_messages(&messages),
        Err(text) => encoding.count_text(&text),
    })
    .await
    .map_err(|_| ApiError::Unavailable("the token counter stopped"))?
    .map_err(|e| {
        log::error!("{e}");
        ApiError::Unavailable("the tokenizer failed to load")
    })?;
    Ok((count as u64, format!("tiktoken {}", encoding.name())))
}

/// The provider's own count, when `model` names a configured provider that
/// has a counter and one of its keys answers.
async fn native_count(
    shared: &Shared,
    worker: &UpstreamWorker,
    model: &str,
    body: &Map<String, Value>,
) -> Option<(u64, String)> {
    let (provider, bare) = model.split_once('/')?;
    let config = shared.config();
    let provider = config.provider(&provider.to_ascii_lowercase())?;
    let wire = provider.format.wire();
    let outbound = wire.count_tokens_request(body, bare)?.ok()?;
    let request = PeekCall {
        method: Method::POST,
        path: outbound.path,
        body: serde_json::to_vec(&outbound.body).ok().map(Into::into),
        limit: 1 << 20,
    };
    let answer = match peek_call(shared, worker, provider, request).await {
        Ok(body) => wire
            .count_tokens_response(&body)
            .ok_or_else(|| "no count in the answer".to_string()),
        Err(PeekCallError::NoKey) => return None,
        Err(PeekCallError::Failed(why)) => Err(why),
    };
    match answer {
        Ok(count) => Some((count, format!("{} native", provider.name))),
        Err(why) => {
            log::warn!(
                "{}'s token counter failed ({why}); counting locally",
                provider.name
            );
            None
        }
    }
}
