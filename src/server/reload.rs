//! Hot reload (SIGHUP, `POST /v1/admin/reload`): the configuration is read
//! again from its sources; if it is valid it replaces the old one for new
//! requests, keys join or leave the pool with the state of unchanged keys
//! kept. An invalid configuration is refused and the old one keeps running.

use serde::Serialize;

use super::Shared;
use crate::config::Config;
use crate::keypool::{PoolProvider, ReloadSummary, UpdateProviders};
use crate::reqlog::Redactor;

/// What a reload did.
#[derive(Debug, Serialize)]
pub struct Reloaded {
    #[serde(flatten)]
    pub keys: ReloadSummary,
    pub providers: Vec<String>,
    /// Settings that changed but only take effect after a restart.
    pub restart_needed_for: Vec<&'static str>,
}

/// Reads the configuration again and puts it in force.
pub async fn reload(shared: &Shared) -> Result<Reloaded, String> {
    let source = shared
        .source
        .clone()
        .ok_or("this proxy was started without a configuration source to reload from")?;
    // A key added or removed meanwhile must not be undone by this reload.
    let _changing = shared.config_changes.lock().await;
    let fresh = actix_web::rt::task::spawn_blocking(move || source.load())
        .await
        .map_err(|_| "reading the configuration failed unexpectedly".to_string())?
        .map_err(|e| format!("the new configuration is invalid, the old one stays: {e}"))?;
    put_in_force(shared, fresh).await
}

/// Puts `fresh` in force: for new requests, in the request logs' redactor
/// (new keys are masked, removed ones forgotten) and in the key pool. The
/// caller holds `shared.config_changes`.
pub(super) async fn put_in_force(shared: &Shared, fresh: Config) -> Result<Reloaded, String> {
    let old = shared.config();
    let restart_needed_for = restart_only_changes(&old, &fresh);
    let providers: Vec<PoolProvider> = fresh.providers.iter().map(PoolProvider::from).collect();
    let names = fresh.providers.iter().map(|p| p.name.clone()).collect();
    for warning in &fresh.warnings {
        log::warn!("{warning}");
    }
    if let Some(logger) = &shared.logger {
        // New keys must be redacted from request logs from now on.
        logger.set_redactor(Redactor::new(fresh.secrets()));
    }
    shared.set_config(fresh);
    shared.models.clear();
    let keys = shared
        .pool
        .send(UpdateProviders(providers))
        .await
        .map_err(|_| "the key pool stopped".to_string())?;
    log::info!(
        "configuration reloaded: {} key(s) added, {} kept, {} removed",
        keys.keys_added,
        keys.keys_kept,
        keys.keys_removed
    );
    if !restart_needed_for.is_empty() {
        log::warn!(
            "these changed settings take effect after a restart: {}",
            restart_needed_for.join(", ")
        );
    }
    Ok(Reloaded {
        keys,
        providers: names,
        restart_needed_for,
    })
}

/// Settings fixed at startup (the listener, the database or shared state,
/// the logger, the schedule's timer, the cache).
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&old.settings, &new.settings);
    let mut changed = Vec::new();
    let (sa, sb) = (&a.state, &b.state);
    let checks: [(&'static str, bool); 11] = [
        ("server.host", a.server.host != b.server.host),
        ("server.port", a.server.port != b.server.port),
        ("server.data_dir", a.server.data_dir != b.server.data_dir),
        ("server.workers", a.server.workers != b.server.workers),
        (
            "server.enable_request_logging",
            a.server.enable_request_logging != b.server.enable_request_logging,
        ),
        ("server.log_dir", a.server.log_dir != b.server.log_dir),
        ("server.log_keep", a.server.log_keep != b.server.log_keep),
        (
            "proxy.daily_reset_time/timezone",
            a.proxy.daily_reset_time != b.proxy.daily_reset_time
                || a.proxy.daily_reset_timezone != b.proxy.daily_reset_timezone,
        ),
        (
            "proxy.models_cache_ttl",
            a.proxy.models_cache_ttl != b.proxy.models_cache_ttl,
        ),
        (
            "responses.store_ttl/max_stored_bytes/max_response_bytes",
            a.responses.limits() != b.responses.limits(),
        ),
        (
            "state",
            sa.backend != sb.backend
                || sa.redis_url != sb.redis_url
                || sa.namespace != sb.namespace
                || sa.lease_ttl != sb.lease_ttl,
        ),
    ];
    for (name, differs) in checks {
        if differs {
            changed.push(name);
        }
    }
    changed
}
