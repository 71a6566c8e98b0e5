//! Operators' hold on single keys at runtime (`/v1/admin/keys`): listing
//! them, masked, and disabling or enabling one. A disabled key is never
//! leased; its leases in flight finish normally. The flag is a key record
//! in the store, so it survives a restart.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::state::KeyState;
use super::KeyPool;

/// Lists every key of every provider (retired ones aside).
#[derive(Debug, Message)]
#[rtype(result = "Vec<KeyEntry>")]
pub struct ListKeys;

/// Disables (`disabled: true`) or enables the keys with id `key_id`.
/// Answers them, or `None` when no key has that id.
#[derive(Debug, Message)]
#[rtype(result = "Option<Vec<KeyEntry>>")]
pub struct SetDisabled {
    pub key_id: String,
    pub disabled: bool,
}

/// One key as operators see it: masked, never raw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyEntry {
    pub id: String,
    pub provider: String,
    pub masked: String,
    pub state: KeyCondition,
    pub disabled: bool,
}

/// Where a key stands as a whole, the most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyCondition {
    /// Disabled by an operator.
    Disabled,
    /// Rejected by the provider (401/403), locked out for a while.
    Locked,
    /// Cooling down for at least one model.
    Cooling,
    Ready,
}

impl KeyEntry {
    fn of(provider: &str, key: &KeyState, now: DateTime<Utc>) -> KeyEntry {
        let cooling = key
            .models
            .values()
            .any(|m| m.cooldown_until.is_some_and(|t| t > now));
        let state = if key.disabled {
            KeyCondition::Disabled
        } else if key.is_locked(now) {
            KeyCondition::Locked
        } else if cooling {
            KeyCondition::Cooling
        } else {
            KeyCondition::Ready
        };
        KeyEntry {
            id: key.id.to_string(),
            provider: provider.to_string(),
            masked: key.masked.clone(),
            state,
            disabled: key.disabled,
        }
    }
}

impl Handler<ListKeys> for KeyPool {
    type Result = MessageResult<ListKeys>;

    fn handle(&mut self, _: ListKeys, _: &mut Self::Context) -> Self::Result {
        let now = self.now();
        let entries = self
            .providers
            .iter()
            .flat_map(|(name, p)| {
                p.keys()
                    .iter()
                    .filter(|k| !k.retired)
                    .map(move |k| KeyEntry::of(name, k, now))
            })
            .collect();
        MessageResult(entries)
    }
}

impl Handler<SetDisabled> for KeyPool {
    type Result = Option<Vec<KeyEntry>>;

    fn handle(&mut self, msg: SetDisabled, ctx: &mut Self::Context) -> Self::Result {
        let now = self.now();
        let mut changed = Vec::new();
        for (name, provider) in &mut self.providers {
            let found = provider
                .keys()
                .iter()
                .any(|k| !k.retired && k.id.as_str() == msg.key_id);
            if !found {
                continue;
            }
            // Through `keys_mut`: the index of standings is rebuilt.
            for key in provider
                .keys_mut()
                .iter_mut()
                .filter(|k| !k.retired && k.id.as_str() == msg.key_id)
            {
                if key.disabled != msg.disabled {
                    key.disabled = msg.disabled;
                    key.dirty = true;
                }
                changed.push(KeyEntry::of(name, key, now));
            }
        }
        if changed.is_empty() {
            return None;
        }
        self.persist_now(None, ctx);
        if !msg.disabled {
            self.serve_all_waiters(ctx);
        }
        Some(changed)
    }
}
