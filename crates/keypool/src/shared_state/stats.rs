//! Counts of the shared state's operations, by name and result, and their
//! total time: what `/metrics` shows as `llm_proxy_state_ops_total` and
//! `llm_proxy_state_op_duration_seconds`. Lock-free: the request path
//! records two operations per attempt.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The operations counted; anything else counts as `other`.
pub const OPS: [&str; 9] = [
    "acquire", "report", "release", "renew", "usage", "merge", "clear", "probe", "other",
];

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpResult {
    Ok,
    Timeout,
    Error,
}

/// One operation's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OpTotals {
    pub ok: u64,
    pub timeout: u64,
    pub error: u64,
    /// Time spent, all results together.
    pub seconds: f64,
}

/// Per operation: ok, timeout, error, and microseconds spent.
#[derive(Default)]
pub struct OpStats([[AtomicU64; 4]; OPS.len()]);

impl OpResult {
    pub fn as_str(self) -> &'static str {
        match self {
            OpResult::Ok => "ok",
            OpResult::Timeout => "timeout",
            OpResult::Error => "error",
        }
    }
}

impl OpStats {
    pub fn record(&self, op: &str, result: OpResult, took: Duration) {
        let index = OPS.iter().position(|o| *o == op).unwrap_or(OPS.len() - 1);
        let Some(slots) = self.0.get(index) else {
            return;
        };
        let slot = match result {
            OpResult::Ok => 0,
            OpResult::Timeout => 1,
            OpResult::Error => 2,
        };
        slots[slot].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        slots[3].fetch_add(micros, Ordering::Relaxed);
    }

    /// Every operation's totals, in a fixed order (`acquire` first).
    pub fn totals(&self) -> Vec<(&'static str, OpTotals)> {
        OPS.iter()
            .zip(&self.0)
            .map(|(op, slots)| {
                let get = |i: usize| slots[i].load(Ordering::Relaxed);
                let totals = OpTotals {
                    ok: get(0),
                    timeout: get(1),
                    error: get(2),
                    seconds: get(3) as f64 / 1e6,
                };
                (*op, totals)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_counted_by_name_and_result() {
        let stats = OpStats::default();
        stats.record("acquire", OpResult::Ok, Duration::from_millis(2));
        stats.record("acquire", OpResult::Timeout, Duration::from_millis(100));
        stats.record("made-up", OpResult::Error, Duration::ZERO);
        let totals = stats.totals();
        let acquire = totals[0].1;
        assert_eq!((acquire.ok, acquire.timeout, acquire.error), (1, 1, 0));
        assert!((acquire.seconds - 0.102).abs() < 1e-9);
        assert_eq!(
            totals.last().map(|(op, t)| (*op, t.error)),
            Some(("other", 1))
        );
    }
}
