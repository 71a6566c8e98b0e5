//! One upstream call with one key, judged by the classifier.

use std::time::Duration;

use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::rotation::{Answer, Forward, Operation};
use super::stream_relay::{FirstEventFailure, Relay};
use super::Shared;
use crate::keypool::Lease;
use crate::providers::openai::responses::{rewrite_responses_answer, ResponsesStream};
use crate::providers::{classify_stream_error, StreamTranslator};
use crate::resilience::classify::classify_transport;
use crate::vocab::{Failure, Outcome, Verdict};
use crate::worker::{self, CallUpstream, UpstreamWorker};

/// Largest error body read to classify a failure (quota markers, hints).
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// Longest wait for an error body once the status is known.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// What one attempt came to.
pub enum Attempt {
    /// The provider answered (the lease is finished or owned by the stream
    /// relay).
    Answered(Answer),
    /// This key failed; the caller decides between a retry and rotation.
    Failed {
        lease: Lease,
        failure: Failure,
        why: String,
    },
}

/// Calls the provider once with `lease`'s key.
pub async fn attempt(
    shared: &Shared,
    worker: &UpstreamWorker,
    request: &Forward<'_>,
    lease: Lease,
    deadline: Instant,
) -> Attempt {
    let settings = &request.config.settings.proxy;
    // A stream is bounded by the deadline until its first event; any other
    // attempt by `upstream_timeout`, and never past the deadline either.
    let left = deadline.saturating_duration_since(Instant::now());
    let head_timeout = if request.stream {
        left
    } else {
        settings.upstream_timeout.min(left)
    };
    let attempt_deadline = Instant::now() + head_timeout;
    let wire = request.target.provider.format.wire();
    let call = CallUpstream {
        method: Method::POST,
        url: format!("{}{}", request.target.provider.api_base, request.path),
        key: lease.key().clone(),
        auth: wire.auth(),
        headers: wire.headers(),
        body: Some(request.body.clone()),
        timeout: head_timeout.max(Duration::from_millis(1)),
    };
    let mut upstream = match worker::call(worker, call).await {
        Ok(upstream) => upstream,
        Err(e) => return judged(lease, classify_transport(&e), e.to_string()),
    };
    let provider = request.target.provider.name.as_str();
    let now = shared.clock.now();
    if upstream.status.is_success() {
        if request.stream {
            let translator: Box<dyn StreamTranslator> = match request.operation {
                Operation::Responses => Box::new(ResponsesStream::new(provider)),
                _ => wire.stream(provider, &request.target.model, request.client_wants_usage),
            };
            let mut relay = Relay::new(
                upstream.body,
                translator,
                provider,
                settings.stream_idle_timeout,
                lease.key().clone(),
                shared.clock.clone(),
            );
            relay.log_to(request.log.clone());
            return match relay.first_event(deadline).await {
                Ok(()) => Attempt::Answered(Answer::Stream(Box::new(relay.own(lease)))),
                Err(failure) => first_event_failed(lease, failure, now),
            };
        }
        let limit = settings.max_upstream_response_size;
        let body = match worker::read_body(&mut upstream.body, limit, attempt_deadline).await {
            Ok(body) => body,
            Err(e) => return judged(lease, classify_transport(&e), e.to_string()),
        };
        let model = request.target.model.as_str();
        let rewritten = match request.operation {
            Operation::Chat => wire.chat_response(&body, provider, model),
            Operation::Completions => wire.completions_response(&body, provider),
            Operation::Responses => rewrite_responses_answer(&body, provider),
            Operation::Embeddings(encoding) => {
                wire.embeddings_response(&body, provider, model, encoding)
            }
        };
        return match rewritten {
            Some(rewritten) => {
                if let Some(log) = &request.log {
                    log.response(&rewritten.body);
                    log.usage(
                        rewritten.usage.prompt_tokens,
                        rewritten.usage.completion_tokens,
                    );
                }
                lease.finish(Outcome::Success {
                    prompt_tokens: rewritten.usage.prompt_tokens,
                    completion_tokens: rewritten.usage.completion_tokens,
                });
                Attempt::Answered(Answer::Json {
                    status: upstream.status,
                    body: rewritten.body,
                })
            }
            None => judged(
                lease,
                Verdict::Failed(Failure::transient()),
                "the provider answered 2xx with a body that is not a JSON object".into(),
            ),
        };
    }
    let body_deadline = attempt_deadline.min(Instant::now() + ERROR_BODY_TIMEOUT);
    let body = worker::read_body(&mut upstream.body, MAX_ERROR_BODY, body_deadline)
        .await
        .unwrap_or_default();
    let verdict = wire.classify_error(upstream.status, &upstream.headers, &body, now);
    if verdict == Verdict::ClientError {
        let too_long = wire.is_context_length(upstream.status, &body);
        let lease_key = lease.key().clone();
        lease.finish(Outcome::ClientError);
        let content_type = upstream
            .headers
            .get(CONTENT_TYPE)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("application/json"));
        let body = lease_key.scrub_bytes(wire.client_error_body(body));
        if let Some(log) = &request.log {
            log.response(&body);
        }
        return Attempt::Answered(Answer::Refusal {
            status: upstream.status,
            content_type,
            body,
            too_long,
        });
    }
    let why = failure_text(upstream.status, &body, lease.key());
    judged(lease, verdict, why)
}

/// Longest provider message quoted in a failure's description.
const MAX_QUOTED_MESSAGE: usize = 200;

/// "HTTP 500: <the provider's message>", the key masked wherever the
/// provider echoed it. The message is the envelope's `error.message` (or
/// `message`, or a string `error`), else the start of the body.
fn failure_text(status: StatusCode, body: &[u8], key: &crate::secret::Secret) -> String {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        [&v["error"]["message"], &v["message"], &v["error"]]
            .into_iter()
            .find_map(serde_json::Value::as_str)
            .map(str::to_owned)
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = key.scrub(&text);
    let mut quoted: String = text.chars().take(MAX_QUOTED_MESSAGE).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    if quoted.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {quoted}", status.as_u16())
    }
}

/// A stream whose first event never came, or was an error.
fn first_event_failed(lease: Lease, failure: FirstEventFailure, now: DateTime<Utc>) -> Attempt {
    let FirstEventFailure { why, error_event } = failure;
    let verdict = match &error_event {
        Some(data) => classify_stream_error(data, now),
        None => Verdict::Failed(Failure::transient()),
    };
    match (verdict, error_event) {
        (Verdict::ClientError, Some(data)) => {
            lease.finish(Outcome::ClientError);
            // The status the error event carries, when it is a client error.
            let status = serde_json::from_str::<serde_json::Value>(&data)
                .ok()
                .and_then(|v| v["error"]["code"].as_u64())
                .and_then(|c| u16::try_from(c).ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .filter(StatusCode::is_client_error)
                .unwrap_or(StatusCode::BAD_REQUEST);
            Attempt::Answered(Answer::Refusal {
                status,
                content_type: HeaderValue::from_static("application/json"),
                body: data.into(),
                too_long: false,
            })
        }
        _ => judged(lease, verdict, why),
    }
}

/// Turns a failure verdict into [`Attempt::Failed`]. A success or client
/// error reaching here (it should not) is treated as transient.
fn judged(lease: Lease, verdict: Verdict, why: String) -> Attempt {
    let failure = match verdict {
        Verdict::Failed(failure) => failure,
        Verdict::Success | Verdict::ClientError => Failure::transient(),
    };
    Attempt::Failed {
        lease,
        failure,
        why,
    }
}
