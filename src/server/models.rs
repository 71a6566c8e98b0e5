//! `GET /v1/models`: every configured provider's model list, fetched with a
//! pool key and cached for `proxy.models_cache_ttl`, plus `<P>_MODELS`, and
//! the routes (`owned_by: "route"`).
//! A provider whose list cannot be fetched is skipped with a warning (and
//! asked again next time). `GET /v1/models/{id}` answers from the same
//! lists.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use serde::Serialize;

use super::peek_call::{peek_call, PeekCall, PeekCallError};
use super::Shared;
use crate::config::ProviderConfig;
use crate::error::ApiError;
use crate::worker::UpstreamWorker;

/// Model lists fetched from providers, with when they were fetched.
#[derive(Debug)]
pub struct ModelsCache {
    ttl: Duration,
    lists: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

#[derive(Debug, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelEntry>,
}

#[derive(Debug, Serialize)]
pub struct ModelEntry {
    pub id: String,
    pub object: &'static str,
    pub owned_by: String,
}

// === impl ModelsCache ===

impl ModelsCache {
    pub fn new(ttl: Duration) -> ModelsCache {
        ModelsCache {
            ttl,
            lists: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets every cached list (after a reload).
    pub fn clear(&self) {
        if let Ok(mut lists) = self.lists.lock() {
            lists.clear();
        }
    }

    fn fresh(&self, provider: &str) -> Option<Vec<String>> {
        let lists = self.lists.lock().ok()?;
        let (at, ids) = lists.get(provider)?;
        (at.elapsed() < self.ttl).then(|| ids.clone())
    }

    fn store(&self, provider: &str, ids: Vec<String>) {
        if let Ok(mut lists) = self.lists.lock() {
            lists.insert(provider.to_string(), (Instant::now(), ids));
        }
    }
}

/// Every model of every configured provider, ids prefixed `provider/`.
pub async fn list_models(shared: &Shared, worker: &UpstreamWorker) -> ModelList {
    let config = shared.config();
    let lists = futures_util::future::join_all(
        config
            .providers
            .iter()
            .map(|p| provider_entries(shared, worker, p)),
    )
    .await;
    ModelList {
        object: "list",
        data: lists
            .into_iter()
            .flatten()
            .chain(config.routes.names().map(route_entry))
            .collect(),
    }
}

/// A route, listed among the models clients may ask for.
fn route_entry(name: &str) -> ModelEntry {
    ModelEntry {
        id: name.to_string(),
        object: "model",
        owned_by: "route".to_string(),
    }
}

/// `GET /v1/models/{id}`: the entry `GET /v1/models` lists for `id`
/// (`provider/model`), from that provider's list alone (cached like the
/// full list); 404 `model_not_found` for anything else.
pub async fn retrieve_model(
    shared: &Shared,
    worker: &UpstreamWorker,
    id: &str,
) -> Result<ModelEntry, ApiError> {
    let config = shared.config();
    if let Some((name, _)) = config.routes.get(id) {
        return Ok(route_entry(name));
    }
    let Some((name, model)) = id.split_once('/') else {
        return Err(ApiError::ModelNotFound(format!(
            "model \"{id}\" not found: ids name the provider and the model, e.g. \
             \"openai/gpt-4o-mini\"; GET /v1/models lists them"
        )));
    };
    let Some(provider) = config.provider(&name.to_ascii_lowercase()) else {
        let configured: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        let configured = if configured.is_empty() {
            "none".to_string()
        } else {
            configured.join(", ")
        };
        return Err(ApiError::ModelNotFound(format!(
            "model \"{id}\" not found: no provider `{name}` is configured (configured: \
             {configured})"
        )));
    };
    let wanted = format!(
        "{}/{}",
        provider.name,
        provider.format.wire().normalize_model(model)
    );
    provider_entries(shared, worker, provider)
        .await
        .into_iter()
        .find(|entry| entry.id == wanted)
        .ok_or_else(|| {
            ApiError::ModelNotFound(format!(
                "model \"{id}\" not found: `{}` does not list it (or IGNORE_MODELS_{} hides \
                 it); GET /v1/models lists the models served",
                provider.name,
                provider.name.to_ascii_uppercase()
            ))
        })
}

/// One provider's listed models (fetched or cached, plus `<P>_MODELS`),
/// filtered and without duplicates.
async fn provider_entries(
    shared: &Shared,
    worker: &UpstreamWorker,
    provider: &ProviderConfig,
) -> Vec<ModelEntry> {
    let ids = provider_models(shared, worker, provider).await;
    let mut seen = std::collections::HashSet::new();
    ids.into_iter()
        .chain(provider.static_models.iter().cloned())
        .filter(|id| provider.models.allows(id) && seen.insert(id.clone()))
        .map(|id| ModelEntry {
            id: format!("{}/{id}", provider.name),
            object: "model",
            owned_by: provider.name.clone(),
        })
        .collect()
}

async fn provider_models(
    shared: &Shared,
    worker: &UpstreamWorker,
    provider: &ProviderConfig,
) -> Vec<String> {
    if let Some(ids) = shared.models.fresh(&provider.name) {
        return ids;
    }
    match fetch(shared, worker, provider).await {
        Ok(ids) => {
            shared.models.store(&provider.name, ids.clone());
            ids
        }
        Err(why) => {
            log::warn!(
                "cannot list the models of `{}`: {why}; skipping it",
                provider.name
            );
            Vec::new()
        }
    }
}

async fn fetch(
    shared: &Shared,
    worker: &UpstreamWorker,
    provider: &ProviderConfig,
) -> Result<Vec<String>, String> {
    let wire = provider.format.wire();
    let request = PeekCall {
        method: Method::GET,
        path: wire.models_path().to_string(),
        body: None,
        limit: shared.config().settings.proxy.max_upstream_response_size,
    };
    let body = peek_call(shared, worker, provider, request)
        .await
        .map_err(|e| match e {
            PeekCallError::NoKey => "no key".to_string(),
            PeekCallError::Failed(why) => why,
        })?;
    wire.model_ids(&body)
        .ok_or_else(|| "the answer has no `data` list of models".to_string())
}
