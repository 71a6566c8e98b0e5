//! What the store keeps per key and per (key, model).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::resilience::limits::Windows;
use crate::vocab::{FailureKind, Usage};

/// One key's state for one model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelRecord {
    pub usage: Usage,
    pub cooldown_until: Option<DateTime<Utc>>,
    /// The cooldown came from a provider hint (kept by the daily reset).
    pub hinted: bool,
    pub consecutive_failures: u32,
    /// The class of the last failure, shown until the daily reset.
    pub last_failure: Option<FailureKind>,
    /// Counts of the provider's per-key limits. Written only when some
    /// limit applies, so other records keep the layout older releases read.
    #[serde(skip_serializing_if = "is_default")]
    pub windows: Windows,
}

fn is_default(windows: &Windows) -> bool {
    *windows == Windows::default()
}

/// One key's lockout, and whether an operator disabled it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyRecord {
    pub locked_until: Option<DateTime<Utc>>,
    pub lockouts: u32,
    /// Written only when set, so records of enabled keys keep the layout
    /// older releases read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}
