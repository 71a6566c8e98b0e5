//! Middleware: a request id and one log line for every request; the loop
//! and proxy key checks for `/v1`.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};
use bytes::Bytes;

use super::metrics::InFlight;
use super::Shared;
use crate::error::ApiError;
use crate::inbound::InboundApi;
use crate::secret::Secret;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The `provider/model` that answered a request.
pub const TARGET: HeaderName = HeaderName::from_static("x-llm-key-proxy-target");

/// Longest client-supplied request id that is echoed back.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The request's id, for handlers (request logs).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// What a handler learned about a request, for its log line.
#[derive(Clone, Debug, Default)]
pub struct RequestSummary {
    pub provider: String,
    pub model: String,
    /// Key of the last attempt (masked when shown).
    pub key: Option<Secret>,
    pub attempts: u32,
}

/// Gives every response an `x-request-id` (the client's, if it sent a sane
/// one) and logs one line per request.
pub async fn request_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = client_request_id(req.headers()).unwrap_or_else(new_request_id);
    let id_header = HeaderValue::from_str(&id).ok();
    let shared = req.app_data::<web::Data<Shared>>().cloned();
    if let Some(shared) = &shared {
        let timeout = shared.with_config(|c| c.settings.server.request_body_timeout);
        super::body_deadline::bound(&mut req, timeout);
    }
    req.extensions_mut().insert(RequestId(id));
    let in_flight = shared.as_ref().map(|s| s.metrics.enter());
    let mut res = next.call(req).await?.map_into_boxed_body();
    super::body_deadline::close_after_timeout(&mut res);
    if matches!(res.response().body().size(), BodySize::Stream) {
        // A stream is in flight until its last event, not its head.
        res = res.map_body(|_, body| {
            InFlightBody {
                body,
                _in_flight: in_flight,
            }
            .boxed()
        });
    }
    if let Some(value) = id_header {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    // The target that answered (or was tried last), which a route may
    // have chosen among several.
    let target = res
        .request()
        .extensions()
        .get::<RequestSummary>()
        .and_then(|s| HeaderValue::from_str(&format!("{}/{}", s.provider, s.model)).ok());
    if let Some(target) = target {
        res.headers_mut().insert(TARGET, target);
    }
    let status = res.status().as_u16();
    let request = res.request();
    let extensions = request.extensions();
    let summary = extensions.get::<RequestSummary>();
    if let Some(shared) = &shared {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let (provider, model) =
            summary.map_or(("", ""), |s| (s.provider.as_str(), s.model.as_str()));
        shared
            .metrics
            .request(&route, provider, model, status, started.elapsed());
    }
    if log::log_enabled!(log::Level::Info) {
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let (method, path) = (request.method(), request.path());
        let id = extensions.get::<RequestId>().map_or("", |id| id.0.as_str());
        match summary {
            Some(s) => log::info!(
                "{method} {path} {status} provider={} model={} key={} attempts={} {elapsed:.1}ms id={id}",
                s.provider,
                s.model,
                s.key.as_ref().map(Secret::mask).unwrap_or_default(),
                s.attempts
            ),
            None => log::info!("{method} {path} {status} {elapsed:.1}ms id={id}"),
        }
    }
    drop(extensions);
    Ok(res)
}

/// A streamed body that counts as a request in flight until it is done or
/// dropped.
struct InFlightBody {
    body: BoxBody,
    _in_flight: Option<InFlight>,
}

impl MessageBody for InFlightBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// Rejects `/v1` requests without the proxy key (when one is configured),
/// in the envelope of the client's API `A`, which also says which headers
/// besides `Authorization: Bearer` may carry the key.
///
/// First, a request carrying this process's own hop mark gets `508
/// loop_detected` at once: it is the proxy calling itself, and carries a
/// provider key rather than the proxy key, so the key check would only
/// hide the cause.
pub async fn require_proxy_key<A: InboundApi, B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if crate::worker::hop::is_own(req.headers()) {
        return Ok(req.into_response(ApiError::LoopDetected.error_response()));
    }
    let refused = req.app_data::<web::Data<Shared>>().is_some_and(|s| {
        s.with_config(|config| {
            config
                .proxy_api_key
                .as_ref()
                .is_some_and(|expected| !carries_key::<A>(req.headers(), expected))
        })
    });
    if refused {
        return Ok(req.into_response(A::error(&ApiError::Unauthorized)));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// `Authorization: Bearer <key>`, or one of `A`'s own key headers with the
/// key as is.
fn carries_key<A: InboundApi>(headers: &HeaderMap, expected: &Secret) -> bool {
    let by_own_header = A::KEY_HEADERS.iter().any(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|key| expected.matches(key.trim()))
    });
    by_own_header || is_authorized(headers, expected)
}

/// `Authorization: Bearer <key>`, the scheme in any case, the key compared
/// in constant time.
pub fn is_authorized(headers: &HeaderMap, expected: &Secret) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && expected.matches(token.trim())
}

fn client_request_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get(REQUEST_ID)?.to_str().ok()?;
    let sane = !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id.bytes().all(|b| b.is_ascii_graphic());
    sane.then(|| id.to_string())
}

/// A random (version 4) UUID with a `req_` prefix. The random bits come
/// from SipHash, keyed per thread from the OS's randomness, over a counter:
/// no system call per request, unlike `Uuid::new_v4`.
fn new_request_id() -> String {
    thread_local! {
        static IDS: (RandomState, Cell<u64>) = (RandomState::new(), Cell::new(0));
    }
    let random = IDS.with(|(keys, counter)| {
        let n = counter.get();
        counter.set(n.wrapping_add(1));
        let high = u128::from(keys.hash_one((n, 0u8)));
        let low = u128::from(keys.hash_one((n, 1u8)));
        (high << 64 | low).to_le_bytes()
    });
    let id = uuid::Builder::from_random_bytes(random).into_uuid();
    let mut text = String::with_capacity(4 + uuid::fmt::Simple::LENGTH);
    text.push_str("req_");
    text.push_str(id.simple().encode_lower(&mut uuid::Uuid::encode_buffer()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let key = Secret::new("proxy-key-123456");
        for ok in [
            "Bearer proxy-key-123456",
            "bearer proxy-key-123456",
            "BEARER  proxy-key-123456",
        ] {
            assert!(is_authorized(&headers(ok), &key), "{ok}");
        }
        for bad in [
            "Bearer proxy-key-12345",
            "Basic proxy-key-123456",
            "proxy-key-123456",
            "Bearer",
        ] {
            assert!(!is_authorized(&headers(bad), &key), "{bad}");
        }
        assert!(!is_authorized(&HeaderMap::new(), &key));
    }

    #[test]
    fn request_ids() {
        let mut h = HeaderMap::new();
        assert_eq!(client_request_id(&h), None);
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(client_request_id(&h).as_deref(), Some("abc-123"));
        h.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        assert_eq!(client_request_id(&h), None);
        let id = new_request_id();
        assert!(id.starts_with("req_") && id.len() == 36, "{id}");
        let parsed = uuid::Uuid::parse_str(&id[4..]).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
