//! OpenAI Chat Completions as a client-facing API: the internal shape
//! itself, so requests and answers pass as they are (`POST
//! /v1/chat/completions`; the OpenAI-only completions and embeddings routes
//! render through it too).

use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};

use super::shape::{check_messages, stream_flag};
use super::{ChatOptions, InboundApi, ParseEnv, StreamFrames};
use crate::error::ApiError;
use crate::providers::client_wants_usage;
use crate::sse::{frame, frame_into};

/// The final event of an OpenAI stream.
const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

/// OpenAI's Chat Completions API.
pub struct OpenAiChat;

impl InboundApi for OpenAiChat {
    type Context = ();

    const OPENAI_BODY: bool = true;

    fn parse(
        body: Map<String, Value>,
        _env: &ParseEnv<'_>,
    ) -> Result<(Map<String, Value>, ()), ApiError> {
        Ok((body, ()))
    }

    fn options(body: &Map<String, Value>) -> Result<ChatOptions, ApiError> {
        let stream = stream_flag(body)?;
        check_messages(body)?;
        Ok(ChatOptions {
            stream,
            wants_usage: stream && client_wants_usage(body),
        })
    }

    /// The bytes as they are.
    fn json(status: StatusCode, body: Vec<u8>, _: ()) -> Result<HttpResponse, ApiError> {
        Ok(HttpResponse::build(status)
            .content_type("application/json")
            .body(body))
    }

    fn stream(_provider: &str, _model: &str, _: ()) -> Box<dyn StreamFrames> {
        Box::new(Chunks)
    }

    fn error(error: &ApiError) -> HttpResponse {
        error.error_response()
    }

    /// The provider's own words, as they are.
    fn refusal(status: StatusCode, content_type: HeaderValue, body: Bytes) -> HttpResponse {
        HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, content_type))
            .body(body)
    }
}

/// One stream's chunks, each a `data:` event, then `data: [DONE]`.
struct Chunks;

impl StreamFrames for Chunks {
    fn chunk(&mut self, data: &str) -> Bytes {
        frame(data)
    }

    fn chunk_into(&mut self, data: &[u8], out: &mut BytesMut) {
        frame_into(data, out);
    }

    fn error(&mut self, data: &str) -> Bytes {
        frame(data)
    }

    fn end(&mut self) -> Bytes {
        Bytes::from_static(DONE_FRAME)
    }
}
