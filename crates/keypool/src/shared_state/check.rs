//! `--check-config` and startup for the Redis backend: does Redis answer,
//! take the scripts, keep what must not be evicted, and do the replicas
//! agree on the settings they must share?

use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::SharedState;

/// A first connection (a TLS handshake) may take longer than a request's
/// operation timeout.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Oldest Redis whose scripts may write after reading `TIME`.
const MIN_MAJOR_VERSION: u32 = 5;

/// What the check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub version: String,
    /// The namespace already holds state (another replica wrote it).
    pub has_state: bool,
    /// Problems that do not stop a start (an eviction policy that may drop
    /// state without a TTL).
    pub warnings: Vec<String>,
}

/// Connects, PINGs, loads every script and reads the server's version.
/// Errors say what failed (callers name the URL, [`SharedState::shown_url`]).
pub async fn check(state: &SharedState) -> Result<CheckReport, String> {
    let work = async {
        let mut conn = state.connection(CHECK_TIMEOUT).await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        for (_, script) in &state.scripts().all {
            script.prepare_invoke().load_async(&mut conn).await?;
        }
        let server: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await?;
        let memory: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut conn)
            .await?;
        let has_state = holds_state(&mut conn, &state.namespace).await?;
        Ok::<_, redis::RedisError>((server, memory, has_state))
    };
    let (server, memory, has_state) = match tokio::time::timeout(CHECK_TIMEOUT, work).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    let version = info_field(&server, "redis_version").unwrap_or_default();
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    if major < MIN_MAJOR_VERSION {
        return Err(format!(
            "Redis {version} is too old: use Redis {MIN_MAJOR_VERSION} or newer"
        ));
    }
    let mut warnings = Vec::new();
    let policy = info_field(&memory, "maxmemory_policy").unwrap_or_default();
    if policy.starts_with("allkeys-") {
        warnings.push(format!(
            "maxmemory-policy {policy} may evict lease counters and \
             lifetime usage: use noeviction or a volatile-* policy"
        ));
    }
    Ok(CheckReport {
        version,
        has_state,
        warnings,
    })
}

/// One `field:value` line of an `INFO` answer.
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .find(|(name, _)| *name == field)
        .map(|(_, value)| value.to_string())
}

/// Whether any key of `namespace` exists (a bounded SCAN).
async fn holds_state(conn: &mut ConnectionManager, namespace: &str) -> redis::RedisResult<bool> {
    let pattern = format!("{namespace}:*");
    let mut cursor: u64 = 0;
    for _ in 0..100 {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !found.is_empty() {
            return Ok(true);
        }
        if next == 0 {
            return Ok(false);
        }
        cursor = next;
    }
    Ok(false)
}

// === impl SharedState: startup ===

impl SharedState {
    /// Checks Redis at startup: says in one line what was found, or that
    /// the replica starts degraded.
    pub async fn start(&self) {
        match check(self).await {
            Ok(report) => {
                for warning in &report.warnings {
                    log::warn!("state backend {}: {warning}", self.shown_url);
                }
                log::info!(
                    "state backend {}: Redis {}, namespace {}{}",
                    self.shown_url,
                    report.version,
                    self.namespace,
                    if report.has_state {
                        " (holds state)"
                    } else {
                        ""
                    }
                );
                self.compare_settings().await;
            }
            Err(why) => {
                self.up.store(false, Ordering::Relaxed);
                log::warn!(
                    "state backend {}: unreachable ({why}); serving from local state until it \
                     answers",
                    self.shown_url
                );
            }
        }
    }

    /// Writes the settings replicas must share to `<namespace>:config`,
    /// warning once if the replica that wrote it last had others.
    async fn compare_settings(&self) {
        let key = format!("{}:config", self.namespace);
        let agreed = self.agreed.as_str();
        let key = key.as_str();
        let previous = self
            .run("other", |mut conn| async move {
                // GETSET, not SET … GET: Redis 5 has no SET … GET.
                redis::cmd("GETSET")
                    .arg(key)
                    .arg(agreed)
                    .query_async::<Option<String>>(&mut conn)
                    .await
            })
            .await
            .flatten();
        if let Some(previous) = previous.filter(|p| p != agreed) {
            log::warn!(
                "state backend {}: another replica of namespace {} runs with different \
                 settings ({previous}; this one: {agreed}): replicas must share \
                 DAILY_RESET_TIME, DAILY_RESET_TIMEZONE and the per-key limits",
                self.shown_url,
                self.namespace
            );
        }
    }
}
