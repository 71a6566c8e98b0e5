//! Relaying a stream: wait for the upstream's first event before answering
//! 200 (until then a failure rotates to the next key), then relay each event
//! the moment it arrives, and always end with `data: [DONE]`.
//!
//! After the first event a failure is never retried — that would duplicate
//! output. The client gets `data: {"error":…}` and `[DONE]` instead.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use actix_web::HttpResponse;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::{ErrorBody, ErrorEnvelope};
use crate::keypool::{FailureKind, Lease, Outcome};
use crate::providers::openai::{translate_event, StreamItem};
use crate::providers::TokenUsage;
use crate::sse::{frame, SseParser};
use crate::worker::TransportError;

/// One upstream stream on its way to the client. Owns the lease: when the
/// client disconnects, the relay is dropped, the lease reports the attempt
/// abandoned and the upstream connection closes.
pub struct Relay {
    body: mpsc::Receiver<Result<Bytes, TransportError>>,
    parser: SseParser,
    lease: Option<Lease>,
    provider: String,
    client_wants_usage: bool,
    idle_timeout: Duration,
    usage: TokenUsage,
    /// Some event carried a `finish_reason`.
    finished: bool,
    /// Frames ready to send, in order.
    queue: VecDeque<Bytes>,
    ended: bool,
}

/// What the upstream produced next.
enum Pulled {
    Data(Bytes),
    Done,
    /// The provider sent an `{"error":…}` event.
    UpstreamError(String),
    /// The stream broke (cut, timeout, transport error).
    Broken(String),
}

// === impl Relay ===

impl Relay {
    pub fn new(
        body: mpsc::Receiver<Result<Bytes, TransportError>>,
        lease: Lease,
        provider: &str,
        client_wants_usage: bool,
        idle_timeout: Duration,
    ) -> Relay {
        Relay {
            body,
            parser: SseParser::default(),
            lease: Some(lease),
            provider: provider.to_string(),
            client_wants_usage,
            idle_timeout,
            usage: TokenUsage::default(),
            finished: false,
            queue: VecDeque::new(),
            ended: false,
        }
    }

    /// Waits (until `deadline`) for the first event worth relaying. On
    /// failure gives the lease back so the caller can report and rotate.
    pub async fn first_event(&mut self, deadline: Instant) -> Result<(), (Option<Lease>, String)> {
        let why = match self.pull(deadline).await {
            Pulled::Data(frame) => {
                self.queue.push_back(frame);
                return Ok(());
            }
            Pulled::Done => "the provider's stream ended before its first event".to_string(),
            Pulled::UpstreamError(data) => {
                format!("the stream's first event is an error: {}", clip(&data))
            }
            Pulled::Broken(why) => why,
        };
        Err((self.lease.take(), why))
    }

    /// The 200 response that relays the rest of the stream.
    pub fn into_response(self) -> HttpResponse {
        let frames = futures_util::stream::unfold(self, |mut relay| async move {
            let frame = relay.next_frame().await?;
            Some((Ok::<_, Infallible>(frame), relay))
        });
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(frames)
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        if let Some(frame) = self.queue.pop_front() {
            return Some(frame);
        }
        if self.ended {
            return None;
        }
        let pulled = self.pull(Instant::now() + self.idle_timeout).await;
        match pulled {
            Pulled::Data(frame) => return Some(frame),
            Pulled::Done => self.finish(None),
            Pulled::UpstreamError(data) => self.finish(Some(data)),
            Pulled::Broken(why) => self.finish(Some(stream_error(&why))),
        }
        self.queue.pop_front()
    }

    /// Ends the stream: an optional error event, then `[DONE]`; reports the
    /// outcome.
    fn finish(&mut self, error: Option<String>) {
        let outcome = match &error {
            None => Outcome::Success {
                prompt_tokens: self.usage.prompt_tokens,
                completion_tokens: self.usage.completion_tokens,
            },
            Some(_) => Outcome::Failure(FailureKind::Transient),
        };
        if let Some(error) = error {
            log::warn!(
                "{} stream failed after output began: {}",
                self.provider,
                clip(&error)
            );
            self.queue.push_back(frame(&error));
        }
        self.queue.push_back(frame("[DONE]"));
        self.ended = true;
        if let Some(lease) = self.lease.take() {
            lease.finish(outcome);
        }
    }

    /// Reads until the next event worth relaying, or the end.
    async fn pull(&mut self, until: Instant) -> Pulled {
        loop {
            while let Some(event) = self.parser.next_event() {
                match translate_event(&event.data, &self.provider, self.client_wants_usage) {
                    StreamItem::Done => return Pulled::Done,
                    StreamItem::Error(data) => return Pulled::UpstreamError(data),
                    StreamItem::Chunk {
                        data,
                        usage,
                        finished,
                    } => {
                        self.usage = usage.unwrap_or(self.usage);
                        self.finished |= finished;
                        if let Some(data) = data {
                            return Pulled::Data(frame(&data));
                        }
                    }
                }
            }
            match tokio::time::timeout_at(until, self.body.recv()).await {
                Ok(Some(Ok(chunk))) => self.parser.push(&chunk),
                Ok(Some(Err(e))) => return Pulled::Broken(e.to_string()),
                // Providers end with [DONE]; a finish_reason is as good.
                Ok(None) if self.finished => return Pulled::Done,
                Ok(None) => {
                    return Pulled::Broken("the provider's stream ended before it finished".into())
                }
                Err(_) => return Pulled::Broken("the provider sent nothing for too long".into()),
            }
        }
    }
}

/// An OpenAI-style error event for a stream that broke.
fn stream_error(why: &str) -> String {
    let envelope = ErrorEnvelope {
        error: ErrorBody {
            message: format!("the upstream stream failed: {why}"),
            kind: "upstream_error",
            param: None,
            code: Some("stream_interrupted"),
        },
    };
    serde_json::to_string(&envelope).unwrap_or_default()
}

fn clip(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
