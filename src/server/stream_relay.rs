//! The stream relay: wait for the upstream's first event before answering
//! 200 (until then a failure rotates to the next key), then relay each event
//! the moment it arrives, and always end the stream.
//!
//! Events are OpenAI chat chunks in here; the client's API frames each as
//! it leaves ([`StreamFrames`]).
//!
//! After the first event a failure is never retried — that would duplicate
//! output. The client gets an error event and the stream's end instead.
//!
//! The relay runs as its own task, feeding the response through a small
//! channel: a client that disconnects (the channel closes) or stops reading
//! (a send waits longer than the idle timeout) ends the attempt at once,
//! releasing the key and closing the upstream connection.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::{ErrorBody, ErrorEnvelope};
use crate::inbound::StreamFrames;
use crate::keypool::Lease;
use crate::providers::classify_stream_error;
use crate::providers::TokenUsage;
use crate::providers::{StreamItem, StreamTranslator};
use crate::reqlog::LogHandle;
use crate::resilience::clock::Clock;
use crate::secret::Secret;
use crate::sse::SseParser;
use crate::vocab::{Failure, Outcome, Verdict};
use crate::worker::UpstreamBody;

mod upstream;

/// Frames buffered between the relay task and the client connection.
const CLIENT_BUFFER_FRAMES: usize = 16;

/// While the provider is silent, an SSE comment goes to the client this
/// often: writing to a dead connection fails, so a client that vanished is
/// noticed within about this long (clients ignore comments).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);

const KEEPALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// Room for a chunk's framing (`data: `, the blank line), beyond its data.
const FRAMING: usize = 16;

/// Events already at hand go to the client in one write up to about this
/// many bytes: fewer, larger writes cost less per event, and a client that
/// reads slowly still gets the stream in pieces.
const COALESCE_BYTES: usize = 16 * 1024;

/// One upstream stream on its way to the client. Owns the lease from its
/// first event on: when the client disconnects, the relay is dropped, the
/// lease reports the attempt abandoned and the upstream connection closes.
pub struct Relay {
    body: UpstreamBody,
    parser: SseParser,
    lease: Option<Lease>,
    provider: String,
    /// The wire format's view of each event.
    translator: Box<dyn StreamTranslator>,
    /// Items an event produced beyond the first, in order.
    ready: VecDeque<Pulled>,
    /// The translator's items for one event (kept for its allocation).
    items: Vec<StreamItem>,
    idle_timeout: Duration,
    usage: TokenUsage,
    /// Some event carried a `finish_reason`.
    finished: bool,
    /// Events ready to send, in order.
    queue: VecDeque<Out>,
    ended: bool,
    /// When the provider last sent anything; the idle timeout counts from
    /// here.
    last_heard: Instant,
    /// The request's log, when request logging is on.
    log: Option<LogHandle>,
    /// The key the stream was asked with, scrubbed from error events in
    /// case the provider echoes it.
    key: Secret,
    /// The app's clock: an error event's reset time is judged against it.
    clock: Arc<dyn Clock>,
}

/// An event on its way to the client.
enum Out {
    /// An OpenAI chat chunk (its JSON text, valid UTF-8).
    Chunk(Bytes),
    Error(String),
    End,
}

/// Why a stream failed before its first event.
#[derive(Debug)]
pub struct FirstEventFailure {
    pub why: String,
    /// The `{"error":…}` event the provider sent instead of output.
    pub error_event: Option<String>,
}

/// What the upstream produced next.
enum Pulled {
    /// An OpenAI chat chunk (its JSON text, valid UTF-8).
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
        body: UpstreamBody,
        translator: Box<dyn StreamTranslator>,
        provider: &str,
        idle_timeout: Duration,
        key: Secret,
        clock: Arc<dyn Clock>,
    ) -> Relay {
        Relay {
            key,
            clock,
            body,
            parser: SseParser::default(),
            translator,
            ready: VecDeque::new(),
            items: Vec::new(),
            lease: None,
            provider: provider.to_string(),
            idle_timeout,
            usage: TokenUsage::default(),
            finished: false,
            queue: VecDeque::new(),
            ended: false,
            last_heard: Instant::now(),
            log: None,
        }
    }

    /// Keeps the relayed events in the request's log.
    pub fn log_to(&mut self, log: Option<LogHandle>) {
        self.log = log;
    }

    /// Waits (until `deadline`) for the first event worth relaying.
    pub async fn first_event(&mut self, deadline: Instant) -> Result<(), FirstEventFailure> {
        let (why, error_event) = match self.pull(deadline).await {
            Pulled::Data(chunk) => {
                if let Some(log) = &self.log {
                    log.event(&String::from_utf8_lossy(&chunk));
                }
                self.queue.push_back(Out::Chunk(chunk));
                return Ok(());
            }
            Pulled::Done => (
                "the provider's stream ended before its first event".to_string(),
                None,
            ),
            Pulled::UpstreamError(data) => (
                format!("the stream's first event is an error: {}", clip(&data)),
                Some(data),
            ),
            Pulled::Broken(why) => (why, None),
        };
        Err(FirstEventFailure { why, error_event })
    }

    /// The relay owns `lease` from here on: the stream began.
    pub fn own(mut self, lease: Lease) -> Relay {
        self.lease = Some(lease);
        self
    }

    /// The 200 response that relays the rest of the stream, each event
    /// framed by `frames`.
    pub fn respond(self, frames: Box<dyn StreamFrames>) -> HttpResponse {
        let (tx, rx) = mpsc::channel(CLIENT_BUFFER_FRAMES);
        actix_rt::spawn(self.run(frames, tx));
        let frames = futures_util::stream::unfold(rx, |mut rx| async move {
            let frame = rx.recv().await?;
            Some((Ok::<_, Infallible>(frame), rx))
        });
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(frames)
    }

    /// Moves frames to the client until the stream ends or the client is
    /// gone. Events that have already arrived when one goes out go with it,
    /// in one write (up to [`COALESCE_BYTES`]); none waits for more.
    async fn run(mut self, mut frames: Box<dyn StreamFrames>, client: mpsc::Sender<Bytes>) {
        let mut keepalive = tokio::time::interval(KEEPALIVE_INTERVAL);
        keepalive.reset();
        loop {
            // `next_out` is cancel-safe: it only awaits the body channel.
            let frame = tokio::select! {
                next = self.next_out() => {
                    keepalive.reset();
                    let Some(next) = next else {
                        return;
                    };
                    let mut out = BytesMut::new();
                    write_frame(frames.as_mut(), next, &mut out);
                    while out.len() < COALESCE_BYTES {
                        let Some(next) = self.next_out_now() else {
                            break;
                        };
                        // Room for the whole write at once, not a frame
                        // at a time.
                        if out.capacity() < COALESCE_BYTES {
                            out.reserve(COALESCE_BYTES);
                        }
                        write_frame(frames.as_mut(), next, &mut out);
                    }
                    out.freeze()
                }
                _ = keepalive.tick() => Bytes::from_static(KEEPALIVE_FRAME),
                _ = client.closed() => return self.client_gone("disconnected"),
            };
            if frame.is_empty() {
                // The client's API has nothing to say for these events.
                continue;
            }
            match tokio::time::timeout(self.idle_timeout, client.send(frame)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return self.client_gone("disconnected"),
                Err(_) => return self.client_gone("stopped reading"),
            }
        }
    }

    fn client_gone(&mut self, how: &str) {
        if let Some(log) = self.log.take() {
            // 499: the client closed the connection (nginx's convention).
            log.finish(499);
        }
        if let Some(lease) = self.lease.take() {
            log::info!("{} stream ended early: the client {how}", self.provider);
            lease.finish(Outcome::Interrupted {
                prompt_tokens: self.usage.prompt_tokens,
                completion_tokens: self.usage.completion_tokens,
            });
        }
    }

    async fn next_out(&mut self) -> Option<Out> {
        if let Some(out) = self.queue.pop_front() {
            return Some(out);
        }
        if self.ended {
            return None;
        }
        let pulled = self.pull(self.last_heard + self.idle_timeout).await;
        self.out_of(pulled)
    }

    /// [`Relay::next_out`] among what has already arrived: `None` when
    /// that would have to wait.
    fn next_out_now(&mut self) -> Option<Out> {
        if let Some(out) = self.queue.pop_front() {
            return Some(out);
        }
        if self.ended {
            return None;
        }
        let pulled = self.pull_now()?;
        self.out_of(pulled)
    }

    /// What the client gets for `pulled`; `None` once the stream is over.
    fn out_of(&mut self, pulled: Pulled) -> Option<Out> {
        match pulled {
            Pulled::Data(chunk) => {
                if let Some(log) = &self.log {
                    log.event(&String::from_utf8_lossy(&chunk));
                }
                return Some(Out::Chunk(chunk));
            }
            Pulled::Done => self.finish(None),
            Pulled::UpstreamError(data) => self.finish(Some(data)),
            Pulled::Broken(why) => self.finish(Some(stream_error(&why))),
        }
        self.queue.pop_front()
    }

    /// Ends the stream: an optional error event, then the end; reports the
    /// outcome.
    fn finish(&mut self, error: Option<String>) {
        let outcome = match &error {
            None => Outcome::Success {
                prompt_tokens: self.usage.prompt_tokens,
                completion_tokens: self.usage.completion_tokens,
            },
            Some(data) => match classify_stream_error(data, self.clock.now()) {
                Verdict::Failed(failure) => Outcome::Failed(failure),
                Verdict::Success | Verdict::ClientError => Outcome::Failed(Failure::transient()),
            },
        };
        if let Some(error) = &error {
            log::warn!(
                "{} stream failed after output began: {}",
                self.provider,
                clip(error)
            );
            self.queue.push_back(Out::Error(error.clone()));
        }
        self.queue.push_back(Out::End);
        self.ended = true;
        if error.is_none() {
            // Past `[DONE]`: the rest of the body is read aside, so the
            // connection is kept for the next call.
            std::mem::take(&mut self.body).finish_in_background();
        }
        if let (Some(log), Some(error)) = (&self.log, &error) {
            let key = self
                .lease
                .as_ref()
                .map(|l| l.key().mask())
                .unwrap_or_default();
            let class = match outcome {
                Outcome::Failed(Failure { kind, .. }) => kind.as_str(),
                _ => "transient",
            };
            log.attempt(
                &key,
                class,
                &format!("after output began: {}", clip(error)),
                0.0,
            );
        }
        if let Some(log) = self.log.take() {
            for queued in &self.queue {
                log.event(&match queued {
                    Out::Chunk(data) => String::from_utf8_lossy(data),
                    Out::Error(data) => data.into(),
                    Out::End => "[DONE]".into(),
                });
            }
            log.usage(self.usage.prompt_tokens, self.usage.completion_tokens);
            log.finish(200);
        }
        if let Some(lease) = self.lease.take() {
            lease.finish(outcome);
        }
    }
}

/// Appends the client's frame for `out` to `buffer`.
fn write_frame(frames: &mut dyn StreamFrames, out: Out, buffer: &mut BytesMut) {
    match out {
        Out::Chunk(data) => {
            buffer.reserve(data.len() + FRAMING);
            frames.chunk_into(&data, buffer);
        }
        Out::Error(data) => buffer.extend_from_slice(&frames.error(&data)),
        Out::End => buffer.extend_from_slice(&frames.end()),
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
