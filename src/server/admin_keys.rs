//! `/v1/admin/keys`: the pool's keys, masked, and disabling or enabling
//! one at runtime (in the shared state too, with Redis). Every change is
//! logged at info with the masked key; no answer ever holds a raw key.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::Shared;
use crate::config::Config;
use crate::error::ApiError;
use crate::keypool::{ListKeys, SetDisabled};
use crate::secret::Secret;

/// Every key of every provider: id, provider, masked key, state and
/// whether it is disabled.
pub async fn list(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let keys = shared.pool.send(ListKeys).await.map_err(pool_gone)?;
    Ok(HttpResponse::Ok().json(json!({ "object": "list", "data": keys })))
}

pub async fn disable(
    shared: web::Data<Shared>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&shared, id.into_inner(), true).await
}

pub async fn enable(
    shared: web::Data<Shared>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&shared, id.into_inner(), false).await
}

/// Disables or enables the keys with id `key_id` (the same key may serve
/// several providers): answers them, as `GET` lists them; a 404 when none
/// has it.
async fn set_disabled(
    shared: &Shared,
    key_id: String,
    disabled: bool,
) -> Result<HttpResponse, ApiError> {
    share_disabled(shared, &key_id, disabled).await?;
    let changed = shared
        .pool
        .send(SetDisabled {
            key_id: key_id.clone(),
            disabled,
        })
        .await
        .map_err(pool_gone)?
        .ok_or_else(|| unknown_key(&key_id))?;
    let action = if disabled { "disabled" } else { "enabled" };
    for key in &changed {
        log::info!("key {} of provider {} {action}", key.masked, key.provider);
    }
    Ok(HttpResponse::Ok().json(json!({ "object": "list", "data": changed })))
}

/// With shared state, sets the flag in Redis first, where every replica's
/// acquire script reads it; an id no configured key has is left to the
/// pool to refuse.
/// The providers configured with the key whose id is `key_id`, and the
/// key (one key may serve several providers).
pub(super) fn holders(config: &Config, key_id: &str) -> Vec<(String, Secret)> {
    config
        .providers
        .iter()
        .flat_map(|p| {
            p.keys
                .iter()
                .filter(|k| k.id().as_str() == key_id)
                .map(|k| (p.name.clone(), k.clone()))
        })
        .collect()
}

async fn share_disabled(shared: &Shared, key_id: &str, disabled: bool) -> Result<(), ApiError> {
    let Some(state) = &shared.state else {
        return Ok(());
    };
    let holders = shared.with_config(|config| holders(config, key_id));
    for (provider, key) in holders {
        if !state
            .set_disabled(&provider, &state.key_id(&key), disabled)
            .await
        {
            return Err(ApiError::Unavailable(
                "the shared state (Redis) does not answer, so the key was not changed",
            ));
        }
    }
    Ok(())
}

pub(super) fn unknown_key(id: &str) -> ApiError {
    ApiError::KeyNotFound(format!(
        "no key with id `{id}`: see GET /v1/admin/keys for the ids"
    ))
}

fn pool_gone(_: actix::MailboxError) -> ApiError {
    ApiError::Unavailable("the key pool has stopped")
}
