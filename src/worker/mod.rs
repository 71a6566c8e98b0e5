//! `UpstreamWorker` makes the upstream calls of one HTTP worker thread: it
//! owns that thread's awc client (`awc::Client` is `!Send`, so one per
//! worker, kept in the worker's app data) and the handlers call it in
//! place, with no message or task between them and awc.
//!
//! A call answers with the response head and its body ([`UpstreamBody`]),
//! read straight from awc as the caller asks for it. Dropping the body (a
//! client that goes away drops its handler) closes the upstream connection
//! too.

mod client;
pub mod hop;
mod slices;

use std::pin::Pin;
use std::time::Duration;

use actix_web::http::{header::HeaderMap, Method, StatusCode};
use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc::error::TryRecvError;

use crate::providers::Auth;
use crate::secret::Secret;
use crate::vocab::TransportError;
pub use client::ClientSettings;

/// The upstream caller of one HTTP worker thread.
pub struct UpstreamWorker {
    client: awc::Client,
}

/// One HTTP call to a provider.
#[derive(Debug)]
pub struct CallUpstream {
    pub method: Method,
    pub url: String,
    /// The provider key, sent as `auth` says.
    pub key: Secret,
    pub auth: Auth,
    /// Fixed headers the wire format needs (e.g. `anthropic-version`).
    pub headers: &'static [(&'static str, &'static str)],
    pub body: Option<Bytes>,
    /// Bound on connecting and receiving the response head.
    pub timeout: Duration,
}

/// The head of an upstream response and its body, chunk by chunk.
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: UpstreamBody,
}

/// An upstream response's body, read from awc as it is asked for. After
/// its end or a failure it reads as ended (as does the default, empty one).
#[derive(Default)]
pub struct UpstreamBody {
    stream: Option<AwcBody>,
}

/// awc's response, read as its body's pieces.
type AwcBody = Pin<Box<dyn Stream<Item = Result<Bytes, awc::error::PayloadError>>>>;

impl std::fmt::Debug for UpstreamResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamResponse")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

// === impl UpstreamWorker ===

impl UpstreamWorker {
    pub fn new(settings: &ClientSettings) -> UpstreamWorker {
        UpstreamWorker {
            client: client::build(settings),
        }
    }
}

/// Calls the provider as `msg` says, up to the response head.
pub async fn call(
    worker: &UpstreamWorker,
    msg: CallUpstream,
) -> Result<UpstreamResponse, TransportError> {
    let mut request = worker
        .client
        .request(msg.method, &msg.url)
        .timeout(msg.timeout);
    request = match msg.auth {
        Auth::Bearer => request.bearer_auth(msg.key.expose()),
        Auth::Header(name) => request.insert_header((name, msg.key.expose())),
    };
    for (name, value) in msg.headers {
        request = request.insert_header((*name, *value));
    }
    // Marks the call as ours, so a loop back into this process stops at
    // once (see `hop`).
    request = request.insert_header((hop::HOP_HEADER, hop::mark()));
    if msg.body.is_some() {
        request = request.content_type("application/json");
    }
    let sending = match msg.body {
        Some(body) if body.len() > slices::SLICE => request.send_body(slices::Slices::new(body)),
        Some(body) => request.send_body(body),
        None => request.send(),
    };
    // A caller that no longer wants the answer drops this future, and the
    // call with it.
    let response = sending.await.map_err(send_error)?;
    let status = response.status();
    // The head is not needed past here: move its headers out.
    let mut headers = HeaderMap::new();
    let response = response.map_body(|head, payload| {
        headers = std::mem::replace(&mut head.headers, HeaderMap::new());
        payload
    });
    Ok(UpstreamResponse {
        status,
        headers,
        body: UpstreamBody {
            stream: Some(Box::pin(response)),
        },
    })
}

fn send_error(e: awc::error::SendRequestError) -> TransportError {
    use awc::error::SendRequestError as E;
    match e {
        E::Timeout => TransportError::Timeout,
        other => TransportError::Connect(other.to_string()),
    }
}

/// Pieces of a dropped body read if they have already arrived, so that a
/// body whose end is in (a stream's `[DONE]` comes with it) hands its
/// connection back to awc's pool instead of closing it.
const DRAIN_ON_DROP: usize = 16;

/// How long, and how much, the rest of a finished stream's body is read in
/// the background before its connection is closed instead.
const DRAIN_TIME: Duration = Duration::from_secs(2);
const DRAIN_BYTES: usize = 64 * 1024;

// === impl UpstreamBody ===

impl UpstreamBody {
    /// The next piece of the body; `None` at its end (and after a failure).
    pub async fn recv(&mut self) -> Option<Result<Bytes, TransportError>> {
        let next = self.stream.as_mut()?.next().await;
        self.settle(next)
    }

    /// The next piece if it has already arrived, without waiting.
    pub fn try_recv(&mut self) -> Result<Result<Bytes, TransportError>, TryRecvError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(TryRecvError::Disconnected);
        };
        match stream.next().now_or_never() {
            None => Err(TryRecvError::Empty),
            Some(next) => self.settle(next).ok_or(TryRecvError::Disconnected),
        }
    }

    /// Reads the rest of a body whose content the caller has all of (a
    /// stream past its `[DONE]`), in a task of its own, so its connection
    /// goes back to awc's pool: at most 64 KB for 2 s, else the
    /// connection is closed.
    pub fn finish_in_background(mut self) {
        self.drain_arrived();
        if self.stream.is_none() {
            return;
        }
        actix_rt::spawn(async move {
            let rest = async {
                let mut read = 0;
                while let Some(Ok(chunk)) = self.recv().await {
                    read += chunk.len();
                    if read > DRAIN_BYTES {
                        return;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, rest).await;
        });
    }

    /// Reads what has already arrived, up to [`DRAIN_ON_DROP`] pieces,
    /// without waiting: at the body's end awc keeps the connection.
    fn drain_arrived(&mut self) {
        for _ in 0..DRAIN_ON_DROP {
            match self.try_recv() {
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }

    /// `next` as the caller sees it; the stream is let go of at its end or
    /// at a failure, which closes the upstream connection.
    fn settle(
        &mut self,
        next: Option<Result<Bytes, awc::error::PayloadError>>,
    ) -> Option<Result<Bytes, TransportError>> {
        match next {
            Some(Ok(chunk)) => Some(Ok(chunk)),
            Some(Err(e)) => {
                self.stream = None;
                Some(Err(TransportError::Body(e.to_string())))
            }
            None => {
                self.stream = None;
                None
            }
        }
    }
}

impl Drop for UpstreamBody {
    /// A body left unread closes its connection (a client that went away
    /// stops the upstream call), unless its end has already arrived.
    fn drop(&mut self) {
        if self.stream.is_some() {
            self.drain_arrived();
        }
    }
}

/// Reads a whole body of at most `limit` bytes before `deadline`.
pub async fn read_body(
    body: &mut UpstreamBody,
    limit: usize,
    deadline: tokio::time::Instant,
) -> Result<Bytes, TransportError> {
    let mut out = bytes::BytesMut::new();
    loop {
        let next = tokio::time::timeout_at(deadline, body.recv())
            .await
            .map_err(|_| TransportError::Timeout)?;
        match next {
            Some(Ok(chunk)) => {
                if out.len() + chunk.len() > limit {
                    return Err(TransportError::Body(format!(
                        "the response is larger than {limit} bytes (proxy.max_upstream_response_size)"
                    )));
                }
                out.extend_from_slice(&chunk);
            }
            Some(Err(e)) => return Err(e),
            None => return Ok(out.freeze()),
        }
    }
}
