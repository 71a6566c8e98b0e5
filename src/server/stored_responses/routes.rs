//! The stored responses of the Responses API: `GET /v1/responses/{id}`,
//! `GET /v1/responses/{id}/input_items` and `DELETE /v1/responses/{id}`.
//!
//! They read what the translated path kept (see
//! [`crate::inbound::responses::Keeper`]), through [`StoredResponses`]. A provider that serves the
//! Responses API natively keeps its own responses; the proxy does not
//! fetch them, so their ids are unknown here (404).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::StoredResponses;
use crate::error::ApiError;
use crate::server::Shared;
use crate::store::is_valid_response_id;

/// The most items one `input_items` page holds.
const MAX_PAGE: usize = 100;
/// A page's size when the client names none (as OpenAI's).
const DEFAULT_PAGE: usize = 20;

/// `GET /v1/responses/{id}`: the `response` object as the client got it.
pub async fn retrieve(
    id: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let store = store(&shared)?;
    let record = store
        .get(&id, shared.clock.now())
        .await
        .map_err(unreadable)?
        .ok_or_else(|| not_found(&id))?;
    Ok(HttpResponse::Ok().json(record.response))
}

/// `DELETE /v1/responses/{id}`.
pub async fn delete(
    id: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let store = store(&shared)?;
    // An expired record is gone already: `get` removes it and says so.
    let known = store
        .get(&id, shared.clock.now())
        .await
        .map_err(unreadable)?
        .is_some();
    if !known || !store.delete(&id).await.map_err(unreadable)? {
        return Err(not_found(&id));
    }
    Ok(HttpResponse::Ok().json(json!({ "id": *id, "object": "response", "deleted": true })))
}

/// The query `input_items` takes (OpenAI's `include` is accepted and has
/// nothing to add: items are kept whole).
#[derive(Deserialize)]
struct PageQuery {
    limit: Option<usize>,
    order: Option<String>,
    after: Option<String>,
}

/// `GET /v1/responses/{id}/input_items`: the request's own input items (not
/// those of the responses it continued), newest first unless
/// `order=asc`, `limit` at a time (1–100, default 20), after the item
/// `after`.
pub async fn input_items(
    req: HttpRequest,
    id: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<PageQuery>::from_query(req.query_string())
        .map_err(|e| {
            ApiError::invalid(format!(
                "bad query string: {e}; it takes `limit` (1 to {MAX_PAGE}), `order` (`asc` or \
                 `desc`) and `after` (an item id)"
            ))
        })?
        .into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_param(
            format!("`limit` is {limit}: give a number from 1 to {MAX_PAGE}"),
            "limit",
        ));
    }
    let ascending = match query.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::invalid_param(
                format!("`order` is \"{other}\": use \"asc\" or \"desc\""),
                "order",
            ))
        }
    };
    let store = store(&shared)?;
    let mut items = store
        .input_items(&id, shared.clock.now())
        .await
        .map_err(unreadable)?
        .ok_or_else(|| not_found(&id))?;
    if !ascending {
        items.reverse();
    }
    let start = match &query.after {
        None => 0,
        Some(after) => match items.iter().position(|item| item["id"] == **after) {
            Some(at) => at + 1,
            None => {
                return Err(ApiError::invalid_param(
                    format!(
                        "`after` is \"{after}\", which is not an input item of response '{id}'"
                    ),
                    "after",
                ))
            }
        },
    };
    let page: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    let has_more = start + page.len() < items.len();
    let first_id = page.first().map(|item| item["id"].clone());
    let last_id = page.last().map(|item| item["id"].clone());
    Ok(HttpResponse::Ok().json(json!({
        "object": "list",
        "data": page,
        "first_id": first_id,
        "last_id": last_id,
        "has_more": has_more,
    })))
}

fn store(shared: &Shared) -> Result<&StoredResponses, ApiError> {
    shared
        .responses
        .as_ref()
        .ok_or(ApiError::Unavailable("this proxy keeps no responses"))
}

fn not_found(id: &str) -> ApiError {
    let id = if is_valid_response_id(id) || id.chars().count() <= 64 {
        id.to_string()
    } else {
        // Never echo a long path segment whole.
        id.chars().take(64).collect::<String>() + "…"
    };
    ApiError::ResponseNotFound(format!(
        "Response with id '{id}' not found: it was never stored here (sent with \
         `store: false`, or answered by a provider that keeps its own responses), or it \
         expired or was deleted"
    ))
}

fn unreadable(why: String) -> ApiError {
    log::error!("stored responses cannot be read: {why}");
    ApiError::Unavailable("the stored responses cannot be read")
}
