//! Sticky sessions (`routing.sticky_sessions`): a conversation keeps the
//! key it started on while that key could serve, so the provider's prompt
//! cache keeps hitting.
//!
//! This module owns what a conversation is ([`conversation`]) and the pins
//! ([`Pins`]): conversation → key, per `provider/model`, in a bounded LRU
//! held in memory. The key pool decides whether the pinned key could serve
//! (it is the one owner of key state); when it cannot (resting, locked, at
//! its concurrency limit), the usual choice is made and the pin moves to
//! the key that answered.
//!
//! With shared state (Redis) the pins every replica follows are held there,
//! by the pool's acquire script, named by [`Pin::id`]; the LRU here then
//! only serves while Redis is unreachable.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::HttpRequest;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::Shared;

/// Pins kept at most: a pin is a few dozen bytes, so this bounds the map
/// to a few megabytes however many conversations clients start.
pub const MAX_PINS: usize = 100_000;

/// A pin unused this long is forgotten (here as in Redis).
pub use crate::keypool::PIN_IDLE;

/// Headers that name a conversation, besides the body's fields.
const SESSION_HEADER: &str = "x-session-id";

/// Headers that may carry the client's credential.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-goog-api-key"];

/// Conversations pinned to keys, least recently used first out.
#[derive(Debug)]
pub struct Pins(Mutex<Lru>);

#[derive(Debug)]
struct Lru {
    capacity: usize,
    idle: Duration,
    /// Conversation (with its target) → its pin.
    pins: HashMap<u64, Entry>,
    /// Last use → conversation, oldest first.
    order: BTreeMap<u64, u64>,
    /// Source of the `order` stamps.
    tick: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: usize,
    used: Instant,
    tick: u64,
}

/// One conversation's pin on one target, for a rotation.
pub struct Pin<'s> {
    shared: &'s Shared,
    id: u64,
}

// === impl Pins ===

impl Default for Pins {
    fn default() -> Pins {
        Pins::new(MAX_PINS, PIN_IDLE)
    }
}

impl Pins {
    pub fn new(capacity: usize, idle: Duration) -> Pins {
        Pins(Mutex::new(Lru {
            capacity,
            idle,
            pins: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }))
    }

    /// The key `id` is pinned to, unless it idled out.
    pub fn get(&self, id: u64, now: Instant) -> Option<usize> {
        self.0.lock().ok()?.get(id, now)
    }

    /// Pins `id` to `key`.
    pub fn set(&self, id: u64, key: usize, now: Instant) {
        if let Ok(mut lru) = self.0.lock() {
            lru.set(id, key, now);
        }
    }

    /// Pins held now.
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |lru| lru.pins.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// === impl Lru ===

impl Lru {
    fn get(&mut self, id: u64, now: Instant) -> Option<usize> {
        let entry = *self.pins.get(&id)?;
        if now.saturating_duration_since(entry.used) > self.idle {
            self.remove(id);
            return None;
        }
        self.set(id, entry.key, now);
        Some(entry.key)
    }

    fn set(&mut self, id: u64, key: usize, now: Instant) {
        self.tick += 1;
        let entry = Entry {
            key,
            used: now,
            tick: self.tick,
        };
        if let Some(old) = self.pins.insert(id, entry) {
            self.order.remove(&old.tick);
        }
        self.order.insert(self.tick, id);
        // The oldest first: over capacity, or idle past the limit.
        while let Some((&tick, &oldest)) = self.order.first_key_value() {
            let idle = self
                .pins
                .get(&oldest)
                .is_none_or(|e| now.saturating_duration_since(e.used) > self.idle);
            if self.pins.len() <= self.capacity && !idle {
                break;
            }
            self.order.remove(&tick);
            self.pins.remove(&oldest);
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(entry) = self.pins.remove(&id) {
            self.order.remove(&entry.tick);
        }
    }
}

// === impl Pin ===

impl<'s> Pin<'s> {
    /// `conversation`'s pin on `provider`/`model`.
    pub fn new(shared: &'s Shared, conversation: u64, provider: &str, model: &str) -> Pin<'s> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (conversation, provider, model).hash(&mut hasher);
        Pin {
            shared,
            id: hasher.finish(),
        }
    }

    /// The conversation on this target: what names its pin in Redis.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The pinned key, if any.
    pub fn key(&self) -> Option<usize> {
        self.shared.sticky.get(self.id, Instant::now())
    }

    /// Key `index` answered; `pinned` was the pin when the rotation began.
    pub fn answered(&self, pinned: Option<usize>, index: usize) {
        match pinned {
            Some(pinned) if pinned == index => self.shared.metrics.routing.sticky_hit(),
            Some(_) => self.shared.metrics.routing.sticky_move(),
            None => {}
        }
        self.shared.sticky.set(self.id, index, Instant::now());
    }
}

/// The conversation `body` belongs to, hashed with the client's credential
/// (so two clients never share one): its explicit name — the body's
/// `prompt_cache_key`, `user` (Anthropic: `metadata.user_id`) or the
/// `x-session-id` header — else its first system and first user messages
/// (chat `messages`, Anthropic `system`, Responses `instructions` and
/// `input`). `None` when neither is there.
pub fn conversation(req: &HttpRequest, body: &Map<String, Value>) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for name in CREDENTIAL_HEADERS {
        if let Some(value) = req.headers().get(name) {
            value.as_bytes().hash(&mut hasher);
        }
    }
    let header = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok());
    let explicit = [
        body.get("prompt_cache_key").and_then(Value::as_str),
        body.get("user").and_then(Value::as_str),
        body.get("metadata")
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str),
        header,
    ]
    .into_iter()
    .flatten()
    .find(|id| !id.is_empty());
    if let Some(id) = explicit {
        ("named", id).hash(&mut hasher);
        return Some(hasher.finish());
    }
    let (system, user) = opening(body);
    let user = user?;
    ("opening", system.map(Value::to_string), user.to_string()).hash(&mut hasher);
    Some(hasher.finish())
}

/// The first system message and the first user message of a
/// conversation, in whichever API's shape `body` is.
fn opening(body: &Map<String, Value>) -> (Option<&Value>, Option<&Value>) {
    let items = body
        .get("messages")
        .or_else(|| body.get("input"))
        .and_then(Value::as_array);
    let with_role = |roles: &[&str]| {
        items?
            .iter()
            .find(|m| m["role"].as_str().is_some_and(|r| roles.contains(&r)))
            .map(|m| &m["content"])
    };
    let system = body
        .get("system")
        .or_else(|| body.get("instructions"))
        .or_else(|| with_role(&["system", "developer"]));
    let user = with_role(&["user"]).or_else(|| body.get("input").filter(|i| i.is_string()));
    (system, user)
}

#[cfg(test)]
#[path = "sticky_tests.rs"]
mod tests;
