//! The pool's state as operators see it (`GET /v1/usage`, `stats`): keys
//! masked and identified by id, never raw; times RFC 3339 UTC, `null` when
//! not set or already past.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::history::HourReport;
use super::messages::ResetCooldowns;
use super::provider::ProviderPool;
use super::state::KeyState;
use super::KeyPool;
use crate::resilience::limits::{Caps, Span, Windows};
use crate::vocab::{Counters, FailureKind};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UsageReport {
    pub providers: BTreeMap<String, ProviderReport>,
    pub daily_reset: ResetTimes,
    /// Per provider, the hours with attempts among the last
    /// [`HISTORY_HOURS`](super::history::HISTORY_HOURS), oldest first.
    #[serde(default)]
    pub history: BTreeMap<String, Vec<HourReport>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ResetTimes {
    pub last: Option<DateTime<Utc>>,
    pub next: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProviderReport {
    pub keys: Vec<KeyReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyReport {
    pub id: String,
    pub masked: String,
    pub locked_until: Option<DateTime<Utc>>,
    /// An operator disabled the key: it is never selected.
    #[serde(default)]
    pub disabled: bool,
    pub in_flight: u32,
    pub models: BTreeMap<String, ModelReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelReport {
    pub cooldown_until: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub in_flight: u32,
    pub last_failure: Option<FailureKind>,
    pub daily: Counters,
    pub lifetime: Counters,
    /// The provider's per-key limits that apply to the model, and how much
    /// of each is used (absent when none applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsReport>,
}

/// How much of each limit one (key, model) used in its current window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<LimitCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpd: Option<LimitCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<LimitCount>,
}

/// One limit: the cap, what its window used, and when the window ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitCount {
    pub limit: u64,
    pub used: u64,
    pub resets_at: DateTime<Utc>,
}

// === impl LimitsReport ===

impl LimitsReport {
    /// `windows` under `caps` at `span`; `None` when no cap is set.
    pub fn of(caps: &Caps, windows: &Windows, span: &Span) -> Option<LimitsReport> {
        if caps.is_none() {
            return None;
        }
        let now = windows.current(span);
        let count = |cap: Option<u64>, used: u64, resets_at| {
            cap.map(|limit| LimitCount {
                limit,
                used,
                resets_at,
            })
        };
        Some(LimitsReport {
            rpm: count(caps.rpm, now.minute_requests, span.next_minute),
            rpd: count(caps.rpd, now.day_requests, span.next_day),
            tpm: count(caps.tpm, now.minute_tokens, span.next_minute),
        })
    }
}

// === impl KeyPool: inspection and manual recovery ===

impl KeyPool {
    /// Every key's state and usage at this moment.
    pub fn report(&self) -> UsageReport {
        let now = self.now();
        UsageReport {
            providers: self
                .providers
                .iter()
                .map(|(name, p)| {
                    let keys = p
                        .keys()
                        .iter()
                        .filter(|k| !k.retired)
                        .map(|k| KeyReport::of(k, p, now))
                        .collect();
                    (name.clone(), ProviderReport { keys })
                })
                .collect(),
            daily_reset: ResetTimes {
                last: self.last_reset,
                next: Some(self.schedule.next_after(now)),
            },
            history: self.history.report(),
        }
    }

    /// Clears the keys `filter` selects; see [`ResetCooldowns`].
    pub(super) fn clear(&mut self, filter: &ResetCooldowns) -> Result<usize, String> {
        if let Some(name) = &filter.provider {
            if !self.providers.contains_key(name) {
                return Err(format!("no provider `{name}` is configured"));
            }
        }
        let mut with_id = 0;
        let mut matched = 0;
        let mut changed = 0;
        for (name, provider) in &mut self.providers {
            if filter.provider.as_ref().is_some_and(|p| p != name) {
                continue;
            }
            for key in provider.keys_mut() {
                if filter
                    .key_id
                    .as_ref()
                    .is_some_and(|id| id != key.id.as_str())
                {
                    continue;
                }
                with_id += 1;
                if filter
                    .model
                    .as_ref()
                    .is_some_and(|m| !key.models.contains_key(m))
                {
                    continue;
                }
                matched += 1;
                if key.clear(filter.model.as_deref()) {
                    changed += 1;
                }
            }
        }
        match (&filter.key_id, &filter.model, with_id, matched) {
            (Some(id), _, 0, _) => Err(format!(
                "no key with id `{id}`: see GET /v1/usage for the ids"
            )),
            (_, Some(model), _, 0) => Err(format!(
                "no key matching the filter has state for model `{model}`: see GET /v1/usage \
                 for the models"
            )),
            _ => Ok(changed),
        }
    }
}

/// Whole seconds, rounded up (a client told "until 12:00:31" must not come
/// back at 12:00:30.6).
fn ceil_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{DurationRound, TimeDelta};
    match t.duration_trunc(TimeDelta::seconds(1)) {
        Ok(whole) if whole < t => whole + TimeDelta::seconds(1),
        Ok(whole) => whole,
        Err(_) => t,
    }
}

impl KeyReport {
    fn of(key: &KeyState, provider: &ProviderPool, now: DateTime<Utc>) -> KeyReport {
        let future = |t: Option<DateTime<Utc>>| t.filter(|t| *t > now).map(ceil_to_second);
        KeyReport {
            id: key.id.to_string(),
            masked: key.masked.clone(),
            locked_until: future(key.locked_until),
            disabled: key.disabled,
            in_flight: key.in_flight,
            models: key
                .models
                .iter()
                .map(|(model, state)| {
                    let report = ModelReport {
                        cooldown_until: future(state.cooldown_until),
                        consecutive_failures: state.consecutive_failures,
                        in_flight: state.in_flight,
                        last_failure: state.last_failure,
                        daily: state.usage.daily,
                        lifetime: state.usage.lifetime,
                        limits: provider.caps(model, now).and_then(|(caps, span)| {
                            LimitsReport::of(&caps, &state.windows, &span)
                        }),
                    };
                    (model.clone(), report)
                })
                .collect(),
        }
    }
}
