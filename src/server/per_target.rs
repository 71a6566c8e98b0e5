//! What a walk over a request's targets prepares for each one: the body
//! (copied only when there may be more than one target), a chat request
//! in the target's wire format, the bytes that go upstream.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::body::Target;
use super::fallback::Plan;
use super::rotation::{Forward, Operation};
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::ChatOptions;
use crate::reqlog::LogHandle;

/// A request body for each target a walk prepares: copied when the plan
/// has more than one target, else handed over (a lone target is prepared
/// once: it is never skipped, it may wait).
pub struct BodyPerTarget {
    chain: bool,
    body: Option<Map<String, Value>>,
}

impl BodyPerTarget {
    pub fn new(plan: &Plan<'_>, body: Map<String, Value>) -> BodyPerTarget {
        BodyPerTarget {
            chain: plan.is_chain(),
            body: Some(body),
        }
    }

    /// The body for the next target.
    pub fn next(&mut self) -> Map<String, Value> {
        match self.chain {
            true => self.body.clone(),
            false => self.body.take(),
        }
        .unwrap_or_default()
    }
}

/// The OpenAI chat request `body` for `target`, in its wire format.
pub fn chat_forward<'c>(
    config: &'c Config,
    target: Target<'c>,
    body: Map<String, Value>,
    options: ChatOptions,
    log: &Option<LogHandle>,
) -> Result<Forward<'c>, ApiError> {
    let wire = target.provider.format.wire();
    let outbound = wire
        .chat_request(body, &target.model, options.stream)
        .map_err(ApiError::invalid)?;
    Ok(Forward {
        config,
        operation: Operation::Chat,
        path: outbound.path,
        body: encode(&outbound.body)?,
        stream: options.stream,
        client_wants_usage: options.wants_usage,
        target,
        log: log.clone(),
    })
}

/// A request body as JSON bytes for the provider. They are held until the
/// call is answered (a retry sends them again), so a large body gives back
/// what the encoder's doubling reserved past its end.
pub fn encode(body: &Value) -> Result<Bytes, ApiError> {
    let mut bytes = serde_json::to_vec(body)
        .map_err(|e| ApiError::invalid(format!("cannot encode the request: {e}")))?;
    if bytes.capacity() - bytes.len() > SPARE_KEPT {
        bytes.shrink_to_fit();
    }
    Ok(Bytes::from(bytes))
}

/// Room past an encoded body's end that is not worth a shrink.
const SPARE_KEPT: usize = 64 * 1024;
