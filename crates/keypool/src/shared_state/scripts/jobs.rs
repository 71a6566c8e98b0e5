//! The scripts and reads the background jobs and admin requests run: usage
//! batches, merges after an outage, manual resets, and the small reads
//! around them.

use redis::aio::ConnectionManager;
use redis::RedisResult;

use super::{LocalHealth, Scripts, UsageEntry, DAILY_USAGE_KEEP_MS, KEEP_MS, WATERMARK_KEEP_MS};
use crate::shared_state::names::ProviderKeys;
use crate::shared_state::Periods;
use crate::store::HourCounts;
use crate::vocab::FailureKind;

impl Scripts {
    /// Adds batch `batch` of `replica`'s usage and hourly history, unless
    /// Redis applied it already (a reply lost, a replay after an outage):
    /// exactly once.
    pub async fn usage(
        &self,
        conn: &mut ConnectionManager,
        names: &ProviderKeys,
        replica: &str,
        batch: u64,
        (entries, hours): (&[UsageEntry], &[(i64, HourCounts)]),
    ) -> RedisResult<()> {
        let mut call = self.usage.prepare_invoke();
        call.key(names.watermark(replica))
            .arg(batch)
            .arg(DAILY_USAGE_KEEP_MS)
            .arg(WATERMARK_KEEP_MS);
        for (kid, model, period, counts) in entries {
            call.key(names.daily_usage(kid, *period, model))
                .key(names.lifetime_usage(kid, model))
                .key(names.models(kid));
            call.arg(model)
                .arg(counts.requests)
                .arg(counts.successes)
                .arg(counts.failures)
                .arg(counts.prompt_tokens)
                .arg(counts.completion_tokens);
        }
        for (hour, counts) in hours {
            call.key(names.history(*hour))
                .arg(counts.requests)
                .arg(counts.failures)
                .arg(counts.rate_limited);
        }
        let _: Vec<i64> = call.invoke_async(conn).await?;
        Ok(())
    }
}

impl Scripts {
    /// Manual recovery of one key: clears the cooldowns and failure
    /// counters of `models` and, with `whole`, its lockout. Answers whether
    /// anything in effect was cleared. The one deliberate way to shorten a
    /// rest.
    pub async fn clear(
        &self,
        conn: &mut ConnectionManager,
        names: &ProviderKeys,
        kid: &str,
        models: &[String],
        whole: bool,
        periods: Periods,
    ) -> RedisResult<bool> {
        let mut call = self.clear.prepare_invoke();
        call.key(names.key(kid));
        for model in models {
            call.key(names.key_model(kid, model));
        }
        call.arg(if whole { "1" } else { "0" })
            .arg(periods.current)
            .arg(periods.next)
            .arg(names.wake())
            .arg(kid);
        let changed: i64 = call.invoke_async(conn).await?;
        Ok(changed == 1)
    }

    /// Merges what a replica learnt while Redis did not answer into the
    /// shared state, with `max()`: nothing shared is shortened or lowered.
    pub async fn merge(
        &self,
        conn: &mut ConnectionManager,
        names: &ProviderKeys,
        kid: &str,
        model: &str,
        health: &LocalHealth,
        periods: Periods,
    ) -> RedisResult<()> {
        let mut call = self.merge.prepare_invoke();
        call.key(names.key(kid))
            .key(names.key_model(kid, model))
            .arg(periods.current)
            .arg(periods.next)
            .arg(health.locked_until)
            .arg(health.lockouts)
            .arg(health.cooldown_until)
            .arg(if health.hinted { "1" } else { "0" })
            .arg(health.failures)
            .arg(health.last_failure.map_or("", FailureKind::as_str))
            .arg(KEEP_MS)
            .arg(names.wake())
            .arg(format!("{kid}|{model}"));
        let _: Vec<i64> = call.invoke_async(conn).await?;
        Ok(())
    }

    /// The provider's epoch: when its state was first written in this life
    /// of Redis (`None` before any lease).
    pub async fn epoch(
        &self,
        conn: &mut ConnectionManager,
        names: &ProviderKeys,
    ) -> RedisResult<Option<String>> {
        redis::cmd("GET").arg(names.epoch()).query_async(conn).await
    }

    /// The models a key has usage for in the shared state.
    pub async fn models(
        &self,
        conn: &mut ConnectionManager,
        names: &ProviderKeys,
        kid: &str,
    ) -> RedisResult<Vec<String>> {
        redis::cmd("ZRANGE")
            .arg(names.models(kid))
            .arg(0)
            .arg(-1)
            .query_async(conn)
            .await
    }
}
