//! `llm-key-proxy stats`: usage and key state, asked of the running proxy
//! (`GET /v1/usage`) or, when none answers, read from the data directory
//! (or, with the Redis state backend, from Redis).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use awc::http::StatusCode;
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::error::InitError;
use crate::keypool::report::{LimitsReport, UsageReport};
use crate::keypool::{usage_report, KeyPool, PoolOptions, PoolProvider};
use crate::resilience::clock::{until, SystemClock};
use crate::shared_state::{self, SharedState, SharedStateConfig};
use crate::store::Store;

/// How long to wait for a running proxy before reading the data directory.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a report came from.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Daemon(String),
    DataDir(String),
    /// The shared state (its URL, password masked).
    Redis(String),
}

/// Why the running proxy did not give a report.
#[derive(Debug)]
enum NoAnswer {
    /// Nothing (usable) answered: connection refused, timeout, garbage.
    Unreachable(String),
    /// A proxy answered 401 or 403: it needs another key.
    Refused(u16),
}

/// The report, from the running proxy if one answers, else from disk.
pub fn fetch(config: &Config) -> Result<(UsageReport, Source), InitError> {
    let url = usage_url(config);
    let why = match ask_daemon(config, &url) {
        Ok(report) => return Ok((report, Source::Daemon(url))),
        Err(why) => why,
    };
    log::debug!("no report from {url}: {why:?}");
    if let Some(settings) = config.shared_state()? {
        return from_redis(config, &settings, why);
    }
    let data_dir = &config.settings.server.data_dir;
    let store = Store::open(data_dir).map_err(|e| match (InitError::from(e), why) {
        // A proxy holds the data: say how to reach it, not how to fix the
        // directory.
        (InitError::DataDirInUse { .. }, why) => match why {
            NoAnswer::Refused(status) => InitError::StatsUnauthorized { url, status },
            NoAnswer::Unreachable(why) => InitError::ProxyElsewhere {
                path: data_dir.clone(),
                url,
                why,
            },
        },
        (other, _) => other,
    })?;
    let providers = config.providers.iter().map(PoolProvider::from);
    let options = PoolOptions {
        clock: Arc::new(SystemClock),
        schedule: config.daily_schedule()?,
    };
    let report = KeyPool::saved(providers, store, options).report();
    Ok((report, Source::DataDir(data_dir.display().to_string())))
}

/// The report from the shared state, as any replica would give it.
fn from_redis(
    config: &Config,
    settings: &SharedStateConfig,
    why: NoAnswer,
) -> Result<(UsageReport, Source), InitError> {
    if let NoAnswer::Refused(status) = why {
        return Err(InitError::StatsUnauthorized {
            url: usage_url(config),
            status,
        });
    }
    let state = SharedState::new(settings).map_err(InitError::Config)?;
    let shown = state.shown_url().to_string();
    let providers: Vec<PoolProvider> = config.providers.iter().map(PoolProvider::from).collect();
    let options = PoolOptions {
        clock: Arc::new(SystemClock),
        schedule: config.daily_schedule()?,
    };
    actix_rt::System::new().block_on(async move {
        shared_state::check(&state)
            .await
            .map_err(|e| InitError::Config(format!("state backend {shown}: {e}")))?;
        let pool = KeyPool::new(providers, None, options)
            .with_shared_state(state)
            .start();
        let report = usage_report(&pool)
            .await
            .map_err(|_| InitError::Config("the key pool stopped".to_string()))?;
        Ok((report, Source::Redis(shown)))
    })
}

fn usage_url(config: &Config) -> String {
    let server = &config.settings.server;
    let host = match server.host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() && ip.is_ipv4() => {
            IpAddr::V4(Ipv4Addr::LOCALHOST).to_string()
        }
        Ok(ip) if ip.is_unspecified() => format!("[{}]", Ipv6Addr::LOCALHOST),
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => server.host.clone(),
    };
    format!("http://{host}:{}/v1/usage", server.port)
}

fn ask_daemon(config: &Config, url: &str) -> Result<UsageReport, NoAnswer> {
    let key = config.proxy_api_key.clone();
    let url = url.to_string();
    actix_rt::System::new().block_on(async move {
        let client = awc::Client::builder().timeout(DAEMON_TIMEOUT).finish();
        let mut request = client.get(&url);
        if let Some(key) = &key {
            request = request.bearer_auth(key.expose());
        }
        let unreachable = |e: &dyn std::fmt::Display| NoAnswer::Unreachable(e.to_string());
        let mut response = request.send().await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(NoAnswer::Refused(status.as_u16()));
        }
        if !status.is_success() {
            return Err(unreachable(&format!("HTTP {status}")));
        }
        response
            .json::<UsageReport>()
            .limit(64 << 20)
            .await
            .map_err(|e| unreachable(&e))
    })
}

/// A table: one row per key and model.
pub fn render(report: &UsageReport, source: &Source, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = match source {
        Source::Daemon(url) => writeln!(out, "from the running proxy ({url})"),
        Source::DataDir(dir) => writeln!(out, "from {dir} (no proxy is running)"),
        Source::Redis(url) => writeln!(out, "from the shared state at {url} (no proxy answered)"),
    };
    let _ = writeln!(
        out,
        "{:<12} {:<12} {:<28} {:<14} {:>18} {:>20} {:>14}  LIMITS used/limit",
        "PROVIDER",
        "KEY",
        "MODEL",
        "RESTING",
        "TODAY ok/fail/req",
        "TODAY tokens in/out",
        "TOTAL ok/req"
    );
    for (provider, p) in &report.providers {
        for key in &p.keys {
            let locked = rest(key.locked_until, now).map(|r| format!("locked {r}"));
            if key.models.is_empty() {
                let resting = locked.clone().unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "{provider:<12} {:<12} {:<28} {resting:<14}",
                    key.masked, "-"
                );
            }
            for (model, m) in &key.models {
                let resting = locked
                    .clone()
                    .or_else(|| rest(m.cooldown_until, now))
                    .unwrap_or_else(|| "-".into());
                let d = &m.daily;
                let l = &m.lifetime;
                let _ = writeln!(
                    out,
                    "{provider:<12} {:<12} {model:<28} {resting:<14} {:>18} {:>20} {:>14}  {}",
                    key.masked,
                    format!("{}/{}/{}", d.successes, d.failures, d.requests),
                    format!("{}/{}", d.prompt_tokens, d.completion_tokens),
                    format!("{}/{}", l.successes, l.requests),
                    limits(m.limits.as_ref()),
                );
            }
        }
    }
    if let Some(next) = report.daily_reset.next {
        let _ = writeln!(
            out,
            "next daily reset: {} (in {})",
            next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            human(until(now, next))
        );
    }
    out
}

/// `rpm 3/15 rpd 40/1500`; `-` when no limit applies.
fn limits(report: Option<&LimitsReport>) -> String {
    let Some(l) = report else {
        return "-".to_string();
    };
    [("rpm", l.rpm), ("rpd", l.rpd), ("tpm", l.tpm)]
        .into_iter()
        .filter_map(|(name, c)| c.map(|c| format!("{name} {}/{}", c.used, c.limit)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn rest(until_time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<String> {
    until_time
        .filter(|t| *t > now)
        .map(|t| human(until(now, t)))
}

/// `1h02m`, `4m12s`, `9s`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_masks_cooldowns_and_counters() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc();
        let report: UsageReport = serde_json::from_value(serde_json::json!({
            "providers": {"groq": {"keys": [
                {"id": "3f2a9c1b7d4e", "masked": "gsk…abcd", "locked_until": null, "in_flight": 0,
                 "models": {"llama": {"cooldown_until": "2026-11-24T12:04:12Z", "consecutive_failures": 2,
                    "in_flight": 0, "last_failure": "rate_limited",
                    "daily": {"requests": 10, "successes": 9, "failures": 1, "prompt_tokens": 900, "completion_tokens": 450},
                    "lifetime": {"requests": 30, "successes": 28, "failures": 2, "prompt_tokens": 2700, "completion_tokens": 1350},
                    "limits": {"rpm": {"limit": 30, "used": 3, "resets_at": "2026-11-24T12:01:00Z"},
                               "rpd": {"limit": 1000, "used": 10, "resets_at": "2026-11-25T03:00:00Z"}}}}},
                {"id": "0000aaaa1111", "masked": "gsk…wxyz", "locked_until": "2026-11-24T13:02:00Z", "in_flight": 0, "models": {}}
            ]}},
            "daily_reset": {"last": "2026-11-24T03:00:00Z", "next": "2026-11-25T03:00:00Z"}
        }))
        .unwrap();
        let table = render(&report, &Source::DataDir("data".into()), now);
        assert!(table.contains("from data (no proxy is running)"), "{table}");
        let row = table.lines().find(|l| l.contains("llama")).unwrap();
        for cell in [
            "groq",
            "gsk…abcd",
            "4m12s",
            "9/1/10",
            "900/450",
            "28/30",
            "rpm 3/30 rpd 10/1000",
        ] {
            assert!(row.contains(cell), "{cell} missing in {row}");
        }
        assert!(table.contains("locked 1h02m"), "{table}");
        assert!(table.contains("in 15h00m"), "{table}");
    }

    #[test]
    fn unspecified_hosts_are_asked_on_loopback() {
        assert_eq!(human(Duration::from_secs(59)), "59s");
        assert_eq!(human(Duration::from_secs(3600)), "1h00m");
    }
}
