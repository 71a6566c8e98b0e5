//! Request errors and their one rendering: the OpenAI error envelope
//! `{"error":{"message","type","param","code"}}`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Why one request failed. `status_code` is an exhaustive match, so a new
/// variant forces a decision about what the client sees.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The client sent something the proxy cannot serve.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<&'static str>,
        code: Option<&'static str>,
    },

    #[error(
        "invalid proxy key: send `Authorization: Bearer <PROXY_API_KEY>` with the key from the \
         proxy's .env"
    )]
    Unauthorized,

    #[error("request body is larger than the limit of {limit} bytes: send a smaller request or raise `server.max_body_size`")]
    PayloadTooLarge { limit: usize },

    /// The body did not all arrive within `server.request_body_timeout`.
    #[error(
        "the request body did not arrive within {}s of the request headers: send the whole \
         body at once, or raise `server.request_body_timeout` (REQUEST_BODY_TIMEOUT)",
        after.as_secs_f64()
    )]
    BodyTimeout { after: Duration },

    #[error("no route for {method} {path}: see GET /v1/models, POST /v1/chat/completions, POST /v1/embeddings")]
    NotFound { method: String, path: String },

    /// `GET /v1/models/{id}` for a model the proxy does not serve.
    #[error("{0}")]
    ModelNotFound(String),

    /// `GET`/`DELETE /v1/responses/{id}` for a response the proxy does not
    /// keep (never stored, expired, deleted or evicted).
    #[error("{0}")]
    ResponseNotFound(String),

    /// `/v1/admin/keys/{id}/…` for an id no key of the pool has.
    #[error("{0}")]
    KeyNotFound(String),

    /// A key change that contradicts the pool or the environment: the key
    /// is already in the pool, or comes from a variable the proxy cannot
    /// change.
    #[error("{0}")]
    KeyConflict(String),

    /// A key change that could not be saved to (or read back from) the
    /// `.env` file: nothing was changed.
    #[error("{0}")]
    KeyFile(String),

    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },

    /// Every key of the provider was tried and failed; names each (masked).
    #[error("{0}")]
    NoAvailableKeys(String),

    /// Every key of the provider rests past the deadline after failures
    /// that were not rate limits (5xx, connection errors: an outage): the
    /// service, not the client, is the problem. `retry_after` is when the
    /// first key is back.
    #[error("{message}")]
    KeysResting {
        message: String,
        retry_after: Duration,
    },

    /// The provider failed this request the same way on two keys (5xx, a
    /// broken answer, a connection error): the request or the provider is
    /// at fault, not the keys, so no further key is tried or cooled. The
    /// message carries the provider's status and (masked) message.
    #[error("{0}")]
    UpstreamFailed(String),

    /// Every usable key is resting (rate limits) past the deadline; the
    /// client should come back after `retry_after`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },

    /// The global deadline passed before a response could start.
    #[error("{0}")]
    Timeout(String),

    /// The provider answered, but with something the proxy could not turn
    /// into the client's format.
    #[error("{0}")]
    BadUpstreamAnswer(String),

    /// The request carries this process's own hop mark: the proxy called
    /// itself (a provider's base URL points back at it).
    #[error(
        "request loop: this request was sent by this proxy itself, so a provider's API base \
         (<PROVIDER>_API_BASE) points back at the proxy; set it to the provider's real URL"
    )]
    LoopDetected,

    /// An internal component (the key pool, a worker) is gone; the service
    /// is shutting down.
    #[error("the proxy is shutting down or overloaded ({0}); retry shortly")]
    Unavailable(&'static str),
}

/// The OpenAI error body.
#[derive(Debug, Serialize)]
pub struct ErrorEnvelope<'a> {
    pub error: ErrorBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<&'a str>,
    pub code: Option<&'a str>,
}

// === impl ApiError ===

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::InvalidRequest {
            message: message.into(),
            param: None,
            code: None,
        }
    }

    pub fn invalid_param(message: impl Into<String>, param: &'static str) -> ApiError {
        ApiError::InvalidRequest {
            message: message.into(),
            param: Some(param),
            code: None,
        }
    }

    /// OpenAI's `type` and `code` for this error.
    fn kind_and_code(&self) -> (&'static str, Option<&'static str>) {
        match self {
            ApiError::InvalidRequest { code, .. } => ("invalid_request_error", *code),
            ApiError::Unauthorized => ("authentication_error", Some("invalid_api_key")),
            ApiError::PayloadTooLarge { .. } => {
                ("invalid_request_error", Some("request_too_large"))
            }
            ApiError::NotFound { .. } => ("invalid_request_error", Some("not_found")),
            ApiError::ModelNotFound(_) => ("invalid_request_error", Some("model_not_found")),
            ApiError::ResponseNotFound(_) | ApiError::KeyNotFound(_) => {
                ("invalid_request_error", Some("not_found"))
            }
            ApiError::MethodNotAllowed { .. } => {
                ("invalid_request_error", Some("method_not_allowed"))
            }
            ApiError::KeyConflict(_) => ("invalid_request_error", Some("conflict")),
            ApiError::KeyFile(_) => ("server_error", Some("env_file_error")),
            ApiError::BodyTimeout { .. } => ("invalid_request_error", Some("request_timeout")),
            ApiError::NoAvailableKeys(_) | ApiError::KeysResting { .. } => {
                ("service_unavailable", Some("no_available_keys"))
            }
            ApiError::UpstreamFailed(_) => ("upstream_error", Some("upstream_error")),
            ApiError::RateLimited { .. } => ("rate_limit_error", Some("rate_limit_exceeded")),
            ApiError::Timeout(_) => ("timeout_error", Some("timeout")),
            ApiError::BadUpstreamAnswer(_) => ("upstream_error", Some("bad_upstream_response")),
            ApiError::Unavailable(_) => ("service_unavailable", Some("unavailable")),
            ApiError::LoopDetected => ("loop_detected_error", Some(crate::vocab::LOOP_DETECTED)),
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidRequest { param, .. } => *param,
            ApiError::ModelNotFound(_) => Some("model"),
            _ => None,
        }
    }

    /// The envelope as JSON text (also used for in-stream error events).
    pub fn to_json(&self) -> String {
        let (kind, code) = self.kind_and_code();
        let envelope = ErrorEnvelope {
            error: ErrorBody {
                message: self.to_string(),
                kind,
                param: self.param(),
                code,
            },
        };
        serde_json::to_string(&envelope).unwrap_or_else(|_| {
            r#"{"error":{"message":"error","type":"api_error","param":null,"code":null}}"#.into()
        })
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound { .. }
            | ApiError::ModelNotFound(_)
            | ApiError::ResponseNotFound(_)
            | ApiError::KeyNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::KeyConflict(_) => StatusCode::CONFLICT,
            ApiError::KeyFile(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::NoAvailableKeys(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::KeysResting { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UpstreamFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::BadUpstreamAnswer(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::LoopDetected => StatusCode::LOOP_DETECTED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::RateLimited { retry_after, .. }
            | ApiError::KeysResting { retry_after, .. } => {
                let secs = retry_after_secs(*retry_after);
                response.insert_header(("retry-after", secs.to_string()));
            }
            ApiError::BodyTimeout { .. } => {
                response.force_close();
            }
            _ => {}
        }
        response
            .content_type("application/json")
            .body(self.to_json())
    }
}

/// A wait in whole seconds as `Retry-After` and error messages give it:
/// rounded up, at least 1 — never inviting a retry too early.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let err = ApiError::invalid_param("`model` is required", "model");
        let v: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(v["error"]["message"], "`model` is required");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "model");
        assert!(v["error"]["code"].is_null());
        assert_eq!(err.status_code(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn statuses() {
        assert_eq!(
            ApiError::Unauthorized.status_code(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ApiError::PayloadTooLarge { limit: 1 }.status_code(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let e = ApiError::NoAvailableKeys("all failed".into());
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.to_json().contains("no_available_keys"));
        assert_eq!(
            ApiError::Timeout("late".into()).status_code(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }

    #[test]
    fn outages_repeated_failures_and_slow_bodies() {
        let resting = ApiError::KeysResting {
            message: "down".into(),
            retry_after: Duration::from_millis(2500),
        };
        let response = resting.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after").unwrap(), "3");
        let failed = ApiError::UpstreamFailed("HTTP 500: boom".into());
        assert_eq!(failed.status_code(), StatusCode::BAD_GATEWAY);
        let v: serde_json::Value = serde_json::from_str(&failed.to_json()).unwrap();
        assert_eq!(v["error"]["type"], "upstream_error");
        let slow = ApiError::BodyTimeout {
            after: Duration::from_secs(30),
        };
        assert_eq!(slow.status_code(), StatusCode::REQUEST_TIMEOUT);
        assert!(slow.to_string().contains("REQUEST_BODY_TIMEOUT"));
    }
}
