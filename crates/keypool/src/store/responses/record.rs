//! What a stored response is, its bounds, its id rule, the errors the
//! store gives, and the layout of the age index.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Prefix of the proxy's response ids.
pub const ID_PREFIX: &str = "resp_";

/// Longest accepted id: the proxy's own are `resp_` and 32 hex digits; a
/// client-supplied id is a database key, so a longer one is refused rather
/// than looked up.
pub const MAX_ID_LEN: usize = 96;

/// Longest `previous_response_id` chain [`super::ResponseStore::chain`]
/// follows.
pub const MAX_CHAIN: usize = 1_000;

/// How long and how much is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseLimits {
    /// A record older than this is gone.
    pub ttl: Duration,
    /// A record (response and input, as stored) larger than this is not
    /// stored.
    pub max_response_bytes: u64,
    /// All records together; the oldest are evicted past it.
    pub max_total_bytes: u64,
}

impl Default for ResponseLimits {
    /// 30 days, 4 MiB per response, 256 MiB in all.
    fn default() -> ResponseLimits {
        ResponseLimits {
            ttl: Duration::from_secs(30 * 24 * 3600),
            max_response_bytes: 4 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024,
        }
    }
}

/// One stored response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredResponse {
    /// The response's `created_at` (Unix seconds).
    pub created_at: i64,
    /// The response this one continued: its input and output come before
    /// this one's input (see [`super::ResponseStore::chain`]).
    pub previous_response_id: Option<String>,
    /// The `response` object as sent to the client.
    pub response: Value,
    /// This request's own input items (not the earlier ones of its chain).
    pub input: Vec<Value>,
}

/// A record as written: the response plus when it was stored (the TTL runs
/// from there).
#[derive(Serialize, Deserialize)]
pub(super) struct Entry<R> {
    pub stored_at_ms: i64,
    #[serde(flatten)]
    pub record: R,
}

/// The part of a record `input_items` needs.
#[derive(Deserialize)]
pub(super) struct InputOnly {
    pub stored_at_ms: i64,
    #[serde(default)]
    pub input: Vec<Value>,
}

/// Why a response was not stored (one line for the route's log).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PutError {
    #[error(
        "invalid response id: expected `resp_` and up to {MAX_ID_LEN} letters, digits, `_` or `-`"
    )]
    InvalidId,
    #[error(
        "the response takes {bytes} bytes, more than the {max} bytes a stored response may take"
    )]
    TooLarge { bytes: u64, max: u64 },
    #[error("cannot store the response: {0}")]
    Storage(String),
}

/// Why a `previous_response_id` chain cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    /// The response asked for is unknown, deleted or expired.
    #[error("response `{0}` not found")]
    NotFound(String),
    /// An earlier response of the chain is gone (deleted, expired or
    /// evicted), so the conversation cannot be rebuilt.
    #[error("response `{missing}`, earlier in the conversation, is no longer stored")]
    Broken { missing: String },
    #[error("the conversation is longer than {MAX_CHAIN} responses")]
    TooLong,
    #[error("cannot read stored responses: {0}")]
    Storage(String),
}

/// `resp_` followed by 1 to [`MAX_ID_LEN`] − 5 ASCII letters, digits, `_`
/// or `-`.
pub fn is_valid_id(id: &str) -> bool {
    id.len() <= MAX_ID_LEN
        && id.strip_prefix(ID_PREFIX).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// Whether a record stored at `stored_at_ms` is past the TTL at `now`.
pub(super) fn expired(limits: &ResponseLimits, stored_at_ms: i64, now: DateTime<Utc>) -> bool {
    let ttl_ms = i64::try_from(limits.ttl.as_millis()).unwrap_or(i64::MAX);
    now.timestamp_millis() >= stored_at_ms.saturating_add(ttl_ms)
}

/// `<stored at, ms, 8 bytes big-endian><id>`: oldest first.
pub(super) fn age_key(stored_at_ms: i64, id: &str) -> Vec<u8> {
    // Times before 1970 sort first too; none are expected.
    let mut key = u64::try_from(stored_at_ms)
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

/// The big-endian number at the start of an index key or value.
pub(super) fn decode_u64(bytes: &[u8]) -> u64 {
    bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

/// The time an index key starts with.
pub(super) fn decode_i64(key: &[u8]) -> i64 {
    i64::try_from(decode_u64(key)).unwrap_or(i64::MAX)
}
