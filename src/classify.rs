//! What one upstream attempt means for the request and for the key. One
//! place decides; the relay and the pool act on the verdict.

use actix_web::http::StatusCode;

use crate::keypool::FailureKind;
use crate::worker::TransportError;

/// The verdict on one upstream attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: use the answer.
    Success,
    /// The provider refused the request itself (400, 404, 413, 422, other
    /// 4xx): return its answer to the client after this one attempt, with
    /// no penalty to the key.
    ClientError,
    /// The key or the provider failed: try the next key.
    Failure(FailureKind),
}

/// Classifies an upstream answer by its status.
pub fn classify_status(status: StatusCode) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Success,
        401 | 403 => Verdict::Failure(FailureKind::KeyRejected),
        402 => Verdict::Failure(FailureKind::Quota),
        429 => Verdict::Failure(FailureKind::RateLimited),
        408 => Verdict::Failure(FailureKind::Transient),
        400..=499 => Verdict::ClientError,
        // 5xx, and 1xx/3xx, which an API should never answer with.
        _ => Verdict::Failure(FailureKind::Transient),
    }
}

/// Every transport problem is transient: another key (or a retry) may work.
pub fn classify_transport(error: &TransportError) -> FailureKind {
    match error {
        TransportError::Connect(_)
        | TransportError::Timeout
        | TransportError::Body(_)
        | TransportError::Cancelled
        | TransportError::WorkerGone => FailureKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let table = [
            (200, Verdict::Success),
            (201, Verdict::Success),
            (400, Verdict::ClientError),
            (404, Verdict::ClientError),
            (413, Verdict::ClientError),
            (422, Verdict::ClientError),
            (401, Verdict::Failure(FailureKind::KeyRejected)),
            (403, Verdict::Failure(FailureKind::KeyRejected)),
            (402, Verdict::Failure(FailureKind::Quota)),
            (429, Verdict::Failure(FailureKind::RateLimited)),
            (408, Verdict::Failure(FailureKind::Transient)),
            (500, Verdict::Failure(FailureKind::Transient)),
            (502, Verdict::Failure(FailureKind::Transient)),
            (503, Verdict::Failure(FailureKind::Transient)),
            (301, Verdict::Failure(FailureKind::Transient)),
        ];
        for (code, verdict) in table {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(classify_status(status), verdict, "{code}");
        }
    }

    #[test]
    fn transport_errors_are_transient() {
        assert_eq!(
            classify_transport(&TransportError::Timeout),
            FailureKind::Transient
        );
        assert_eq!(
            classify_transport(&TransportError::Connect("refused".into())),
            FailureKind::Transient
        );
    }
}
