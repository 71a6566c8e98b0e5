//! The rotation loop over one target's keys: lease a key, call the
//! provider, and on failure retry the same key (transient faults, with
//! backoff) or move to the next one. It returns a typed [`Answer`] in
//! OpenAI chat shape, which the client's API renders (see
//! [`crate::inbound`]), or why the target did not answer ([`Missed`]); the
//! walk over a route's targets is [`super::fallback`]'s.
//!
//! Deadlines: the global deadline bounds the whole request — waiting for
//! keys, every attempt, retries, backoff and the time to a stream's first
//! event, on every target; no attempt or sleep runs past it. A
//! non-streaming attempt in flight is bounded by the smaller of
//! `proxy.upstream_timeout` and the time left.
//!
//! Failures that follow the request, not the key: a transient failure (5xx,
//! a broken answer, a connection error) on a second key means the request or
//! the provider is at fault. Rotation stops there with a 502 naming the
//! provider's status and message, and that key is not cooled.

use std::time::Duration;

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use bytes::Bytes;
use tokio::time::Instant;

use super::attempt::{attempt, Attempt};
use super::body::Target;
use super::middleware::RequestSummary;
use super::sticky::Pin;
use super::stream_relay::Relay;
use super::unanswered::{busy, deadline_passed, no_key, resting, upstream_failed, Failures};
use super::Shared;
use crate::config::Config;
use crate::error::ApiError;
use crate::keypool::{acquire, acquire_now, AcquireError, AcquireKey};
use crate::providers::EmbeddingEncoding;
use crate::reqlog::LogHandle;
use crate::resilience::backoff;
use crate::secret::Secret;
use crate::tokens::Encoding;
use crate::vocab::{Failure, FailureKind, Outcome};
use crate::worker::UpstreamWorker;

/// What the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Chat,
    /// Legacy text completions (`POST /v1/completions`).
    Completions,
    /// Embeddings, with the vector encoding the client asked for.
    Embeddings(EmbeddingEncoding),
    /// OpenAI's Responses API, passed through to a provider that serves it
    /// natively.
    Responses,
}

/// One client request to forward, already in the provider's wire format.
pub struct Forward<'a> {
    /// The configuration the handler took for this request (a reload never
    /// changes a request half-way).
    pub config: &'a Config,
    pub operation: Operation,
    pub target: Target<'a>,
    /// Path below the provider's base URL, e.g. `/chat/completions`.
    pub path: String,
    pub body: Bytes,
    pub stream: bool,
    /// The client asked for the stream's usage chunk.
    pub client_wants_usage: bool,
    /// The request's log, when request logging is on.
    pub log: Option<LogHandle>,
}

/// What the provider answered, for the client's API to render.
pub enum Answer {
    /// A 2xx JSON answer, rewritten to the OpenAI shape (usage is counted
    /// and logged already).
    Json { status: StatusCode, body: Vec<u8> },
    /// A stream whose first event came; not yet answered, it owns the key's
    /// lease.
    Stream(Box<Relay>),
    /// The provider refused the request itself (its 4xx): its body, the key
    /// scrubbed, with its `Content-Type`. `too_long`: the refusal says the
    /// input is longer than the model's context (a route's
    /// `context_fallback` may take it).
    Refusal {
        status: StatusCode,
        content_type: HeaderValue,
        body: Bytes,
        too_long: bool,
    },
}

/// How one target's rotation runs, within a request's walk over its
/// targets (see [`super::fallback`]).
pub struct Leg<'s> {
    /// The request's deadline, the same for every target.
    pub deadline: Instant,
    /// Wait for a busy or resting key. Without, the rotation gives up as
    /// soon as no key could serve now ([`Missed::NotNow`]): a later target
    /// may have one.
    pub may_wait: bool,
    /// What the request did so far, for its log line.
    pub summary: &'s mut RequestSummary,
    /// The conversation's pin on this target (sticky sessions).
    pub pin: Option<Pin<'s>>,
}

/// Why a target did not answer.
pub enum Missed {
    /// No key could serve now and the leg may not wait. `back_in` is when
    /// one could (zero for a busy key); `error` is what the client would
    /// be told.
    NotNow { back_in: Duration, error: ApiError },
    /// The rotation ended without an answer.
    Failed(ApiError),
}

/// The request's tokens as a tokens-per-minute limit counts them before
/// the answer's usage is known: tiktoken's count of the body sent (its
/// JSON included, so rather more than the prompt). 0 where no such limit
/// applies, which is never counted.
fn expected_tokens(request: &Forward<'_>) -> u64 {
    let target = &request.target;
    if target.provider.limits.is_empty() || target.provider.limits.caps(&target.model).tpm.is_none()
    {
        return 0;
    }
    let text = String::from_utf8_lossy(&request.body);
    let fallback = request.body.len() as u64 / 4;
    Encoding::for_model(&target.model)
        .count_text(&text)
        .map_or(fallback, |n| n as u64)
}

/// Forwards `request`, rotating through its provider's keys.
pub async fn forward(
    shared: &Shared,
    worker: &UpstreamWorker,
    request: &Forward<'_>,
    leg: Leg<'_>,
) -> Result<Answer, Missed> {
    let provider = request.target.provider.name.as_str();
    let model = request.target.model.as_str();
    let proxy = &request.config.settings.proxy;
    let Leg {
        deadline,
        may_wait,
        summary,
        pin,
    } = leg;
    summary.provider = provider.to_string();
    summary.model = model.to_string();
    let mut pinned = pin.as_ref().and_then(Pin::key);
    let tokens = expected_tokens(request);
    let mut tried: Vec<usize> = Vec::new();
    let mut failures = Failures::default();
    'keys: loop {
        if Instant::now() >= deadline {
            return Err(Missed::Failed(deadline_passed(
                provider,
                model,
                proxy.global_timeout,
                &failures,
            )));
        }
        let wanted = AcquireKey {
            provider: provider.to_string(),
            model: model.to_string(),
            exclude: tried.clone(),
            wait_budget: Duration::ZERO,
            prefer: pinned,
            pin: pin.as_ref().map(Pin::id),
            tokens,
        };
        let acquired = if may_wait {
            acquire(&shared.pool, wanted, deadline).await.map(Some)
        } else {
            acquire_now(&shared.pool, wanted).await
        };
        let mut lease = match acquired {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                return Err(Missed::NotNow {
                    back_in: Duration::ZERO,
                    error: busy(provider, model, &failures),
                })
            }
            // Every key has been tried, and one will be back (its cooldown
            // ends, or another request releases it) before the deadline:
            // wait for it like any request that finds no key free.
            Err(AcquireError::Exhausted { rest })
                if !tried.is_empty()
                    && rest.is_none_or(|r| Instant::now() + r.retry_after < deadline) =>
            {
                if !may_wait {
                    return Err(Missed::NotNow {
                        back_in: rest.map_or(Duration::ZERO, |r| r.retry_after),
                        error: no_key(
                            AcquireError::Exhausted { rest },
                            provider,
                            model,
                            proxy.global_timeout,
                            &failures,
                        ),
                    });
                }
                tried.clear();
                continue;
            }
            Err(AcquireError::Resting(rest)) if !may_wait => {
                return Err(Missed::NotNow {
                    back_in: rest.retry_after,
                    error: resting(rest, provider, model, &failures),
                })
            }
            Err(e) => {
                return Err(Missed::Failed(no_key(
                    e,
                    provider,
                    model,
                    proxy.global_timeout,
                    &failures,
                )))
            }
        };
        let index = lease.index();
        if tried.is_empty() && lease.pinned().is_some() {
            // With shared state, the pin every replica sees.
            pinned = lease.pinned();
        }
        tried.push(index);
        summary.key = Some(lease.key().clone());
        // Shown only in logs and error messages: masked when needed.
        let masked = || summary.key.as_ref().map(Secret::mask).unwrap_or_default();
        let mut retries = 0;
        loop {
            summary.attempts += 1;
            let started = std::time::Instant::now();
            let result = attempt(shared, worker, request, lease, deadline).await;
            let class = match &result {
                Attempt::Answered(Answer::Json { .. } | Answer::Stream(_)) => "success",
                Attempt::Answered(Answer::Refusal { .. }) => "client_error",
                Attempt::Failed { failure, .. } => failure.kind.as_str(),
            };
            shared.metrics.attempt(provider, class, started.elapsed());
            if let Some(log) = &request.log {
                let why = match &result {
                    Attempt::Failed { why, .. } => why.as_str(),
                    Attempt::Answered(_) => "",
                };
                log.attempt(
                    &masked(),
                    class,
                    why,
                    started.elapsed().as_secs_f64() * 1000.0,
                );
            }
            let (kind, hint, why) = match result {
                Attempt::Answered(answer) => {
                    if let Some(pin) = &pin {
                        pin.answered(pinned, index);
                    }
                    return Ok(answer);
                }
                Attempt::Failed {
                    lease: failed,
                    failure: Failure { kind, hint },
                    why,
                } => {
                    lease = failed;
                    (kind, hint, why)
                }
            };
            if kind == FailureKind::Transient
                && failures.transient_keys > 0
                && Instant::now() < deadline
            {
                // The same failure on a second key: the request's or the
                // provider's problem. Counted in the key's usage, but the
                // key is released without a cooldown.
                log::warn!(
                    "{provider} key {} failed for {model}: {why}, as another key did; not \
                     trying further keys",
                    masked()
                );
                failures.record(&masked(), kind, &why);
                lease.count_retried(kind);
                lease.finish(Outcome::Abandoned);
                return Err(Missed::Failed(upstream_failed(provider, model, &failures)));
            }
            let pause = backoff::delay(proxy.retry_backoff_base, retries);
            if kind.retry_same_key()
                && retries < proxy.max_retries_per_key
                && Instant::now() + pause < deadline
            {
                log::warn!(
                    "{provider} key {} failed for {model}: {why}; retrying it in {pause:?}",
                    masked()
                );
                lease.count_retried(kind);
                retries += 1;
                actix_rt::time::sleep(pause).await;
                continue;
            }
            log::warn!(
                "{provider} key {} failed for {model}: {why} ({}); trying the next key",
                masked(),
                kind.as_str()
            );
            failures.record(&masked(), kind, &why);
            lease
                .finish_durably(Outcome::Failed(Failure { kind, hint }))
                .await;
            continue 'keys;
        }
    }
}
