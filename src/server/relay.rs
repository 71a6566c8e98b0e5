//! The rotation loop: lease a key, call the provider, judge the answer, and
//! either answer the client or try the next key.
//!
//! Deadlines: the global deadline bounds waiting for keys and the time to a
//! stream's first event; no attempt starts after it. A non-streaming attempt
//! in flight is bounded by `proxy.upstream_timeout`.

use std::time::Duration;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::body::Target;
use super::middleware::RequestSummary;
use super::stream::Relay;
use super::Shared;
use crate::classify::{classify_status, classify_transport, Verdict};
use crate::error::ApiError;
use crate::keypool::{acquire, AcquireError, AcquireKey, FailureKind, Lease, Outcome};
use crate::providers::openai;
use crate::worker::{self, CallUpstream, UpstreamResponse, UpstreamWorker};

/// One client request to forward.
pub struct Forward<'a> {
    pub target: Target<'a>,
    /// Path below the provider's base URL, e.g. `/chat/completions`.
    pub path: &'static str,
    pub body: Bytes,
    pub stream: bool,
    /// The client asked for the stream's usage chunk.
    pub client_wants_usage: bool,
}

/// What one attempt came to.
enum Attempt {
    /// Answer the client with this.
    Respond(HttpResponse),
    /// This key failed; the description is for the final error message.
    Failed(FailureKind, String),
}

/// Forwards `request`, rotating through the provider's keys.
pub async fn forward(
    shared: &Shared,
    worker: &actix::Addr<UpstreamWorker>,
    req: &HttpRequest,
    request: Forward<'_>,
) -> Result<HttpResponse, ApiError> {
    let provider = request.target.provider;
    let model = request.target.model.as_str();
    let timeout = shared.config.settings.proxy.global_timeout;
    let deadline = Instant::now() + timeout;
    let mut summary = RequestSummary {
        provider: provider.name.clone(),
        model: model.to_string(),
        ..RequestSummary::default()
    };
    let mut tried: Vec<usize> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let result = loop {
        if Instant::now() >= deadline {
            break Err(deadline_passed(
                provider.name.as_str(),
                model,
                timeout,
                &failures,
            ));
        }
        let wanted = AcquireKey {
            provider: provider.name.clone(),
            model: model.to_string(),
            exclude: tried.clone(),
        };
        let lease = match acquire(&shared.pool, wanted, deadline).await {
            Ok(lease) => lease,
            Err(AcquireError::Exhausted | AcquireError::UnknownProvider) => {
                break Err(no_available_keys(&provider.name, model, &failures));
            }
            Err(AcquireError::DeadlinePassed) => {
                break Err(deadline_passed(&provider.name, model, timeout, &failures));
            }
            Err(AcquireError::PoolGone) => {
                break Err(ApiError::Unavailable("the key pool stopped"))
            }
        };
        tried.push(lease.index());
        summary.attempts += 1;
        summary.key = lease.key().mask();
        let masked = summary.key.clone();
        match attempt(shared, worker, &request, lease, deadline).await {
            Attempt::Respond(response) => break Ok(response),
            Attempt::Failed(kind, why) => {
                log::warn!(
                    "{} key {masked} failed for {model}: {why}; trying the next key",
                    provider.name
                );
                failures.push(format!("{masked} ({}: {why})", kind.as_str()));
            }
        }
    };
    req.extensions_mut().insert(summary);
    result
}

/// One call with one key.
async fn attempt(
    shared: &Shared,
    worker: &actix::Addr<UpstreamWorker>,
    request: &Forward<'_>,
    lease: Lease,
    deadline: Instant,
) -> Attempt {
    let settings = &shared.config.settings.proxy;
    let head_timeout = if request.stream {
        deadline.saturating_duration_since(Instant::now())
    } else {
        settings.upstream_timeout
    };
    let attempt_deadline = Instant::now() + head_timeout;
    // Dropping `_cancel` (this future is dropped when the client goes away)
    // aborts the upstream call.
    let (_cancel, cancel) = oneshot::channel();
    let call = CallUpstream {
        method: Method::POST,
        url: format!("{}{}", request.target.provider.api_base, request.path),
        key: lease.key().clone(),
        body: Some(request.body.clone()),
        timeout: head_timeout.max(Duration::from_millis(1)),
        cancel,
    };
    let mut upstream = match worker::call(worker, call).await {
        Ok(upstream) => upstream,
        Err(e) => return fail(lease, classify_transport(&e), e.to_string()),
    };
    let provider = request.target.provider.name.as_str();
    match classify_status(upstream.status) {
        Verdict::Success if request.stream => {
            let mut relay = Relay::new(
                upstream.body,
                lease,
                provider,
                request.client_wants_usage,
                settings.stream_idle_timeout,
            );
            match relay.first_event(deadline).await {
                Ok(()) => Attempt::Respond(relay.into_response()),
                Err((Some(lease), why)) => fail(lease, FailureKind::Transient, why),
                Err((None, why)) => Attempt::Failed(FailureKind::Transient, why),
            }
        }
        Verdict::Success => {
            let limit = settings.max_upstream_response_size;
            let body = match worker::read_body(&mut upstream.body, limit, attempt_deadline).await {
                Ok(body) => body,
                Err(e) => return fail(lease, classify_transport(&e), e.to_string()),
            };
            match openai::rewrite_response(&body, provider) {
                Some(rewritten) => {
                    lease.finish(Outcome::Success {
                        prompt_tokens: rewritten.usage.prompt_tokens,
                        completion_tokens: rewritten.usage.completion_tokens,
                    });
                    Attempt::Respond(json_response(upstream.status, rewritten.body))
                }
                None => fail(
                    lease,
                    FailureKind::Transient,
                    "the provider answered 2xx with a body that is not a JSON object".into(),
                ),
            }
        }
        Verdict::ClientError => {
            passthrough(
                lease,
                upstream,
                settings.max_upstream_response_size,
                attempt_deadline,
            )
            .await
        }
        Verdict::Failure(kind) => fail(lease, kind, format!("HTTP {}", upstream.status.as_u16())),
    }
}

fn fail(lease: Lease, kind: FailureKind, why: String) -> Attempt {
    lease.finish(Outcome::Failure(kind));
    Attempt::Failed(kind, why)
}

/// Returns the provider's own refusal (status and body) to the client.
async fn passthrough(
    lease: Lease,
    mut upstream: UpstreamResponse,
    limit: usize,
    deadline: Instant,
) -> Attempt {
    lease.finish(Outcome::ClientError);
    let body = worker::read_body(&mut upstream.body, limit, deadline)
        .await
        .unwrap_or_default();
    let content_type = upstream
        .headers
        .get(CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| actix_web::http::header::HeaderValue::from_static("application/json"));
    Attempt::Respond(
        HttpResponse::build(upstream.status)
            .insert_header((CONTENT_TYPE, content_type))
            .body(body),
    )
}

fn json_response(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

fn no_available_keys(provider: &str, model: &str, failures: &[String]) -> ApiError {
    ApiError::NoAvailableKeys(format!(
        "no key of `{provider}` could serve `{model}`: {}. Check the keys in .env, or retry later",
        if failures.is_empty() {
            "the pool has no keys".to_string()
        } else {
            format!("every key failed: {}", failures.join(", "))
        }
    ))
}

fn deadline_passed(
    provider: &str,
    model: &str,
    timeout: Duration,
    failures: &[String],
) -> ApiError {
    let tried = if failures.is_empty() {
        "every key stayed busy".to_string()
    } else {
        format!("failed attempts: {}", failures.join(", "))
    };
    ApiError::Timeout(format!(
        "no answer for `{provider}/{model}` within the global timeout of {}s ({tried}); raise \
         GLOBAL_TIMEOUT or MAX_CONCURRENT_REQUESTS_PER_KEY_{}, or add keys",
        timeout.as_secs_f64(),
        provider.to_ascii_uppercase()
    ))
}
