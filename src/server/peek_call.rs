//! One upstream call outside the rotation loop, for the side routes that
//! ask a provider something (`GET /v1/models`, a native token counter):
//! borrow one of the provider's keys without leasing it (`PeekKey`), call
//! once within `proxy.models_fetch_timeout`, accept only a 2xx answer and
//! read its body. No rotation and no outcome reported to the pool: these
//! answers are not billed and must not cool keys down.

use actix_web::http::{Method, StatusCode};
use bytes::Bytes;

use super::Shared;
use crate::config::ProviderConfig;
use crate::keypool::PeekKey;
use crate::worker::{self, CallUpstream, UpstreamWorker};

/// What to ask the provider.
pub struct PeekCall {
    pub method: Method,
    /// Appended to the provider's `api_base`.
    pub path: String,
    pub body: Option<Bytes>,
    /// Bound on the answer's body.
    pub limit: usize,
}

/// Why there is no answer.
#[derive(Debug)]
pub enum PeekCallError {
    /// The provider has no key to borrow.
    NoKey,
    /// The call failed; the reason, for a warning.
    Failed(String),
}

/// Calls `provider` once with a borrowed key; the body of a 2xx answer.
pub async fn peek_call(
    shared: &Shared,
    worker: &UpstreamWorker,
    provider: &ProviderConfig,
    request: PeekCall,
) -> Result<Bytes, PeekCallError> {
    let key = shared
        .pool
        .send(PeekKey {
            provider: provider.name.clone(),
        })
        .await
        .map_err(|_| PeekCallError::Failed("the key pool stopped".to_string()))?
        .ok_or(PeekCallError::NoKey)?;
    let config = shared.config();
    let settings = &config.settings.proxy;
    let deadline = tokio::time::Instant::now() + settings.models_fetch_timeout;
    let wire = provider.format.wire();
    let call = CallUpstream {
        method: request.method,
        url: format!("{}{}", provider.api_base, request.path),
        key,
        auth: wire.auth(),
        headers: wire.headers(),
        body: request.body,
        timeout: settings.models_fetch_timeout,
    };
    let failed = |e: crate::vocab::TransportError| PeekCallError::Failed(e.to_string());
    let mut response = worker::call(worker, call).await.map_err(failed)?;
    if response.status == StatusCode::LOOP_DETECTED {
        return Err(PeekCallError::Failed(format!(
            "HTTP 508: {}_API_BASE leads back into this proxy (a request loop); set it to the \
             provider's real URL",
            provider.name.to_ascii_uppercase()
        )));
    }
    if !response.status.is_success() {
        return Err(PeekCallError::Failed(format!(
            "HTTP {}",
            response.status.as_u16()
        )));
    }
    worker::read_body(&mut response.body, request.limit, deadline)
        .await
        .map_err(failed)
}
