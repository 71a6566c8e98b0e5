//! The time a client has to send its request body.
//!
//! actix-web's `client_request_timeout` bounds only the request head: a
//! client that sent its headers could then trickle its body a byte at a time,
//! or stall after part of it, and hold the connection (and a handler) for
//! ever. [`bound`] puts the whole body under `server.request_body_timeout`,
//! counted from the moment the head arrived; past it reading the body fails
//! with [`BodyTimedOut`], the request is answered 408
//! ([`ApiError::BodyTimeout`]) and [`close_after_timeout`] closes the
//! connection (its unread rest cannot be skipped reliably).

use std::time::Duration;

use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::HttpMessage;
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::error::ApiError;

/// Why reading the body failed: it was not all there within `after`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {after:?}")]
pub struct BodyTimedOut {
    pub after: Duration,
}

/// Puts the body of `req` (if it has one) under `timeout`, from now.
///
/// A request without a body (no `Content-Length`, or 0, and no
/// `Transfer-Encoding`) is left alone, so `GET`s cost nothing.
pub fn bound(req: &mut ServiceRequest, timeout: Duration) {
    let headers = req.headers();
    let has_body = headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if !has_body {
        return;
    }
    let deadline = Instant::now() + timeout;
    let payload = req.take_payload();
    // One state machine per body; each chunk waits at most until the
    // deadline. After the timeout error the stream ends.
    let timed = futures_util::stream::unfold(Some(payload), move |state| async move {
        let mut payload = state?;
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(payload))),
            Ok(None) => None,
            Err(_) => {
                let error = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    BodyTimedOut { after: timeout },
                );
                Some((Err(PayloadError::Io(error)), None))
            }
        }
    });
    req.set_payload(Payload::Stream {
        payload: Box::pin(timed),
    });
}

/// The error for a body that could not be read: 408 when its time ran out,
/// else 400.
pub fn read_error(error: PayloadError) -> ApiError {
    if let PayloadError::Io(io) = &error {
        if let Some(timed_out) = io.get_ref().and_then(|e| e.downcast_ref::<BodyTimedOut>()) {
            return ApiError::BodyTimeout {
                after: timed_out.after,
            };
        }
    }
    ApiError::invalid(format!("cannot read the request body: {error}"))
}

/// A 408 closes the connection: the rest of the body may still be on its
/// way, and the next request could not be told apart from it.
pub fn close_after_timeout<B>(res: &mut ServiceResponse<B>) {
    if res.status() == StatusCode::REQUEST_TIMEOUT {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
}
