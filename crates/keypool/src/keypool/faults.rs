//! What the pool does when the store stops taking writes (a full disk):
//! requests go on, the error is logged at most once per
//! [`LOG_EVERY`] with a count, and the store is opened again every
//! [`REOPEN_EVERY`] until writes work, then everything is saved again.
//!
//! sled refuses every write once one failed, even after space returns, so
//! the failed handle is dropped and a new one opened ([`Store::reopen`]).

use std::time::{Duration, Instant};

use crate::store::{Store, StoreLocation};

/// At most one log line per this long about failing writes.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// How often a failed store is opened again.
pub const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// The store's failures, as the pool tracks them.
#[derive(Default)]
pub(super) struct StoreFaults {
    /// Set while the store is out of use: where to open it again.
    pub lost: Option<StoreLocation>,
    /// The failed handle, dropped off the pool's thread when reopening.
    pub dropped: Option<Store>,
    pub reopening: bool,
    pub next_reopen: Option<Instant>,
    /// Counts the stores opened again: a late error from a sync of an
    /// earlier one must not take the new one out of use.
    pub epoch: u64,
    /// A store was opened again but has not yet shown that it takes
    /// writes: opening works on a full disk too, so recovery is announced
    /// (and the log throttle reset) only after the first sync succeeds.
    pub confirming: bool,
    pub log: ErrorLog,
}

/// Throttles one recurring error to a line per [`LOG_EVERY`].
#[derive(Debug, Default)]
pub(super) struct ErrorLog {
    last_logged: Option<Instant>,
    /// Failures since the last line.
    unreported: u64,
}

// === impl ErrorLog ===

impl ErrorLog {
    /// Counts a failure; returns the line to log now, if one is due.
    pub fn record(&mut self, error: &str, now: Instant) -> Option<String> {
        self.unreported += 1;
        let due = self
            .last_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= LOG_EVERY);
        if !due {
            return None;
        }
        let line = match self.last_logged {
            None => format!(
                "cannot write the state database: {error}. Requests are still served; state \
                 is kept in memory and saved once the disk takes writes again"
            ),
            Some(at) => format!(
                "cannot write the state database: {error} ({} failures in the last {} s)",
                self.unreported,
                now.saturating_duration_since(at).as_secs()
            ),
        };
        self.last_logged = Some(now);
        self.unreported = 0;
        Some(line)
    }

    /// Failures not yet logged; the count starts again.
    pub fn recovered(&mut self) -> u64 {
        self.last_logged = None;
        std::mem::take(&mut self.unreported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypool::{
        acquire, AcquireKey, GetUsage, KeyPool, PoolOptions, PoolProvider, Shutdown,
    };
    use crate::secret::Secret;
    use crate::vocab::{Failure, FailureKind, Outcome};
    use actix::Actor;

    #[actix_rt::test]
    async fn a_full_disk_keeps_serving_and_everything_is_saved_once_writable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let location = store.location();
        let provider = PoolProvider {
            name: "p".into(),
            keys: vec![Secret::new("sk-faults-test-key-0001")],
            max_concurrent_per_key: None,
            ..Default::default()
        };
        let pool = KeyPool::new([provider], Some(store), PoolOptions::default()).start();
        let rest = |model: &str| {
            let wanted = AcquireKey {
                provider: "p".into(),
                model: model.into(),
                exclude: vec![],
                wait_budget: Duration::ZERO,
                prefer: None,
                pin: None,
                tokens: 0,
            };
            let pool = pool.clone();
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                let lease = acquire(&pool, wanted, deadline).await.unwrap();
                let hint = Some(Duration::from_secs(900));
                let kind = FailureKind::RateLimited;
                lease
                    .finish_durably(Outcome::Failed(Failure { kind, hint }))
                    .await;
            }
        };

        location.inject_disk_full(true);
        for model in ["a", "b", "c"] {
            rest(model).await; // leases are still handed out
        }
        let report = pool.send(GetUsage).await.unwrap();
        let models = &report.providers["p"].keys[0].models;
        assert!(models["c"].cooldown_until.is_some(), "kept in memory");

        location.inject_disk_full(false);
        tokio::time::sleep(REOPEN_EVERY + Duration::from_millis(600)).await;
        rest("d").await;
        pool.send(Shutdown).await.unwrap();

        let store = Store::open(dir.path()).unwrap();
        let mut saved: Vec<String> = store
            .load_models()
            .into_iter()
            .filter(|(_, record)| record.cooldown_until.is_some())
            .map(|(id, _)| id.model)
            .collect();
        saved.sort();
        assert_eq!(saved, vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn one_line_per_ten_seconds_with_a_count() {
        let mut log = ErrorLog::default();
        let start = Instant::now();
        let disk_full = "No space left on device (os error 28)";
        let first = log.record(disk_full, start).unwrap();
        assert!(
            first.contains(disk_full) && first.contains("still served"),
            "{first}"
        );
        let lines: Vec<String> = (1..=235)
            .filter_map(|i| log.record(disk_full, start + Duration::from_millis(40 * i)))
            .collect();
        assert_eq!(lines.len(), 0, "{lines:?}");
        let next = log
            .record(disk_full, start + Duration::from_secs(10))
            .unwrap();
        assert!(next.contains("236 failures in the last 10 s"), "{next}");
        assert_eq!(log.recovered(), 0);
        assert!(log
            .record(disk_full, start + Duration::from_secs(11))
            .is_some());
    }
}
