//! What the pool knows about each key: in-flight counts and usage per model.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::resilience::limits::Windows;
use crate::secret::{KeyId, Secret};
use crate::vocab::{FailureKind, Usage};

/// One key of one provider.
#[derive(Debug)]
pub struct KeyState {
    pub secret: Secret,
    pub id: KeyId,
    pub masked: String,
    /// Requests in flight on this key, all models together.
    pub in_flight: u32,
    /// Monotonic sequence number of the last lease; smaller = used longer ago.
    pub last_used: u64,
    /// Rejected by the provider (401/403): unusable for every model until
    /// then.
    pub locked_until: Option<DateTime<Utc>>,
    /// Consecutive rejections; each lockout is longer.
    pub lockouts: u32,
    /// The provider's lease sequence when the last rejection was recorded:
    /// a rejection of a lease taken at or before it ran alongside that one
    /// and does not lengthen the lockout again. Not persisted.
    pub rejected_at_seq: u64,
    /// Lockout state changed since the last write to the store.
    pub dirty: bool,
    /// Removed from the configuration by a reload: never leased again, hidden
    /// from reports, kept in place so positions of leases in flight stay
    /// valid.
    pub retired: bool,
    /// Disabled by an operator: never leased, kept in the store.
    pub disabled: bool,
    pub models: HashMap<String, ModelState>,
}

/// One key's state for one model. It exists while a lease for the model is
/// in flight, and stays (in memory and on disk) only once it is a record:
/// see [`crate::vocab::Outcome::earns_record`].
#[derive(Debug, Default)]
pub struct ModelState {
    pub in_flight: u32,
    /// The provider answered for this model with this key (a success, a
    /// key-level failure, a stream cut short), or the state was loaded
    /// from the store. Only records are kept, reported and saved.
    pub recorded: bool,
    /// The pool's lease sequence number when this model was last leased;
    /// the least recently used records are evicted first.
    pub touched: u64,
    pub usage: Usage,
    /// Resting after failures: not used for this model until then.
    pub cooldown_until: Option<DateTime<Utc>>,
    /// The cooldown's end came from the provider (a hint), so the daily
    /// reset keeps it.
    pub hinted: bool,
    pub consecutive_failures: u32,
    pub last_failure: Option<FailureKind>,
    /// The provider's lease sequence when the last failure was recorded: a
    /// failure of a lease taken at or before it was in flight at the same
    /// time and is not another step of the ladder. Not persisted.
    pub failed_at_seq: u64,
    /// Changed since the last write to the store.
    pub dirty: bool,
    /// Calls and tokens in the current windows of the provider's limits.
    pub windows: Windows,
    /// At a limit for this model until then (see
    /// [`crate::resilience::limits`]).
    pub capped_until: Option<DateTime<Utc>>,
}

// === impl KeyState ===

impl KeyState {
    pub fn new(secret: Secret) -> KeyState {
        KeyState {
            id: secret.id(),
            masked: secret.mask(),
            secret,
            in_flight: 0,
            last_used: 0,
            locked_until: None,
            lockouts: 0,
            rejected_at_seq: 0,
            dirty: false,
            retired: false,
            disabled: false,
            models: HashMap::new(),
        }
    }

    pub fn in_flight_for(&self, model: &str) -> u32 {
        self.models.get(model).map_or(0, |m| m.in_flight)
    }

    pub fn successes_today(&self, model: &str) -> u64 {
        self.models
            .get(model)
            .map_or(0, |m| m.usage.daily.successes)
    }

    /// The state for `model`, made if new. It copies the name to look it
    /// up (std's `entry` takes an owned key): on a request's path, look up
    /// with `models.get_mut` first.
    pub fn model_mut(&mut self, model: &str) -> &mut ModelState {
        self.models.entry(model.to_owned()).or_default()
    }
}
