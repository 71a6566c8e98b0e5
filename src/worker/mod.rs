//! `UpstreamWorker` is an actor. It owns one awc client — one per HTTP
//! worker thread, since `awc::Client` is `!Send` — and performs upstream
//! calls for the handlers on its thread.
//!
//! A call answers with the response head and a channel of body chunks. A
//! local task pumps the body into the channel and stops as soon as the
//! receiver is dropped, so a client that goes away closes the upstream
//! connection too.

mod client;
pub mod hop;
mod slices;

use std::time::Duration;

use actix::prelude::*;
use actix_web::http::{header::HeaderMap, Method, StatusCode};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::providers::Auth;
use crate::secret::Secret;
use crate::vocab::TransportError;
pub use client::ClientSettings;

/// Body chunks buffered between the upstream and the relay; the pump waits
/// (back-pressure) when the relay falls behind.
const BODY_CHANNEL_CAPACITY: usize = 32;

/// Calls queued per worker before senders wait.
const MAILBOX_CAPACITY: usize = 4096;

/// The upstream call actor of one HTTP worker thread.
pub struct UpstreamWorker {
    client: awc::Client,
}

/// One HTTP call to a provider.
#[derive(Debug, Message)]
#[rtype(result = "Result<UpstreamResponse, TransportError>")]
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
    /// Completes (or is dropped) when the caller no longer wants the answer.
    pub cancel: oneshot::Receiver<()>,
}

/// The head of an upstream response and its body, chunk by chunk.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: mpsc::Receiver<Result<Bytes, TransportError>>,
}

// === impl UpstreamWorker ===

impl UpstreamWorker {
    pub fn new(settings: &ClientSettings) -> UpstreamWorker {
        UpstreamWorker {
            client: client::build(settings),
        }
    }
}

impl Actor for UpstreamWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<CallUpstream> for UpstreamWorker {
    type Result = ResponseFuture<Result<UpstreamResponse, TransportError>>;

    fn handle(&mut self, msg: CallUpstream, _: &mut Self::Context) -> Self::Result {
        let mut request = self
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
        let mut cancel = msg.cancel;
        Box::pin(async move {
            let sending = match msg.body {
                Some(body) if body.len() > slices::SLICE => {
                    request.send_body(slices::Slices::new(body))
                }
                Some(body) => request.send_body(body),
                None => request.send(),
            };
            let response = tokio::select! {
                response = sending => response.map_err(send_error)?,
                _ = &mut cancel => return Err(TransportError::Cancelled),
            };
            let status = response.status();
            // The head is not needed past here: move its headers out.
            let mut headers = HeaderMap::new();
            let response = response.map_body(|head, payload| {
                headers = std::mem::replace(&mut head.headers, HeaderMap::new());
                payload
            });
            let (tx, rx) = mpsc::channel(BODY_CHANNEL_CAPACITY);
            actix_rt::spawn(pump(response, tx));
            Ok(UpstreamResponse {
                status,
                headers,
                body: rx,
            })
        })
    }
}

/// Copies the body into `tx` until it ends, fails, or nobody listens.
async fn pump<S>(
    mut response: awc::ClientResponse<S>,
    tx: mpsc::Sender<Result<Bytes, TransportError>>,
) where
    S: futures_util::Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin,
{
    loop {
        let next = tokio::select! {
            next = response.next() => next,
            _ = tx.closed() => return,
        };
        match next {
            Some(Ok(chunk)) => {
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
            Some(Err(e)) => {
                let _ = tx.send(Err(TransportError::Body(e.to_string()))).await;
                return;
            }
            None => return,
        }
    }
}

fn send_error(e: awc::error::SendRequestError) -> TransportError {
    use awc::error::SendRequestError as E;
    match e {
        E::Timeout => TransportError::Timeout,
        other => TransportError::Connect(other.to_string()),
    }
}

/// Sends `call` to `worker`, mapping a stopped worker to a transport error.
pub async fn call(
    worker: &Addr<UpstreamWorker>,
    call: CallUpstream,
) -> Result<UpstreamResponse, TransportError> {
    worker
        .send(call)
        .await
        .map_err(|_| TransportError::WorkerGone)?
}

/// Reads a whole body of at most `limit` bytes before `deadline`.
pub async fn read_body(
    body: &mut mpsc::Receiver<Result<Bytes, TransportError>>,
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
