//! [`OpenAiResponses`]: how the proxy serves `POST /v1/responses` — the
//! request translated to OpenAI chat ([`chat_request`]), the answer
//! ([`response_object`]) and each stream chunk ([`ToResponsesStream`])
//! translated back; errors in OpenAI's envelope, which the Responses API
//! shares with chat.
//!
//! Responses are kept unless the request says `store: false`
//! ([`Keeper`]): a JSON answer once rendered, a stream at its
//! `response.completed` or `response.incomplete`. `previous_response_id`
//! puts the stored conversation before the request's input
//! ([`prior_items`]). (A provider that serves the Responses API natively
//! never comes here: the server passes the request through,
//! `previous_response_id` and `store` included, and frames its stream with
//! [`PassThrough`](super::PassThrough).)

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::keep::{prior_items, Keeper};
use super::{
    chat_request, response_object, ResponseContext, ToResponsesStream, DROPPED_TOOLS_HEADER,
};
use crate::error::ApiError;
use crate::inbound::shape::stream_flag;
use crate::inbound::{ChatOptions, InboundApi, ParseEnv, StreamFrames};
use crate::providers::unix_now;
use crate::sse::named_frames;

/// What an `input` looks like, for error messages.
const INPUT_EXAMPLE: &str = r#"e.g. "Hello" or [{"role": "user", "content": "Hello"}]"#;

/// The top-level fields an error message may name as its `param`.
const PARAMS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_output_tokens",
    "temperature",
    "top_p",
    "reasoning",
    "text",
    "stream",
    "store",
    "previous_response_id",
    "metadata",
    "user",
    "background",
    "conversation",
    "prompt",
];

/// OpenAI's Responses API.
pub struct OpenAiResponses;

/// One request's answer side: what the translation needs, and the keeper
/// of the response unless it is not to be stored.
#[derive(Default)]
pub struct Turn {
    context: ResponseContext,
    keeper: Option<Keeper>,
}

impl InboundApi for OpenAiResponses {
    type Context = Turn;

    const RESPONSES: bool = true;

    fn parse(
        body: Map<String, Value>,
        env: &ParseEnv<'_>,
    ) -> Result<(Map<String, Value>, Turn), ApiError> {
        let body = Value::Object(body);
        check_input(body.get("input"))?;
        let prior = match &body["previous_response_id"] {
            Value::Null => Vec::new(),
            Value::String(id) => prior_items(id, env.continued)?,
            _ => {
                return Err(ApiError::invalid_param(
                    "`previous_response_id` must be a string: the `id` of an earlier \
                     response, e.g. \"resp_abc123\"",
                    "previous_response_id",
                ))
            }
        };
        let request = chat_request(&body, &prior).map_err(refused)?;
        let model = body["model"].as_str().unwrap_or_default();
        let id = format!("resp_{}", uuid::Uuid::new_v4().simple());
        let mut context = request.context(&id, unix_now(), model);
        let keeper = match (request.store, env.keep) {
            (true, Some(sink)) => Some(Keeper::new(
                sink.clone(),
                &id,
                request.previous_response_id,
                request.input,
                env.now,
            )),
            _ => None,
        };
        // The response says whether it can be fetched again.
        context.echo.insert("store".into(), keeper.is_some().into());
        Ok((request.chat, Turn { context, keeper }))
    }

    /// A `response` names the model that answered.
    fn answered_by(turn: &mut Turn, model: &str) {
        turn.context.model = model.to_string();
    }

    fn options(body: &Map<String, Value>) -> Result<ChatOptions, ApiError> {
        Ok(ChatOptions {
            stream: stream_flag(body)?,
            // The usage chunk carries the counts `response.completed`
            // reports (the request asked for it with `include_usage`).
            wants_usage: true,
        })
    }

    fn json(_status: StatusCode, body: Vec<u8>, turn: Turn) -> Result<HttpResponse, ApiError> {
        let chat: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let response = response_object(&chat, &turn.context).map_err(|e| {
            ApiError::BadUpstreamAnswer(format!(
                "the provider answered, but its answer could not be translated to a Responses \
                 `response`: {e}"
            ))
        })?;
        if let Some(keeper) = turn.keeper {
            keeper.keep(&response);
        }
        Ok(HttpResponse::Ok().json(response))
    }

    fn stream(_provider: &str, _model: &str, turn: Turn) -> Box<dyn StreamFrames> {
        Box::new(Events {
            stream: ToResponsesStream::new(turn.context),
            keeper: turn.keeper,
        })
    }

    /// The dropped built-in tools, named for the client.
    fn headers(turn: &Turn) -> Vec<(&'static str, String)> {
        turn.context
            .tools
            .dropped_header()
            .map(|dropped| (DROPPED_TOOLS_HEADER, dropped))
            .into_iter()
            .collect()
    }

    fn error(error: &ApiError) -> HttpResponse {
        error.error_response()
    }

    /// The same status, the provider's message (and its `type`, `param`
    /// and `code` where it gave them as strings), in OpenAI's envelope —
    /// whichever format the provider spoke.
    fn refusal(status: StatusCode, _content_type: HeaderValue, body: Bytes) -> HttpResponse {
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let error = &parsed["error"];
        let message = error["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        let text = |key: &str| error[key].as_str().map(str::to_string);
        HttpResponse::build(status).json(json!({ "error": {
            "message": message,
            "type": text("type").unwrap_or_else(|| "invalid_request_error".into()),
            "param": text("param"),
            "code": text("code"),
        }}))
    }
}

/// A request's `input` is there, a string or a list of items, and not
/// empty; a 400 that says what is wrong otherwise. (Its items are checked
/// by the translation, or by a provider that serves Responses natively.)
pub fn check_input(input: Option<&Value>) -> Result<(), ApiError> {
    let items = super::input_items(input).map_err(refused)?;
    if items.is_empty() {
        return Err(ApiError::invalid_param(
            format!("`input` is empty: send at least one item, {INPUT_EXAMPLE}"),
            "input",
        ));
    }
    Ok(())
}

/// A translator's refusal as a 400 naming the field it is about, with an
/// example where the field has an obvious one.
fn refused(message: String) -> ApiError {
    let param = param_of(&message);
    let message = if message == "missing \"model\"" {
        "`model` is required: name the provider and the model, e.g. \"openai/gpt-4o-mini\""
            .to_string()
    } else if message == "missing \"input\"" {
        format!("`input` is required: {INPUT_EXAMPLE}")
    } else if message.starts_with("\"input\" must be") {
        format!("{message}, {INPUT_EXAMPLE}")
    } else {
        message
    };
    match param {
        Some(param) => ApiError::invalid_param(message, param),
        None => ApiError::invalid(message),
    }
}

/// The top-level field a translator's message starts with (`"model" must
/// be…`, `missing "input"`, `input[2]: …`, `tools[0]: …`).
fn param_of(message: &str) -> Option<&'static str> {
    let rest = message.strip_prefix("missing ").unwrap_or(message);
    let rest = rest.strip_prefix("unknown ").unwrap_or(rest);
    let rest = rest.trim_start_matches('"');
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
        .collect();
    let name = if name == "text" || rest.starts_with("text.format") {
        "text"
    } else {
        name.as_str()
    };
    PARAMS.iter().copied().find(|p| *p == name)
}

/// One stream's Responses events, framed `event: …\ndata: …\n\n`.
struct Events {
    stream: ToResponsesStream,
    /// Keeps the response of `response.completed` or `response.incomplete`
    /// (a failed stream is not kept: there is no answer to continue from).
    keeper: Option<Keeper>,
}

impl StreamFrames for Events {
    fn chunk(&mut self, data: &str) -> Bytes {
        match serde_json::from_str::<Value>(data) {
            Ok(chunk) => named_frames(self.stream.events(&chunk)),
            Err(_) => Bytes::new(),
        }
    }

    /// The translator turns an `{"error":…}` chunk into `response.failed`,
    /// the stream's last event.
    fn error(&mut self, data: &str) -> Bytes {
        self.keeper = None;
        match serde_json::from_str::<Value>(data) {
            Ok(chunk) if chunk.get("error").is_some() => named_frames(self.stream.events(&chunk)),
            _ => named_frames(self.stream.fail(super::SERVER_ERROR, data)),
        }
    }

    /// `response.completed` or `response.incomplete`, unless the stream
    /// failed already.
    fn end(&mut self) -> Bytes {
        let frames = named_frames(self.stream.finish());
        let finished = self.stream.final_response();
        if let (Some(keeper), Some(response)) = (self.keeper.take(), finished) {
            if response["status"] != "failed" {
                keeper.keep(response);
            }
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_names_the_field_it_is_about() {
        assert_eq!(param_of("missing \"model\""), Some("model"));
        assert_eq!(param_of("\"input\" must be a string"), Some("input"));
        assert_eq!(param_of("input[2]: unknown item type \"x\""), Some("input"));
        assert_eq!(param_of("tools[0]: missing \"type\""), Some("tools"));
        assert_eq!(param_of("unknown tool_choice \"x\""), Some("tool_choice"));
        assert_eq!(param_of("text.format needs a \"type\""), Some("text"));
        assert_eq!(param_of("the request body must be"), None);
    }

    #[actix_web::test]
    async fn a_provider_refusal_keeps_its_words_in_openai_envelope() {
        let gemini = br#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#;
        let res = OpenAiResponses::refusal(
            StatusCode::BAD_REQUEST,
            HeaderValue::from_static("application/json"),
            Bytes::from_static(gemini),
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": {"message": "bad", "type": "invalid_request_error",
                             "param": null, "code": null}})
        );
    }
}
