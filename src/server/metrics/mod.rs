//! Prometheus metrics (`GET /metrics`, text format): requests by provider,
//! model and status; upstream attempts by outcome class; keys cooling down
//! or locked per provider; request and upstream latency histograms;
//! requests in flight; route fallovers and sticky sessions
//! ([`routing`]).
//!
//! Labels stay low-cardinality: no key ids, and model names — which clients
//! choose — are capped at [`MAX_MODEL_SERIES`] distinct values, the rest
//! counted as `other`. A model takes a label of its own only with an answer
//! that is not a client error (like the pool's records, see
//! `Outcome::earns_record`): requests for models that do not exist are
//! counted as `other` and cannot use up the labels.
//!
//! Hand-written rather than built on `prometheus-client` because recording
//! is on every request's path and the crate's costs more there: under
//! callgrind, one request's records (a request and one attempt, series
//! already present) take about 1,170 instructions here and 2,780 with
//! `prometheus-client` 0.26 (`Family` keyed by owned label structs: four
//! label allocations, four SipHash lookups behind `RwLock`s, a mutex per
//! histogram, plus the same model-label lock). Its Prometheus text encoder
//! could emit today's names, but lists series in hash order and adds a `.`
//! to every HELP text, and the key gauges would need a custom collector.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::keypool::report::UsageReport;
use crate::shared_state::SharedState;

mod limits;
pub mod routing;

/// Distinct (provider, model) pairs labelled before new ones become
/// `other`: enough for real deployments, bounded against arbitrary names.
pub const MAX_MODEL_SERIES: usize = 500;

/// Histogram buckets in seconds: sub-millisecond proxy overhead up to
/// minute-long completions.
const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    /// Every labelled series, behind one lock: a request takes it once.
    series: Mutex<Series>,
    in_flight: Arc<AtomicI64>,
    pub routing: routing::RoutingMetrics,
}

/// The labelled series. Nested maps (rather than tuple keys) let a request
/// find its counters by `&str`, allocating only for a new label value; they
/// iterate in the same order as the tuples would.
#[derive(Debug, Default)]
struct Series {
    /// provider → model label → status → requests.
    requests: BTreeMap<String, BTreeMap<String, BTreeMap<u16, u64>>>,
    /// provider → class → attempts.
    attempts: BTreeMap<String, BTreeMap<&'static str, u64>>,
    request_seconds: BTreeMap<String, Histogram>,
    upstream_seconds: BTreeMap<String, Histogram>,
    /// provider → models labelled with their own name.
    models_seen: BTreeMap<String, BTreeSet<String>>,
    /// Pairs in `models_seen`.
    models_seen_count: usize,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A key gauge: its name, help and value.
type KeyGauge = (&'static str, &'static str, fn(&KeyCounts) -> usize);

/// One provider's key gauges.
struct KeyCounts {
    /// Escaped for a label.
    provider: String,
    cooling: usize,
    locked: usize,
    keys: usize,
}

/// Counts a request in flight until dropped (a streamed response keeps it
/// until its last byte).
pub struct InFlight(Arc<AtomicI64>);

// === impl Metrics ===

impl Metrics {
    pub fn enter(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(&self.in_flight))
    }

    /// Client requests being served now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// One finished client request. `provider`/`model` are empty for routes
    /// that name none.
    pub fn request(
        &self,
        route: &str,
        provider: &str,
        model: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let Ok(mut series) = self.series.lock() else {
            return;
        };
        let series = &mut *series;
        let model = series.model_label(provider, model, status);
        if let Some(statuses) = slot(&mut series.requests, provider).and_then(|m| slot(m, model)) {
            *statuses.entry(status).or_default() += 1;
        }
        if let Some(histogram) = slot(&mut series.request_seconds, route) {
            histogram.observe(elapsed);
        }
    }

    /// One upstream attempt and how it was judged.
    pub fn attempt(&self, provider: &str, class: &'static str, elapsed: Duration) {
        let Ok(mut series) = self.series.lock() else {
            return;
        };
        let series = &mut *series;
        if let Some(classes) = slot(&mut series.attempts, provider) {
            *classes.entry(class).or_default() += 1;
        }
        if let Some(histogram) = slot(&mut series.upstream_seconds, provider) {
            histogram.observe(elapsed);
        }
    }

    /// The exposition text; key gauges come from the pool's report.
    pub fn render(&self, pool: &UsageReport, now: DateTime<Utc>) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "llm_proxy_requests_total",
            "counter",
            "Client requests by provider, model and status.",
        );
        let guard = self.series.lock().ok();
        let empty = Series::default();
        let series = guard.as_deref().unwrap_or(&empty);
        for (provider, models) in &series.requests {
            for (model, statuses) in models {
                for (status, n) in statuses {
                    let _ = writeln!(
                        out,
                        "llm_proxy_requests_total{{provider=\"{}\",model=\"{}\",status=\"{status}\"}} {n}",
                        escape(provider),
                        escape(model)
                    );
                }
            }
        }
        header(
            &mut out,
            "llm_proxy_upstream_attempts_total",
            "counter",
            "Upstream attempts by provider and outcome class.",
        );
        for (provider, classes) in &series.attempts {
            for (class, n) in classes {
                let _ = writeln!(
                    out,
                    "llm_proxy_upstream_attempts_total{{provider=\"{}\",class=\"{class}\"}} {n}",
                    escape(provider)
                );
            }
        }
        // Each metric's samples follow its own HELP/TYPE lines, as the
        // exposition format requires.
        let counts: Vec<KeyCounts> = pool
            .providers
            .iter()
            .map(|(provider, p)| KeyCounts {
                provider: escape(provider),
                cooling: p
                    .keys
                    .iter()
                    .filter(|k| {
                        k.models
                            .values()
                            .any(|m| m.cooldown_until.is_some_and(|t| t > now))
                    })
                    .count(),
                locked: p
                    .keys
                    .iter()
                    .filter(|k| k.locked_until.is_some_and(|t| t > now))
                    .count(),
                keys: p.keys.len(),
            })
            .collect();
        let gauges: [KeyGauge; 3] = [
            (
                "llm_proxy_keys_cooling",
                "Keys cooling down for at least one model, per provider.",
                |c| c.cooling,
            ),
            (
                "llm_proxy_keys_locked",
                "Keys locked out (rejected by the provider), per provider.",
                |c| c.locked,
            ),
            ("llm_proxy_keys", "Configured keys per provider.", |c| {
                c.keys
            }),
        ];
        for (name, help, value) in gauges {
            header(&mut out, name, "gauge", help);
            for count in &counts {
                let provider = &count.provider;
                let _ = writeln!(out, "{name}{{provider=\"{provider}\"}} {}", value(count));
            }
        }
        limits::render(&mut out, pool);
        header(
            &mut out,
            "llm_proxy_in_flight_requests",
            "gauge",
            "Client requests being served.",
        );
        let _ = writeln!(
            out,
            "llm_proxy_in_flight_requests {}",
            self.in_flight.load(Ordering::Relaxed).max(0)
        );
        histograms(
            &mut out,
            "llm_proxy_request_duration_seconds",
            "route",
            "Time to answer (to the first byte for streams).",
            &series.request_seconds,
        );
        histograms(
            &mut out,
            "llm_proxy_upstream_duration_seconds",
            "provider",
            "Time of one upstream attempt to its answer's head.",
            &series.upstream_seconds,
        );
        self.routing.render(&mut out);
        out
    }
}

// === impl Series ===

impl Series {
    /// `model`, or `other` once [`MAX_MODEL_SERIES`] pairs are labelled, or
    /// when a new model's answer was a client error (`status` 4xx but 429).
    fn model_label<'a>(&mut self, provider: &str, model: &'a str, status: u16) -> &'a str {
        if self
            .models_seen
            .get(provider)
            .is_some_and(|models| models.contains(model))
        {
            return model;
        }
        let client_error = (400..500).contains(&status) && status != 429 && !model.is_empty();
        if self.models_seen_count >= MAX_MODEL_SERIES || client_error {
            return "other";
        }
        if let Some(models) = slot(&mut self.models_seen, provider) {
            models.insert(model.to_string());
            self.models_seen_count += 1;
        }
        model
    }
}

/// The value under `key`, inserted (allocating the key) only when missing.
/// Always `Some`.
fn slot<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> Option<&'m mut V> {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key)
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

// === impl Histogram ===

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bucket, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bucket {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// The shared state's metrics (several replicas, Redis): whether it
/// answers, and its operations by result and time spent.
pub fn render_state(out: &mut String, state: &SharedState) {
    header(
        out,
        "llm_proxy_state_backend_up",
        "gauge",
        "1 while the shared key state (Redis) answers, 0 while degraded.",
    );
    let _ = writeln!(
        out,
        "llm_proxy_state_backend_up {}",
        u8::from(state.is_up())
    );
    let totals = state.op_totals();
    header(
        out,
        "llm_proxy_state_ops_total",
        "counter",
        "Shared key state operations by operation and result.",
    );
    for (op, t) in &totals {
        for (result, n) in [("ok", t.ok), ("timeout", t.timeout), ("error", t.error)] {
            let _ = writeln!(
                out,
                "llm_proxy_state_ops_total{{op=\"{op}\",result=\"{result}\"}} {n}"
            );
        }
    }
    header(
        out,
        "llm_proxy_state_op_duration_seconds",
        "summary",
        "Time spent in shared key state operations.",
    );
    for (op, t) in &totals {
        let count = t.ok + t.timeout + t.error;
        let _ = writeln!(
            out,
            "llm_proxy_state_op_duration_seconds_sum{{op=\"{op}\"}} {}\n\
             llm_proxy_state_op_duration_seconds_count{{op=\"{op}\"}} {count}",
            t.seconds
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn histograms(
    out: &mut String,
    name: &str,
    label: &str,
    help: &str,
    histograms: &BTreeMap<String, Histogram>,
) {
    header(out, name, "histogram", help);
    for (value, h) in histograms {
        let value = escape(value);
        for (bucket, count) in BUCKETS.iter().zip(h.counts.iter()) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{label}=\"{value}\",le=\"{bucket}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{label}=\"{value}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{{label}=\"{value}\"}} {}", h.count);
    }
}

/// Escapes a label value (`\`, `"`, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may read the wall clock
mod tests;
