//! The pool's state as operators see it (`GET /v1/usage`): keys masked and
//! identified by id, never raw.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::{Counters, KeyState};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UsageReport {
    pub providers: BTreeMap<String, ProviderReport>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProviderReport {
    pub keys: Vec<KeyReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyReport {
    pub id: String,
    pub masked: String,
    pub in_flight: u32,
    pub models: BTreeMap<String, ModelReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelReport {
    pub in_flight: u32,
    pub daily: Counters,
    pub lifetime: Counters,
}

// === impl UsageReport ===

impl UsageReport {
    pub fn of<'a>(providers: impl Iterator<Item = (&'a str, &'a [KeyState])>) -> UsageReport {
        UsageReport {
            providers: providers
                .map(|(name, keys)| {
                    let keys = keys.iter().map(KeyReport::of).collect();
                    (name.to_string(), ProviderReport { keys })
                })
                .collect(),
        }
    }
}

impl KeyReport {
    fn of(key: &KeyState) -> KeyReport {
        KeyReport {
            id: key.id.to_string(),
            masked: key.masked.clone(),
            in_flight: key.in_flight,
            models: key
                .models
                .iter()
                .map(|(model, state)| {
                    let report = ModelReport {
                        in_flight: state.in_flight,
                        daily: state.usage.daily,
                        lifetime: state.usage.lifetime,
                    };
                    (model.clone(), report)
                })
                .collect(),
        }
    }
}
