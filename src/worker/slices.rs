//! A large request body sent in slices, its length declared.
//!
//! awc copies a body into the connection's write buffer before sending it,
//! and that buffer lives as long as the call: for a stream, until its end.
//! Handed over in slices, the body passes through a buffer of one slice, so
//! a 1 MB request held open by a long stream keeps a 64 KB buffer, not a
//! second copy of itself. The slices share the body's bytes (no copy), and
//! the length goes in `Content-Length` as before (no chunked encoding).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use awc::body::{BodySize, MessageBody};
use bytes::Bytes;

/// Bodies up to this size are sent whole; larger ones in slices of it.
pub const SLICE: usize = 64 * 1024;

/// `body`, handed to awc [`SLICE`] bytes at a time.
pub struct Slices {
    rest: Bytes,
    size: u64,
}

impl Slices {
    pub fn new(body: Bytes) -> Slices {
        Slices {
            size: body.len() as u64,
            rest: body,
        }
    }
}

impl MessageBody for Slices {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.size)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(SLICE);
        Poll::Ready(Some(Ok(self.rest.split_to(n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn slices_are_the_body_in_order_with_its_length() {
        let body: Bytes = (0..SLICE * 2 + 10).map(|i| (i % 251) as u8).collect();
        let slices = Slices::new(body.clone());
        assert_eq!(slices.size(), BodySize::Sized(body.len() as u64));
        let mut slices = std::pin::pin!(slices);
        let mut sent = Vec::new();
        let mut lengths = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| slices.as_mut().poll_next(cx)).await {
            let chunk = chunk.unwrap();
            lengths.push(chunk.len());
            sent.extend_from_slice(&chunk);
        }
        assert_eq!(lengths, [SLICE, SLICE, 10]);
        assert_eq!(sent, body);
    }
}
