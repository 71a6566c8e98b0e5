//! The server-side scripts (`lua/`), embedded, and typed calls of the ones
//! the request path and the pool run. Every decision that reads and then
//! writes is one script: one atomic round trip, on Redis's clock. Each
//! script's header lists its `KEYS`, `ARGV` and reply. The background
//! jobs' scripts are in `jobs.rs`, reply parsing in `replies.rs`.

mod jobs;
mod replies;

use redis::aio::ConnectionManager;
use redis::{RedisResult, Script, Value};

use super::names::ProviderKeys;
use super::Periods;
use crate::resilience::policy;
use crate::vocab::{Counters, FailureKind};
pub(super) use replies::failure_kind;
use replies::{malformed, parse_acquire};

/// How long state is kept after its rest ends: long enough for a replica
/// to read it back after the next daily reset.
const KEEP_MS: u64 = 2 * 24 * 3600 * 1000;

/// How long a day's usage is kept: a week of history, and a day to spare.
const DAILY_USAGE_KEEP_MS: u64 = 8 * 24 * 3600 * 1000;

/// How long a replica's last applied batch number is kept (a replica id is
/// drawn at each start, so old ones only need to outlive a replay).
const WATERMARK_KEEP_MS: u64 = 7 * 24 * 3600 * 1000;

/// The per-key limits an acquire applies (0 = none), the provider's day
/// (start and next start, ms) and the tokens the request expects.
#[derive(Clone, Copy, Debug, Default)]
pub struct LimitArgs {
    pub rpm: u64,
    pub rpd: u64,
    pub tpm: u64,
    pub day: i64,
    pub next_day: i64,
    pub tokens: u64,
}

/// A conversation's pin (sticky sessions), for an acquire: the
/// conversation, and how long its pin outlives the lease (ms).
#[derive(Clone, Copy, Debug)]
pub struct Pin {
    pub conversation: u64,
    pub idle_ms: u64,
}

/// One entry of a usage batch: a key, a model, the reset period the usage
/// was recorded in (ms), and the counts.
pub type UsageEntry = (Kid, String, i64, Counters);

/// The scripts, each wrapped once (its SHA1 computed at startup).
pub struct Scripts {
    acquire: Script,
    report: Script,
    release: Script,
    renew: Script,
    usage: Script,
    merge: Script,
    clear: Script,
    /// Every script with its name, for `--check-config`'s SCRIPT LOAD.
    pub all: Vec<(&'static str, Script)>,
}

/// One candidate key of an acquire: its Redis key id.
pub type Kid = String;

/// Why Redis refused a candidate, and until when (ms, Redis's clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Disabled by an operator (on any replica).
    Disabled,
    /// Locked out (rejected by the provider) for every model.
    Locked { until: i64 },
    /// Cooling down for the model; `cause` is the last failure's kind.
    Cooling {
        until: i64,
        cause: Option<FailureKind>,
    },
    /// At the per-(key, model) limit, counted over every replica.
    Full,
    /// At one of the provider's per-key limits until then.
    Capped { until: i64 },
    /// Could have served (the script stopped looking once it found one).
    Free,
}

/// What `acquire.lua` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcquireReply {
    /// Candidate `position` (0-based) is leased as `lease` until `expires`;
    /// `epoch` tells this life of Redis from the next (it changes when
    /// Redis restarts empty). `pinned`: the candidate the conversation was
    /// pinned to, if it was one.
    Leased {
        position: usize,
        pinned: Option<usize>,
        lease: u64,
        now: i64,
        expires: i64,
        epoch: String,
    },
    /// No candidate can serve now: why, per candidate, at Redis's `now`.
    Refused { now: i64, rests: Vec<Refusal> },
}

/// A key's health after `report.lua`, on Redis's clock (ms; 0 = not
/// resting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    pub now: i64,
    pub cooldown_until: i64,
    pub locked_until: i64,
    pub failures: u32,
    pub lockouts: u32,
}

/// A key's health for a model as one replica knows it (ms since the
/// epoch, 0 = none), for `merge.lua`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalHealth {
    pub locked_until: i64,
    pub lockouts: u32,
    pub cooldown_until: i64,
    pub hinted: bool,
    pub failures: u32,
    pub last_failure: Option<FailureKind>,
}

/// The outcome `report.lua` applies.
#[derive(Clone, Copy, Debug)]
pub enum Judged {
    Success,
    Failure {
        kind: FailureKind,
        hint_ms: Option<u64>,
    },
}

// === impl Scripts ===

impl Scripts {
    pub fn new() -> Scripts {
        let source = [
            ("acquire", include_str!("../lua/acquire.lua")),
            ("report", include_str!("../lua/report.lua")),
            ("release", include_str!("../lua/release.lua")),
            ("renew", include_str!("../lua/renew.lua")),
            ("usage", include_str!("../lua/usage.lua")),
            ("merge", include_str!("../lua/merge.lua")),
            ("clear", include_str!("../lua/clear.lua")),
        ];
        Scripts {
            acquire: Script::new(source[0].1),
            report: Script::new(source[1].1),
            release: Script::new(source[2].1),
            renew: Script::new(source[3].1),
            usage: Script::new(source[4].1),
            merge: Script::new(source[5].1),
            clear: Script::new(source[6].1),
            all: source.iter().map(|(n, s)| (*n, Script::new(s))).collect(),
        }
    }

    /// Leases the best of `kids` (best first) for `model`.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    pub async fn acquire(
        &self,
        conn: &mut ConnectionManager,
        names: &ProviderKeys,
        model: &str,
        kids: &[Kid],
        limit: Option<u32>,
        lease_ttl_ms: u64,
        periods: Periods,
        pin: Option<Pin>,
        limits: LimitArgs,
    ) -> RedisResult<AcquireReply> {
        let mut call = self.acquire.prepare_invoke();
        call.key(names.seq())
            .key(names.epoch())
            .key(names.pin(pin.map(|p| p.conversation)));
        for kid in kids {
            call.key(names.key(kid))
                .key(names.key_model(kid, model))
                .key(names.leases(kid))
                .key(names.model_leases(kid, model))
                .key(names.limits(kid, model));
        }
        call.key(names.disabled());
        call.arg(limit.unwrap_or(0))
            .arg(lease_ttl_ms)
            .arg(periods.current)
            .arg(periods.next)
            .arg(pin.map_or(0, |p| p.idle_ms))
            .arg(limits.rpm)
            .arg(limits.rpd)
            .arg(limits.tpm)
            .arg(limits.day)
            .arg(limits.next_day)
            .arg(limits.tokens);
        let reply: Vec<Value> = call.invoke_async(conn).await?;
        parse_acquire(&reply)
    }

    /// Ends lease `lease` on `kid` with an outcome that judges the key.
    #[allow(clippy::too_many_arguments)]
    pub async fn report(
        &self,
        conn: &mut ConnectionManager,
        names: &ProviderKeys,
        kid: &str,
        model: &str,
        lease: u64,
        judged: Judged,
        periods: Periods,
        tokens: Option<(u64, u64)>,
    ) -> RedisResult<Health> {
        let (outcome, kind, hint) = match judged {
            Judged::Success => ("success", "", String::new()),
            Judged::Failure { kind, hint_ms } => (
                "failure",
                kind.as_str(),
                hint_ms.map(|h| h.to_string()).unwrap_or_default(),
            ),
        };
        let ladder = policy::LADDER
            .iter()
            .map(|d| d.as_millis().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut call = self.report.prepare_invoke();
        call.key(names.seq())
            .key(names.key(kid))
            .key(names.key_model(kid, model))
            .key(names.leases(kid))
            .key(names.model_leases(kid, model));
        call.arg(lease)
            .arg(outcome)
            .arg(kind)
            .arg(hint)
            .arg(periods.current)
            .arg(periods.next)
            .arg(periods.after)
            .arg(ladder)
            .arg(policy::LOCKOUT_BASE.as_millis() as u64)
            .arg(policy::LOCKOUT_MAX.as_millis() as u64)
            .arg(KEEP_MS)
            .arg(names.wake())
            .arg(format!("{kid}|{model}"));
        if let Some((reserved, used)) = tokens {
            call.key(names.limits(kid, model)).arg(reserved).arg(used);
        }
        let reply: Vec<i64> = call.invoke_async(conn).await?;
        match reply.as_slice() {
            [now, cool, locked, failures, lockouts, _released] => Ok(Health {
                now: *now,
                cooldown_until: *cool,
                locked_until: *locked,
                failures: u32::try_from(*failures).unwrap_or(u32::MAX),
                lockouts: u32::try_from(*lockouts).unwrap_or(u32::MAX),
            }),
            _ => Err(malformed("report")),
        }
    }

    /// Ends lease `lease` on `kid` without judging the key.
    pub async fn release(
        &self,
        conn: &mut ConnectionManager,
        names: &ProviderKeys,
        kid: &str,
        model: &str,
        lease: u64,
    ) -> RedisResult<()> {
        let mut call = self.release.prepare_invoke();
        call.key(names.leases(kid))
            .key(names.model_leases(kid, model))
            .arg(lease)
            .arg(names.wake())
            .arg(format!("{kid}|{model}"));
        let _: i64 = call.invoke_async(conn).await?;
        Ok(())
    }

    /// Extends the leases still running (`(kid, model, lease)`): with
    /// `register` false only those Redis still holds, answering the ids it
    /// no longer held; with `register` true (after an outage) also those it
    /// lost, answering those registered anew.
    pub async fn renew(
        &self,
        conn: &mut ConnectionManager,
        names: &ProviderKeys,
        leases: &[(Kid, String, u64)],
        lease_ttl_ms: u64,
        register: bool,
    ) -> RedisResult<Vec<u64>> {
        let mut call = self.renew.prepare_invoke();
        for (kid, model, _) in leases {
            call.key(names.leases(kid))
                .key(names.model_leases(kid, model));
        }
        call.arg(lease_ttl_ms)
            .arg(if register { "nx" } else { "xx" });
        for (_, _, lease) in leases {
            call.arg(*lease);
        }
        call.invoke_async(conn).await
    }
}

impl Default for Scripts {
    fn default() -> Scripts {
        Scripts::new()
    }
}
