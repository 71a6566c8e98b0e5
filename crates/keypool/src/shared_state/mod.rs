//! Key state shared by several replicas through Redis (or Valkey):
//! cooldowns, lockouts and failure ladders per (key, model), and requests in
//! flight as leases that expire. The `keypool` module decides *what* to ask;
//! this module owns *how*: the connection, the scripts, the names, the
//! operation timeout and the degraded flag.
//!
//! Every operation is bounded by [`OP_TIMEOUT`]. An error or a timeout puts
//! the replica in degraded mode ([`SharedState::is_up`] false): the pool
//! then serves from its local view, as with sled, until a probe answers.
//!
//! Connections: the redis crate drives a connection on the tokio runtime
//! that created it, and each actix thread (HTTP workers, the pool's thread)
//! is a runtime of its own. So each thread has its own connection, made on
//! first use: a request's acquire and report never leave its thread.
//!
//! Files: `names.rs` (key ids and Redis key names), `scripts/` (the Lua
//! scripts and their typed calls), `usage.rs` (reads for reports),
//! `check.rs` (`--check-config` and startup), `stats.rs` (operation
//! counts for `/metrics`).

mod check;
mod disabled;
mod names;
mod responses;
mod scripts;
mod stats;
mod usage;

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;

use crate::resilience::schedule::DailySchedule;
use crate::secret::Secret;
pub use check::{check, CheckReport};
pub use names::{check_namespace, key_id, ProviderKeys};
pub use responses::RedisResponses;
pub use scripts::{
    AcquireReply, Health, Judged, Kid, LimitArgs, LocalHealth, Pin, Refusal, Scripts, UsageEntry,
};
pub use stats::{OpResult, OpStats, OpTotals};
pub use usage::{KeyUsage, ModelUsage, ProviderUsage};

/// Longest one Redis operation may take (a script call, NOSCRIPT reload
/// included) before the replica serves from its local view instead.
pub const OP_TIMEOUT: Duration = Duration::from_millis(100);

/// Shortest lease accepted: a renewal every third of it must be possible.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(3);

/// Where the shared state lives and how leases behave.
#[derive(Clone, Debug)]
pub struct SharedStateConfig {
    /// `redis://`, `rediss://` (TLS) or `redis+unix://`.
    pub url: String,
    /// Prefixes every Redis key, so deployments can share one Redis.
    pub namespace: String,
    /// How long a lease lives without renewal: a dead replica's keys come
    /// back after it.
    pub lease_ttl: Duration,
    /// The settings every replica must share (the daily reset, per-key
    /// limits), as text: a replica whose text differs from the last one
    /// written is warned of at startup. No secrets.
    pub agreed: String,
}

/// The connection to the shared state, its scripts, and whether it
/// answers. One per proxy, shared by its threads.
pub struct SharedState {
    /// Tells this state's per-thread connections from another's (tests run
    /// several proxies in one process).
    id: u64,
    client: redis::Client,
    shown_url: String,
    namespace: String,
    lease_ttl: Duration,
    agreed: String,
    /// Redis key ids already computed.
    kids: std::sync::Mutex<HashMap<Secret, String>>,
    scripts: Scripts,
    up: AtomicBool,
    /// Lease outcomes on their way to Redis and then the pool (see
    /// [`SharedState::settling`]).
    settling: std::sync::atomic::AtomicUsize,
    ops: OpStats,
}

/// The reset periods a script needs, in ms since the epoch: the current
/// one's start, the next one's and the one after (scripts move on by
/// Redis's clock, so replicas need not agree on when the reset ran).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periods {
    pub current: i64,
    pub next: i64,
    pub after: i64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CONNECTIONS: RefCell<HashMap<u64, ConnectionManager>> = RefCell::new(HashMap::new());
}

// === impl Periods ===

impl Periods {
    pub fn of(schedule: &DailySchedule, now: DateTime<Utc>) -> Periods {
        let next = schedule.next_after(now);
        Periods {
            current: schedule.last_at_or_before(now).timestamp_millis(),
            next: next.timestamp_millis(),
            after: schedule.next_after(next).timestamp_millis(),
        }
    }
}

/// The local time of `at` (ms, Redis's clock) given Redis's `redis_now`
/// seen at local `now`: durations are measured on one clock, so skew
/// between replicas does not matter. `None` when `at` is not after
/// `redis_now`.
pub fn local_time(now: DateTime<Utc>, redis_now: i64, at: i64) -> Option<DateTime<Utc>> {
    (at > redis_now).then(|| now + chrono::Duration::milliseconds(at - redis_now))
}

/// `url` with its password (and user) replaced by `***`, for messages.
pub fn masked_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_string(),
    }
}

// === impl SharedState ===

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("url", &self.shown_url)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl SharedState {
    /// Checks the configuration; connects nothing yet.
    pub fn new(config: &SharedStateConfig) -> Result<Arc<SharedState>, String> {
        let shown_url = masked_url(&config.url);
        check_namespace(&config.namespace)?;
        if config.lease_ttl < MIN_LEASE_TTL {
            return Err(format!(
                "state lease_ttl {:?} is too short: use at least {MIN_LEASE_TTL:?}",
                config.lease_ttl
            ));
        }
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            format!(
                "state redis_url {shown_url} is not a Redis URL ({}): use redis://host:6379, \
                 rediss://host:6380 or redis+unix:///path/to/socket",
                e.category()
            )
        })?;
        Ok(Arc::new(SharedState {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            shown_url,
            namespace: config.namespace.clone(),
            lease_ttl: config.lease_ttl,
            agreed: config.agreed.clone(),
            kids: std::sync::Mutex::new(HashMap::new()),
            scripts: Scripts::new(),
            up: AtomicBool::new(true),
            settling: std::sync::atomic::AtomicUsize::new(0),
            ops: OpStats::default(),
        }))
    }

    /// The URL as it may be shown (no password).
    pub fn shown_url(&self) -> &str {
        &self.shown_url
    }

    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    pub fn lease_ttl_ms(&self) -> u64 {
        u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX)
    }

    pub fn scripts(&self) -> &Scripts {
        &self.scripts
    }

    /// A key's id in this deployment's Redis (hashed once per key: plans
    /// name every candidate).
    pub fn key_id(&self, key: &Secret) -> String {
        let mut known = match self.kids.lock() {
            Ok(known) => known,
            Err(poisoned) => poisoned.into_inner(),
        };
        known
            .entry(key.clone())
            .or_insert_with(|| key_id(&self.namespace, key))
            .clone()
    }

    /// The Redis key names of `provider`.
    pub fn names(&self, provider: &str) -> ProviderKeys {
        ProviderKeys::new(&self.namespace, provider)
    }

    /// The prefix of the stored responses' Redis keys: one hash tag for
    /// them all.
    pub fn responses_prefix(&self) -> String {
        format!("{}:{{responses}}", self.namespace)
    }

    /// Lease outcomes still being settled (a script, then the pool's
    /// report): a server stopping waits for them before its workers go,
    /// or their usage would be lost.
    pub fn settling(&self) -> usize {
        self.settling.load(Ordering::Acquire)
    }

    /// Counts a settle until the guard drops.
    pub fn settle_started(self: &Arc<SharedState>) -> SettleGuard {
        self.settling.fetch_add(1, Ordering::AcqRel);
        SettleGuard(self.clone())
    }

    /// Whether Redis answered the last operation: false = degraded, the
    /// replica serves from its local view.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Every operation's count by result, and time spent.
    pub fn op_totals(&self) -> Vec<(&'static str, OpTotals)> {
        self.ops.totals()
    }

    /// Enters degraded mode after a failed operation; says so once.
    pub fn mark_down(&self, op: &str, why: &str) {
        if self.up.swap(false, Ordering::Relaxed) {
            log::warn!(
                "state backend {}: unreachable ({op}: {why}); serving from local state until \
                 it answers",
                self.shown_url
            );
        }
    }

    /// Leaves degraded mode after a probe answered; says so once.
    pub fn mark_up(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            log::info!(
                "state backend {}: answers again; key state is shared",
                self.shown_url
            );
        }
    }

    /// This thread's connection, made on first use.
    async fn connection(&self, timeout: Duration) -> RedisResult<ConnectionManager> {
        let existing = CONNECTIONS.with(|c| c.borrow().get(&self.id).cloned());
        if let Some(conn) = existing {
            return Ok(conn);
        }
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        let conn = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        CONNECTIONS.with(|c| c.borrow_mut().insert(self.id, conn.clone()));
        Ok(conn)
    }

    /// Runs `op` on this thread's connection within [`OP_TIMEOUT`]; `None`
    /// (and degraded mode) when it fails or times out. A connection found
    /// broken (Redis restarted since this thread last used it) is made
    /// again and `op` retried once, within the same bound.
    pub async fn run<T, F, Fut>(&self, name: &str, op: F) -> Option<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let call = async {
            let conn = self.connection(OP_TIMEOUT).await?;
            match op(conn.clone()).await {
                Err(e) if e.is_io_error() || e.is_connection_dropped() => op(conn).await,
                done => done,
            }
        };
        let started = tokio::time::Instant::now();
        let outcome = tokio::time::timeout(OP_TIMEOUT, call).await;
        let result = match &outcome {
            Ok(Ok(_)) => OpResult::Ok,
            Ok(Err(_)) => OpResult::Error,
            Err(_) => OpResult::Timeout,
        };
        self.ops.record(name, result, started.elapsed());
        match outcome {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.mark_down(name, &e.to_string());
                None
            }
            Err(_) => {
                self.mark_down(name, "timed out");
                None
            }
        }
    }

    /// Subscribes to the wake-up channels `channels` on a connection of its
    /// own: what the release and report scripts publish, as `(channel,
    /// message)`. The stream ends when the connection does.
    pub async fn wake_ups(
        &self,
        channels: &[String],
    ) -> RedisResult<impl futures_util::Stream<Item = (String, String)>> {
        use futures_util::StreamExt;
        let connect = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            for channel in channels {
                pubsub.subscribe(channel).await?;
            }
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(Duration::from_secs(2), connect)
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::IoError, "subscribing timed out"))
            })??;
        Ok(pubsub.into_on_message().map(|msg| {
            let payload = msg.get_payload::<String>().unwrap_or_default();
            (msg.get_channel_name().to_string(), payload)
        }))
    }

    /// PING within [`OP_TIMEOUT`]: the degraded replica's probe.
    pub async fn probe(&self) -> bool {
        let call = async {
            let mut conn = self.connection(OP_TIMEOUT).await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        let started = tokio::time::Instant::now();
        let result = match tokio::time::timeout(OP_TIMEOUT, call).await {
            Ok(Ok(_)) => OpResult::Ok,
            Ok(Err(_)) => OpResult::Error,
            Err(_) => OpResult::Timeout,
        };
        self.ops.record("probe", result, started.elapsed());
        result == OpResult::Ok
    }
}

/// One settle in progress (see [`SharedState::settle_started`]).
pub struct SettleGuard(Arc<SharedState>);

impl Drop for SettleGuard {
    fn drop(&mut self) {
        self.0.settling.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            masked_url("redis://:s3cret@cache:6379/0"),
            "redis://***@cache:6379/0"
        );
        assert_eq!(masked_url("rediss://user:pw@h:6380"), "rediss://***@h:6380");
        assert_eq!(masked_url("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(
            masked_url("redis+unix:///run/redis.sock"),
            "redis+unix:///run/redis.sock"
        );
    }

    #[test]
    fn configuration_is_checked() {
        let ok = SharedStateConfig {
            url: "redis://127.0.0.1:6379".into(),
            namespace: "llm-key-proxy".into(),
            lease_ttl: Duration::from_secs(30),
            agreed: String::new(),
        };
        assert!(SharedState::new(&ok).is_ok());
        let short = SharedStateConfig {
            lease_ttl: Duration::from_secs(1),
            ..ok.clone()
        };
        assert!(SharedState::new(&short).is_err());
        let bad = SharedStateConfig {
            url: "http://:pw@x".into(),
            ..ok
        };
        let err = SharedState::new(&bad).err().unwrap();
        assert!(!err.contains("pw"), "{err}");
    }
}
