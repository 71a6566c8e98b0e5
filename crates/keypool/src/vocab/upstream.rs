//! Words about the call to a provider that the classifier and the
//! transport share.

/// A call that produced no usable HTTP exchange.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("cannot reach the provider: {0}")]
    Connect(String),
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider's response broke off: {0}")]
    Body(String),
    #[error("the request was cancelled")]
    Cancelled,
    #[error("the upstream worker has stopped")]
    WorkerGone,
}

/// The error code of a request that came back into a proxy it passed
/// through: the proxy answers it with 508, and the classifier hands such an
/// answer back instead of rotating.
pub const LOOP_DETECTED: &str = "loop_detected";
