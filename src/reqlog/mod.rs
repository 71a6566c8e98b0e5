//! Request logs (`--enable-request-logging`): one directory per request
//! under the log directory with `request.json`, `response.json` or
//! `stream.jsonl`, and `metadata.json` (timing, every attempt with its
//! masked key and class, usage); plus `failures.jsonl`, one line per failed
//! attempt, rotated at [`FAILURES_MAX_BYTES`].
//!
//! Writing happens on the [`Logger`]'s own thread (an actor), off the
//! request path; a full or read-only disk logs a warning and the proxy
//! carries on. Every secret is redacted before it reaches a file.

mod actor;
mod redact;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use actor::{Logger, MAX_PENDING};
pub use redact::{Redactor, SECRET_HEADERS};

/// `failures.jsonl` is moved to `failures.jsonl.1` past this size.
pub const FAILURES_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Stream events kept per logged request; the rest are counted, not kept.
const MAX_LOGGED_EVENTS: usize = 10_000;

/// What one request did, filled in while it runs.
#[derive(Debug, Default, Serialize)]
pub struct RequestLog {
    pub id: String,
    pub started: Option<DateTime<Utc>>,
    pub route: String,
    pub provider: String,
    pub model: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub request: Value,
    #[serde(skip)]
    pub response: Option<Vec<u8>>,
    #[serde(skip)]
    pub events: Vec<String>,
    pub events_dropped: usize,
    pub attempts: Vec<AttemptLog>,
    /// The route the client named, when it named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_route: Option<String>,
    /// Every target tried, in order, and how each ended.
    pub targets: Vec<TargetLog>,
    pub status: Option<u16>,
    pub duration_ms: Option<f64>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AttemptLog {
    pub key: String,
    pub class: String,
    pub why: String,
    pub elapsed_ms: f64,
}

/// One target a request tried: `provider/model` and how it ended
/// (`answered`, `too_long`, `skipped: …`, `failed: …`).
#[derive(Clone, Debug, Serialize)]
pub struct TargetLog {
    pub target: String,
    pub outcome: String,
}

/// A request's log, shared by the pieces of the request path that add to
/// it; written when the request (or its stream) ends — or, if it is dropped
/// unfinished (the client went away), with status 499.
#[derive(Clone)]
pub struct LogHandle(Arc<Shared>);

struct Shared {
    /// `None` once written.
    log: Mutex<Option<RequestLog>>,
    logger: Logger,
    started: Instant,
}

/// Status written for a request whose client went away (nginx's
/// convention).
pub const CLIENT_CLOSED: u16 = 499;

// === impl LogHandle ===

impl LogHandle {
    // The log's timestamps are for people reading it, not key state; the
    // injected clock is not threaded this far.
    #[allow(clippy::disallowed_methods)]
    pub fn new(
        logger: Logger,
        id: &str,
        route: &str,
        headers: Vec<(String, String)>,
        request: Value,
    ) -> LogHandle {
        let log = RequestLog {
            id: id.to_string(),
            started: Some(Utc::now()),
            route: route.to_string(),
            headers,
            request,
            ..RequestLog::default()
        };
        LogHandle(Arc::new(Shared {
            log: Mutex::new(Some(log)),
            logger,
            started: Instant::now(),
        }))
    }

    fn with(&self, f: impl FnOnce(&mut RequestLog)) {
        if let Ok(mut log) = self.0.log.lock() {
            if let Some(log) = log.as_mut() {
                f(log);
            }
        }
    }

    /// The route the client named.
    pub fn model_route(&self, route: &str) {
        self.with(|l| l.model_route = Some(route.to_string()));
    }

    /// The request goes to `provider`/`model` now.
    pub fn target(&self, provider: &str, model: &str) {
        self.with(|l| {
            l.provider = provider.to_string();
            l.model = model.to_string();
            l.targets.push(TargetLog {
                target: format!("{provider}/{model}"),
                outcome: String::new(),
            });
        });
    }

    /// How the latest target ended.
    pub fn target_outcome(&self, outcome: &str) {
        self.with(|l| {
            if let Some(target) = l.targets.last_mut() {
                target.outcome = outcome.to_string();
            }
        });
    }

    /// One attempt; failed ones also go to `failures.jsonl`.
    // A log line's timestamp, as in `new`.
    #[allow(clippy::disallowed_methods)]
    pub fn attempt(&self, key: &str, class: &str, why: &str, elapsed_ms: f64) {
        let attempt = AttemptLog {
            key: key.to_string(),
            class: class.to_string(),
            why: why.to_string(),
            elapsed_ms,
        };
        if class != "success" && class != "client_error" {
            let mut line = Value::Null;
            self.with(|l| {
                line = serde_json::json!({
                    "time": Utc::now(), "request_id": l.id, "provider": l.provider, "model": l.model,
                    "key": key, "attempt": l.attempts.len() + 1, "class": class, "why": why,
                });
            });
            self.0.logger.failure(line);
        }
        self.with(|l| l.attempts.push(attempt));
    }

    pub fn response(&self, body: &[u8]) {
        self.with(|l| l.response = Some(body.to_vec()));
    }

    pub fn event(&self, data: &str) {
        self.with(|l| {
            if l.events.len() < MAX_LOGGED_EVENTS {
                l.events.push(data.to_string());
            } else {
                l.events_dropped += 1;
            }
        });
    }

    pub fn usage(&self, prompt_tokens: u64, completion_tokens: u64) {
        self.with(|l| {
            l.prompt_tokens = Some(prompt_tokens);
            l.completion_tokens = Some(completion_tokens);
        });
    }

    /// Ends the log and hands it to the writer; later calls do nothing.
    pub fn finish(&self, status: u16) {
        self.0.finish(status);
    }
}

impl Shared {
    fn finish(&self, status: u16) {
        let taken = match self.log.lock() {
            Ok(mut log) => log.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(mut log) = taken {
            log.status = Some(status);
            log.duration_ms = Some(self.started.elapsed().as_secs_f64() * 1000.0);
            self.logger.write(log);
        }
    }
}

impl Drop for Shared {
    /// The last holder let go without finishing: the request was dropped
    /// (its client disconnected).
    fn drop(&mut self) {
        self.finish(CLIENT_CLOSED);
    }
}
