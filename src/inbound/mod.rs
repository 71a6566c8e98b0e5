//! Client-facing APIs: the request shapes clients speak to the proxy, beside
//! [`providers`](crate::providers), the shapes the proxy speaks upstream.
//!
//! Internally every chat request is an OpenAI chat request, and every answer
//! an OpenAI chat answer, JSON or a stream of chunks. An [`InboundApi`]
//! translates at the edge: the client's body into the internal request, the
//! internal answer (JSON, each stream chunk, the provider's refusal, the
//! proxy's own errors) into the client's shapes, and says which headers may
//! carry the proxy key. The server serves any of them through one handler;
//! adding an API is a module here and one route line.
//!
//! - [`openai_chat`]: OpenAI Chat Completions, the internal shape itself.
//! - [`anthropic`]: Anthropic's Messages API (`POST /v1/messages`).
//! - [`responses`]: OpenAI's Responses API (`POST /v1/responses`).
//! - [`chunk`]: the parts of an OpenAI chat chunk every stream translator
//!   reads.
//! - [`shape`]: cheap checks on a client's request that every API shares.
//!
//! Nothing here reads the configuration or calls a provider.

pub mod anthropic;
pub mod chunk;
pub mod openai_chat;
pub mod responses;
pub mod shape;

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use std::sync::Arc;

use actix_web::HttpResponse;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::store::{ChainError, StoredResponse};

pub use anthropic::AnthropicMessages;
pub use openai_chat::OpenAiChat;
pub use responses::OpenAiResponses;

/// What [`InboundApi::parse`] may consult besides the client's body.
#[derive(Clone, Copy)]
pub struct ParseEnv<'a> {
    /// The configured providers and routes, for checks and messages that
    /// name them.
    pub served: &'a dyn Served,
    /// Where the answer is kept, unless the request says not to; `None`
    /// where nothing is stored.
    pub keep: Option<&'a Arc<dyn ResponseSink>>,
    /// The conversation the request's `previous_response_id` names, as
    /// the server found it (oldest first, or why not); `None` when the
    /// request continues none or nothing is stored.
    pub continued: Option<&'a Result<Vec<StoredResponse>, ChainError>>,
    /// When the request arrived, on the server's clock (a stored
    /// response's time to live runs from it).
    pub now: DateTime<Utc>,
}

/// Where answers are kept (the Responses API's stored responses), in
/// whichever store holds them. Keeping never fails the request: a record
/// too large, or a store that fails, is logged.
pub trait ResponseSink: Send + Sync {
    /// Keeps `record` as response `id`, stored at `now`.
    fn keep(&self, id: &str, record: StoredResponse, now: DateTime<Utc>);
}

/// How a client's chat request is to be answered.
#[derive(Clone, Copy, Debug)]
pub struct ChatOptions {
    pub stream: bool,
    /// The client gets the stream's usage-only chunk (its translator may
    /// need the usage even when the client never asked in OpenAI terms).
    pub wants_usage: bool,
}

/// One client-facing API. Stateless: the server calls its functions at the
/// edges of a request. What one request's answer needs to know of its
/// request travels in [`InboundApi::Context`], and [`InboundApi::stream`]
/// makes the per-stream state.
pub trait InboundApi: 'static {
    /// What [`InboundApi::parse`] learnt that the answer needs (e.g. the
    /// client's own names for its tools); `()` for an API that needs
    /// nothing. The default is used when the body went upstream unparsed
    /// ([`InboundApi::OPENAI_BODY`]).
    type Context: Default + Send + 'static;

    /// Headers besides `Authorization: Bearer` (always accepted) that may
    /// carry the proxy key as is.
    const KEY_HEADERS: &'static [&'static str] = &[];

    /// The client's body is an OpenAI chat request already, so a plain
    /// non-streaming one may go upstream without being parsed.
    const OPENAI_BODY: bool = false;

    /// The client speaks OpenAI's Responses API, so a provider that serves
    /// it natively gets the body as sent (only `model` replaced) and its
    /// answer goes back as it came, streams framed by
    /// [`responses::PassThrough`].
    const RESPONSES: bool = false;

    /// The client's body as an OpenAI chat body (`model` as the client
    /// sent it, `provider/model` or a route) and the request's context, or
    /// why it is refused (a 400).
    fn parse(
        body: Map<String, Value>,
        env: &ParseEnv<'_>,
    ) -> Result<(Map<String, Value>, Self::Context), ApiError>;

    /// The answer comes from `model` (`provider/model`), which may differ
    /// from what the client asked for (a route): an API whose context
    /// names the model in its answers takes it. Nothing by default.
    fn answered_by(_context: &mut Self::Context, _model: &str) {}

    /// The rest of the request, read once its model resolved (so a
    /// request without a usable model is refused for that first): the
    /// stream flag, the usage chunk, and any checks of the body.
    fn options(body: &Map<String, Value>) -> Result<ChatOptions, ApiError>;

    /// A successful JSON answer; `body` is OpenAI chat JSON, `status` the
    /// provider's 2xx.
    fn json(
        status: StatusCode,
        body: Vec<u8>,
        context: Self::Context,
    ) -> Result<HttpResponse, ApiError>;

    /// The translator for one stream of `provider`'s `model`.
    fn stream(provider: &str, model: &str, context: Self::Context) -> Box<dyn StreamFrames>;

    /// Headers a successful answer (JSON or stream) or the provider's
    /// refusal carries besides the API's own, from the request's context
    /// (e.g. what the proxy left out of the request). None by default.
    fn headers(_context: &Self::Context) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The proxy's own error, in the API's envelope, with the status (and
    /// `Retry-After`) the error has everywhere.
    fn error(error: &ApiError) -> HttpResponse;

    /// The provider refused the request itself (its 4xx): `body` is what it
    /// said, key scrubbed, with its `Content-Type`.
    fn refusal(status: StatusCode, content_type: HeaderValue, body: Bytes) -> HttpResponse;
}

/// What the proxy serves, as far as a client API's checks and messages
/// need to know.
pub trait Served {
    /// The configured providers' names.
    fn providers(&self) -> Vec<String>;
    /// The configured routes' names.
    fn routes(&self) -> Vec<String>;
    /// Whether `model` is a route: a name that stands for a chain of
    /// `provider/model` targets, bare or not.
    fn is_route(&self, model: &str) -> bool;
}

/// The client's side of one stream, fed event by event. Each call returns
/// the bytes for the client (SSE frames), empty when the event yields
/// nothing.
pub trait StreamFrames {
    /// One OpenAI chat chunk (its JSON text).
    fn chunk(&mut self, data: &str) -> Bytes;

    /// [`StreamFrames::chunk`] on the chunk's bytes (valid UTF-8),
    /// appended to `out`: the relay writes the frames of the events at
    /// hand into one buffer, sent as one write.
    fn chunk_into(&mut self, data: &[u8], out: &mut BytesMut) {
        out.extend_from_slice(&self.chunk(&String::from_utf8_lossy(data)));
    }

    /// An OpenAI `{"error":…}` event: the stream failed after output
    /// began. [`StreamFrames::end`] follows.
    fn error(&mut self, data: &str) -> Bytes;

    /// The stream is over.
    fn end(&mut self) -> Bytes;
}
