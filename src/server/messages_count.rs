//! `POST /v1/messages/count_tokens`: Anthropic-API clients (Claude Code)
//! count a request's tokens before they send it, for a model of any
//! provider.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::body::read_json_object;
use super::count::count;
use super::Shared;
use crate::inbound::{AnthropicMessages, InboundApi, ParseEnv};
use crate::worker::UpstreamWorker;

type Worker = web::Data<UpstreamWorker>;

pub async fn count_tokens(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
) -> HttpResponse {
    let counted = async {
        let config = shared.config();
        let limit = config.settings.server.max_body_size;
        let body = read_json_object(req.headers(), payload, limit).await?;
        let env = ParseEnv {
            served: &*config,
            keep: None,
            continued: None,
            now: shared.clock.now(),
        };
        let (openai, ()) = AnthropicMessages::parse(body, &env)?;
        count(&shared, &worker, &openai).await
    };
    match counted.await {
        Ok((tokens, _)) => HttpResponse::Ok().json(json!({"input_tokens": tokens})),
        Err(e) => AnthropicMessages::error(&e),
    }
}
