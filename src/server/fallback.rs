//! A request's walk over its targets: one `provider/model`, or the chain
//! of a route (see [`crate::config::routes`]), each target with the full
//! key rotation of its provider ([`forward`]).
//!
//! When to move on to the next target:
//! - at once, without calling a key, when no key of the target could serve
//!   now (all resting, locked or busy): a later target may have one. Only
//!   when no target could serve now does the request wait, for the target
//!   whose keys come back soonest;
//! - when the target's rotation ends without an answer: rate limits and
//!   quota, transient failures that used up their retries (the "failure
//!   follows the request" 502 too), attempt timeouts, rejected keys.
//!
//! Never on the provider's refusal (400, 404, 413, 422: the client gets it)
//! unless it says the input is too long for the model: then the route's
//! `context_fallback` chain takes the request. Never after a stream's first
//! event went to the client: [`forward`] hands a stream back only then, and
//! nothing after it is retried. One deadline (`proxy.global_timeout`)
//! bounds the whole walk.

use std::time::Duration;

use actix_web::{HttpMessage, HttpRequest};
use tokio::time::Instant;

use super::body::{requested_model, resolve_model, Target};
use super::middleware::RequestSummary;
use super::rotation::{forward, Answer, Forward, Leg, Missed};
use super::sticky::Pin;
use super::Shared;
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::shape::check_model_id;
use crate::reqlog::LogHandle;
use crate::worker::UpstreamWorker;

/// Where a request may go.
pub struct Plan<'c> {
    /// The route the client named, if it named one.
    pub route: Option<&'c str>,
    /// Tried in order; never empty.
    pub targets: Vec<Target<'c>>,
    /// Where a request refused as too long goes next (empty: nowhere).
    pub context: Vec<Target<'c>>,
}

/// What a walk needs besides its plan.
pub struct Walk<'r> {
    pub shared: &'r Shared,
    pub worker: &'r UpstreamWorker,
    pub req: &'r HttpRequest,
    pub log: Option<LogHandle>,
    /// The conversation the request belongs to, with sticky sessions on.
    pub conversation: Option<u64>,
}

/// The answer of the target that answered, with the request it was sent
/// and what the caller prepared with it.
pub struct Answered<'c, T> {
    pub answer: Answer,
    pub request: Forward<'c>,
    pub via: T,
}

/// What a walk learns as it goes.
#[derive(Default)]
struct Progress {
    summary: RequestSummary,
    /// The targets that did not answer and why, in order.
    misses: Vec<(String, ApiError)>,
    /// The latest target tried.
    last: Option<String>,
}

// === impl Plan ===

impl<'c> Plan<'c> {
    /// One target, no route.
    pub fn single(target: Target<'c>) -> Plan<'c> {
        Plan {
            route: None,
            targets: vec![target],
            context: Vec::new(),
        }
    }

    /// The plan for `model`: a route's chains, or the one model it names.
    pub fn of(config: &'c Config, model: &str) -> Result<Plan<'c>, ApiError> {
        let Some((name, route)) = config.routes.get(model) else {
            return resolve_model(config, model).map(Plan::single);
        };
        check_model_id(model)?;
        let resolve = |chain: &[String]| {
            chain
                .iter()
                .map(|target| resolve_model(config, target))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Plan {
            route: Some(name),
            targets: resolve(&route.chain)?,
            context: resolve(&route.context_chain)?,
        })
    }

    /// The plan for the `model` of a client's body.
    pub fn of_body(
        config: &'c Config,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Plan<'c>, ApiError> {
        Plan::of(config, requested_model(body)?)
    }

    /// Every target a request may reach.
    pub fn all(&self) -> impl Iterator<Item = &Target<'c>> {
        self.targets.iter().chain(&self.context)
    }

    /// More than one target: a prepared body is needed more than once.
    pub fn is_chain(&self) -> bool {
        self.targets.len() + self.context.len() > 1
    }
}

// === impl Walk ===

impl Walk<'_> {
    /// Walks `plan`; `prepare` makes the request for one target (or refuses
    /// it: the walk ends with that error). The request's summary and log
    /// are finished here (a stream's log when it ends).
    pub async fn run<'c, T, F>(
        &self,
        config: &'c Config,
        plan: &Plan<'c>,
        mut prepare: F,
    ) -> Result<Answered<'c, T>, ApiError>
    where
        F: FnMut(Target<'c>) -> Result<(Forward<'c>, T), ApiError>,
    {
        let deadline = Instant::now() + config.settings.proxy.global_timeout;
        let mut progress = Progress::default();
        if let (Some(route), Some(log)) = (plan.route, &self.log) {
            log.model_route(route);
        }
        let mut result = self
            .chain(&plan.targets, plan, deadline, &mut progress, &mut prepare)
            .await;
        let too_long = matches!(
            &result,
            Ok(Answered {
                answer: Answer::Refusal { too_long: true, .. },
                ..
            })
        );
        if too_long && !plan.context.is_empty() {
            progress.misses.clear();
            result = self
                .chain(&plan.context, plan, deadline, &mut progress, &mut prepare)
                .await;
        }
        if !progress.summary.provider.is_empty() {
            self.req.extensions_mut().insert(progress.summary);
        }
        if let Some(log) = &self.log {
            // A stream that began logs itself when it ends.
            let status = match &result {
                Ok(Answered {
                    answer: Answer::Stream(_),
                    ..
                }) => None,
                Ok(Answered {
                    answer: Answer::Json { status, .. } | Answer::Refusal { status, .. },
                    ..
                }) => Some(*status),
                Err(e) => Some(actix_web::ResponseError::status_code(e)),
            };
            if let Some(status) = status {
                log.finish(status.as_u16());
            }
        }
        result
    }

    /// Tries `targets`: first each without waiting, then the skipped ones,
    /// soonest back first, waiting.
    async fn chain<'c, T, F>(
        &self,
        targets: &[Target<'c>],
        plan: &Plan<'c>,
        deadline: Instant,
        progress: &mut Progress,
        prepare: &mut F,
    ) -> Result<Answered<'c, T>, ApiError>
    where
        F: FnMut(Target<'c>) -> Result<(Forward<'c>, T), ApiError>,
    {
        let mut skipped: Vec<(usize, Duration)> = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            // The last target waits as a lone target would, unless one
            // before it was skipped: that one may be back sooner.
            let may_wait = i + 1 == targets.len() && skipped.is_empty();
            match self
                .leg(target, may_wait, plan, deadline, progress, prepare)
                .await
            {
                Ok(answered) => return Ok(answered),
                Err(Missed::NotNow { back_in, error }) => {
                    skipped.push((i, back_in));
                    progress.misses.push((target.label(), error));
                }
                Err(Missed::Failed(error)) if falls_over(&error) => {
                    progress.misses.push((target.label(), error));
                }
                Err(Missed::Failed(error)) => return Err(error),
            }
        }
        skipped.sort_by_key(|&(_, back_in)| back_in);
        for (i, _) in skipped {
            let Some(target) = targets.get(i) else {
                continue;
            };
            match self
                .leg(target, true, plan, deadline, progress, prepare)
                .await
            {
                Ok(answered) => return Ok(answered),
                Err(Missed::Failed(error) | Missed::NotNow { error, .. }) if falls_over(&error) => {
                    let label = target.label();
                    progress.misses.retain(|(t, _)| *t != label);
                    progress.misses.push((label, error));
                }
                Err(Missed::Failed(error) | Missed::NotNow { error, .. }) => return Err(error),
            }
        }
        Err(combine(plan.route, std::mem::take(&mut progress.misses)))
    }

    /// One target's rotation.
    async fn leg<'c, T, F>(
        &self,
        target: &Target<'c>,
        may_wait: bool,
        plan: &Plan<'c>,
        deadline: Instant,
        progress: &mut Progress,
        prepare: &mut F,
    ) -> Result<Answered<'c, T>, Missed>
    where
        F: FnMut(Target<'c>) -> Result<(Forward<'c>, T), ApiError>,
    {
        // A lone target (no route) has nowhere to move from.
        if let Some(route) = plan.route {
            let label = target.label();
            if let Some(from) = progress.last.as_ref().filter(|from| **from != label) {
                self.shared.metrics.routing.fallback(route, from, &label);
                log::info!("route {route}: moving from {from} to {label}");
            }
            progress.last = Some(label);
        }
        let provider = target.provider.name.as_str();
        if let Some(log) = &self.log {
            log.target(provider, &target.model);
        }
        let (request, via) = match prepare(target.clone()) {
            Ok(prepared) => prepared,
            Err(error) => {
                if let Some(log) = &self.log {
                    log.target_outcome(&format!("not sent: {error}"));
                }
                return Err(Missed::Failed(error));
            }
        };
        let leg = Leg {
            deadline,
            may_wait,
            summary: &mut progress.summary,
            pin: self
                .conversation
                .map(|c| Pin::new(self.shared, c, provider, &target.model)),
        };
        let result = forward(self.shared, self.worker, &request, leg).await;
        if let Some(log) = &self.log {
            let outcome = match &result {
                Ok(Answer::Refusal { too_long: true, .. }) => "too_long".to_string(),
                Ok(Answer::Refusal { .. }) => "refused".to_string(),
                Ok(Answer::Json { .. } | Answer::Stream(_)) => "answered".to_string(),
                Err(Missed::NotNow { error, .. }) => format!("skipped: {error}"),
                Err(Missed::Failed(error)) => format!("failed: {error}"),
            };
            log.target_outcome(&outcome);
        }
        result.map(|answer| Answered {
            answer,
            request,
            via,
        })
    }
}

/// Whether a target's failure sends the request on to the next target:
/// its keys rest, fail or are rejected. Not the client's own mistakes, nor
/// a passed deadline (it bounds every target) or a stopping proxy.
fn falls_over(error: &ApiError) -> bool {
    match error {
        ApiError::NoAvailableKeys(_)
        | ApiError::KeysResting { .. }
        | ApiError::UpstreamFailed(_)
        | ApiError::RateLimited { .. } => true,
        ApiError::InvalidRequest { .. }
        | ApiError::Unauthorized
        | ApiError::PayloadTooLarge { .. }
        | ApiError::BodyTimeout { .. }
        | ApiError::NotFound { .. }
        | ApiError::ModelNotFound(_)
        | ApiError::ResponseNotFound(_)
        | ApiError::KeyNotFound(_)
        | ApiError::KeyConflict(_)
        | ApiError::KeyFile(_)
        | ApiError::MethodNotAllowed { .. }
        | ApiError::Timeout(_)
        | ApiError::BadUpstreamAnswer(_)
        | ApiError::LoopDetected
        | ApiError::Unavailable(_) => false,
    }
}

/// The error for a walk no target answered. A lone target's error as it
/// is; for a route, one message naming each target's failure, with the
/// status of the target whose keys come back soonest when every target
/// rests (its `Retry-After` is the client's best bet), else of the last.
fn combine(route: Option<&str>, mut misses: Vec<(String, ApiError)>) -> ApiError {
    let Some(route) = route.filter(|_| misses.len() > 1) else {
        return match misses.pop() {
            Some((_, error)) => error,
            None => ApiError::NoAvailableKeys("no target could be tried".into()),
        };
    };
    let message = format!(
        "no target of route `{route}` could answer: {}",
        misses
            .iter()
            .map(|(target, error)| format!("{target}: {error}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let every_rests = misses.iter().all(|(_, e)| retry_after(e).is_some());
    let chosen = if every_rests {
        misses
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, e))| retry_after(e))
            .map_or(0, |(i, _)| i)
    } else {
        misses.len() - 1
    };
    let (_, error) = misses.swap_remove(chosen);
    reworded(error, message)
}

fn retry_after(error: &ApiError) -> Option<Duration> {
    match error {
        ApiError::RateLimited { retry_after, .. } | ApiError::KeysResting { retry_after, .. } => {
            Some(*retry_after)
        }
        _ => None,
    }
}

/// `error` with `message` instead of its own, where it carries one.
fn reworded(error: ApiError, message: String) -> ApiError {
    match error {
        ApiError::NoAvailableKeys(_) => ApiError::NoAvailableKeys(message),
        ApiError::UpstreamFailed(_) => ApiError::UpstreamFailed(message),
        ApiError::Timeout(_) => ApiError::Timeout(message),
        ApiError::RateLimited { retry_after, .. } => ApiError::RateLimited {
            message,
            retry_after,
        },
        ApiError::KeysResting { retry_after, .. } => ApiError::KeysResting {
            message,
            retry_after,
        },
        other => other,
    }
}

#[cfg(test)]
#[path = "fallback_tests.rs"]
mod tests;
