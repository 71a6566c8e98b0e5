//! `/v1/admin/keys`: the pool's keys, masked, and disabling or enabling
//! one at runtime. Every change is logged at info with the masked key; no
//! answer ever holds a raw key.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::Shared;
use crate::error::ApiError;
use crate::keypool::{ListKeys, SetDisabled};

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

pub(super) fn unknown_key(id: &str) -> ApiError {
    ApiError::KeyNotFound(format!(
        "no key with id `{id}`: see GET /v1/admin/keys for the ids"
    ))
}

fn pool_gone(_: actix::MailboxError) -> ApiError {
    ApiError::Unavailable("the key pool has stopped")
}
